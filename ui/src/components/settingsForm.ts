import type { ProviderKind } from "../bindings/ProviderKind";
// The Settings page's form: what the operator is typing (numbers as text, the code lifetime in
// a unit of their choice) and the draft `Settings` it stands for, with what the browser alone
// can tell is wrong. Range checks are the backend's (`check_settings`).
import type { ProviderSettings } from "../bindings/ProviderSettings";
import type { Settings } from "../bindings/Settings";
import type { SettingsProblem } from "../bindings/SettingsProblem";

export type LifetimeUnit = "seconds" | "minutes";

export type ProviderNumber = "failure_threshold" | "open_secs" | "rate_per_second" | "cost_usd";

export const PROVIDER_NUMBERS: ProviderNumber[] = ["failure_threshold", "open_secs", "rate_per_second", "cost_usd"];

/** How each number is named next to a provider's name: "Twilio failure threshold". */
export const PROVIDER_NUMBER_LABEL: Record<ProviderNumber, string> = {
  failure_threshold: "failure threshold",
  open_secs: "cool-down seconds",
  rate_per_second: "rate per second",
  cost_usd: "cost per message USD",
};

/** u32 and u64 on the Rust side: a fraction or a negative number would not even arrive. */
const WHOLE: Record<ProviderNumber, boolean> = {
  failure_threshold: true,
  open_secs: true,
  rate_per_second: false,
  cost_usd: false,
};
const U32_MAX = 4_294_967_295;

export interface ProviderForm {
  id: ProviderKind;
  display_name: string;
  channel: ProviderSettings["channel"];
  numbers: Record<ProviderNumber, string>;
}

export interface SettingsForm {
  follow: string[];
  lifetime: string;
  unit: LifetimeUnit;
  patterns: string[];
  /** `auto`, `local`, `UTC` or an IANA name, as typed. */
  timezone: string;
  codeLength: string;
  providers: ProviderForm[];
}

export const lifetimeField = "logs.code_lifetime_secs";
export const timezoneField = "logs.timezone";
export const codeLengthField = "logs.code_length";
export const followField = (i: number) => `logs.follow.${i}`;
export const patternField = (i: number) => `logs.patterns.${i}`;
export const providerField = (id: string, n: ProviderNumber) => `providers.${id}.${n}`;

export function toForm(s: Settings): SettingsForm {
  const secs = s.logs.code_lifetime_secs;
  const minutes = secs > 0 && secs % 60 === 0;
  return {
    follow: [...s.logs.follow],
    lifetime: String(minutes ? secs / 60 : secs),
    unit: minutes ? "minutes" : "seconds",
    patterns: [...s.logs.patterns],
    timezone: s.logs.timezone,
    codeLength: String(s.logs.code_length),
    providers: s.providers.map((p) => ({
      id: p.id,
      display_name: p.display_name,
      channel: p.channel,
      numbers: Object.fromEntries(PROVIDER_NUMBERS.map((n) => [n, String(p[n])])) as Record<ProviderNumber, string>,
    })),
  };
}

/** The lifetime text re-expressed in another unit, so switching units keeps the duration. */
export function convertLifetime(text: string, from: LifetimeUnit, to: LifetimeUnit): string {
  const v = Number(text.trim());
  if (from === to || text.trim() === "" || !Number.isFinite(v)) return text;
  return String(to === "minutes" ? Math.round((v / 60) * 100) / 100 : Math.round(v * 60));
}

type Parsed = { value: number } | { message: string };

function parseNumber(text: string, whole: boolean, max = Number.MAX_SAFE_INTEGER): Parsed {
  const t = text.trim();
  if (t === "") return { message: "Enter a number." };
  const v = Number(t);
  if (!Number.isFinite(v)) return { message: `“${t}” is not a number.` };
  if (whole && !Number.isInteger(v)) return { message: "Enter a whole number." };
  if (whole && v < 0) return { message: "Enter 0 or more." };
  if (whole && v > max) return { message: `Enter ${max.toLocaleString("en-US")} or less.` };
  return { value: v };
}

/** Seconds from the lifetime as typed (minutes may have a fraction: 1.5 minutes is 90 s). */
function parseLifetime(text: string, unit: LifetimeUnit): Parsed {
  const p = parseNumber(text, unit === "seconds");
  if (!("value" in p) || unit === "seconds") return p;
  const secs = Math.round(p.value * 60);
  return secs < 0 ? { message: "Enter 0 or more." } : { value: secs };
}

export function lifetimeSeconds(form: SettingsForm): number | null {
  const p = parseLifetime(form.lifetime, form.unit);
  return "value" in p ? p.value : null;
}

/**
 * The draft the form stands for, and what the browser can tell is wrong with it. A field that
 * does not parse keeps the value in force, so the draft sent for checking is always whole.
 */
export function fromForm(form: SettingsForm, inForce: Settings): { draft: Settings; problems: SettingsProblem[] } {
  const problems: SettingsProblem[] = [];
  const take = (field: string, parsed: Parsed, fallback: number) => {
    if ("value" in parsed) return parsed.value;
    problems.push({ field, severity: "error", message: parsed.message });
    return fallback;
  };
  const draft: Settings = {
    logs: {
      follow: [...form.follow],
      code_lifetime_secs: take(lifetimeField, parseLifetime(form.lifetime, form.unit), inForce.logs.code_lifetime_secs),
      patterns: [...form.patterns],
      timezone: form.timezone.trim(),
      code_length: take(codeLengthField, parseNumber(form.codeLength, true, U32_MAX), inForce.logs.code_length),
    },
    providers: form.providers.map((p) => {
      const current = inForce.providers.find((c) => c.id === p.id);
      const out: ProviderSettings = {
        id: p.id,
        display_name: p.display_name,
        channel: p.channel,
        failure_threshold: 0,
        open_secs: 0,
        rate_per_second: 0,
        cost_usd: 0,
      };
      for (const n of PROVIDER_NUMBERS) {
        const max = n === "failure_threshold" ? U32_MAX : undefined;
        out[n] = take(providerField(p.id, n), parseNumber(p.numbers[n], WHOLE[n], max), current?.[n] ?? 0);
      }
      return out;
    }),
  };
  return { draft, problems };
}

/** What the operator calls a field: "Log file 2", "Twilio cool-down seconds". */
export function fieldLabel(field: string, settings: Settings): string {
  const parts = field.split(".");
  if (field === lifetimeField) return "Code lifetime";
  if (field === timezoneField) return "Log time zone";
  if (field === codeLengthField) return "Code length";
  if (parts[0] === "logs" && parts[1] === "follow") return `Log file ${Number(parts[2]) + 1}`;
  if (parts[0] === "logs" && parts[1] === "patterns") return `Code pattern ${Number(parts[2]) + 1}`;
  if (parts[0] === "providers") {
    const p = settings.providers.find((x) => x.id === parts[1]);
    const name = p?.display_name ?? parts[1];
    const n = parts[2] as ProviderNumber | undefined;
    return n && n in PROVIDER_NUMBER_LABEL ? `${name} ${PROVIDER_NUMBER_LABEL[n]}` : name;
  }
  return field;
}
