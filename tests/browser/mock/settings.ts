// The fake operator settings, checked with a few of the rules of crates/settings (check()).
import type { HealthSnapshot } from "../../../ui/src/bindings/HealthSnapshot";
import type { Settings } from "../../../ui/src/bindings/Settings";
import type { SettingsProblem } from "../../../ui/src/bindings/SettingsProblem";

/** Files the fake machine has: any other absolute path "does not exist yet". */
const EXISTING = new Set(["/srv/backend/logs/app.log", "/srv/backend/logs/worker.log"]);

/** The settings in force, read from the providers on the dashboard. */
export function settingsFrom(health: HealthSnapshot, follow: string[]): Settings {
  return {
    logs: { follow: [...follow], code_lifetime_secs: 600, patterns: [], timezone: "auto", code_length: 6 },
    providers: [...health.sms_providers, ...health.email_providers].map((p) => ({
      id: p.id,
      display_name: p.display_name,
      channel: p.channel,
      failure_threshold: p.failure_threshold,
      open_secs: 300,
      rate_per_second: p.rate_per_second,
      cost_usd: p.cost_per_message_usd,
    })),
  };
}

/** `auto`, `local`, `UTC`, or a zone the browser knows by that name (chrono-tz in the backend). */
function knownZone(name: string): boolean {
  if (["auto", "local", "UTC"].includes(name)) return true;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: name });
    return true;
  } catch {
    return false;
  }
}

export function checkSettings(s: Settings): SettingsProblem[] {
  const errors: SettingsProblem[] = [];
  const warnings: SettingsProblem[] = [];
  const error = (field: string, message: string) => errors.push({ field, severity: "error", message });
  s.logs.follow.forEach((file, i) => {
    const field = `logs.follow.${i}`;
    if (file.trim() === "") error(field, "enter the path of a log file, or remove the row");
    else if (!file.startsWith("/")) error(field, `\`${file}\` is relative: give the full path, like /var/log/app/backend.log`);
    else if (!EXISTING.has(file.trim()))
      warnings.push({ field, severity: "warning", message: "does not exist yet: msgops will read it from its first line once it appears" });
  });
  const lifetime = s.logs.code_lifetime_secs;
  if (lifetime === 0 || lifetime > 86_400) error("logs.code_lifetime_secs", `must be between 1 second and 86400 (24 hours), not ${lifetime}`);
  if (!knownZone(s.logs.timezone)) error("logs.timezone", `unknown time zone \`${s.logs.timezone}\`: use auto, local, UTC or an IANA name like America/Toronto`);
  const length = s.logs.code_length;
  if (length < 4 || length > 10) error("logs.code_length", `must be between 4 and 10 digits, not ${length}`);
  s.logs.patterns.forEach((pattern, i) => {
    if (!pattern.includes("(?P<code>")) error(`logs.patterns.${i}`, "the pattern needs a named group (?P<code>...)");
  });
  for (const p of s.providers) {
    if (p.failure_threshold > 1_000) error(`providers.${p.id}.failure_threshold`, "must be 1000 or less (0 means the breaker never opens)");
    if (p.rate_per_second < 0 || p.rate_per_second > 10_000) error(`providers.${p.id}.rate_per_second`, "must be between 0 (unlimited) and 10000 per second");
    if (p.cost_usd < 0 || p.cost_usd > 10) error(`providers.${p.id}.cost_usd`, "must be between 0 and 10 USD per message");
  }
  return [...errors, ...warnings];
}

/** What saving changes on the dashboard: each provider's threshold, rate and cost. */
export function applySettings(s: Settings, health: HealthSnapshot) {
  for (const p of [...health.sms_providers, ...health.email_providers]) {
    const saved = s.providers.find((x) => x.id === p.id);
    if (!saved) continue;
    p.failure_threshold = saved.failure_threshold;
    p.rate_per_second = saved.rate_per_second;
    p.rate_available = saved.rate_per_second > 0 ? saved.rate_per_second : null;
    p.cost_per_message_usd = saved.cost_usd;
  }
}
