// The fake backend's starting data, shaped by the UI's own bindings. Every "secret" here is
// made up and says EXAMPLE; none has the form of a real AWS or SendGrid key.
import type { AppStatus } from "../../../ui/src/bindings/AppStatus";
import type { CredentialAuditEntry } from "../../../ui/src/bindings/CredentialAuditEntry";
import type { DeliveryEvent } from "../../../ui/src/bindings/DeliveryEvent";
import type { DeliveryRates } from "../../../ui/src/bindings/DeliveryRates";
import type { FallbackCode } from "../../../ui/src/bindings/FallbackCode";
import type { ChainHealth } from "../../../ui/src/bindings/ChainHealth";
import type { HealthSnapshot } from "../../../ui/src/bindings/HealthSnapshot";
import type { ImportPreview } from "../../../ui/src/bindings/ImportPreview";
import type { KeychainHealth } from "../../../ui/src/bindings/KeychainHealth";
import type { LogClockInfo } from "../../../ui/src/bindings/LogClockInfo";
import type { LogEvent } from "../../../ui/src/bindings/LogEvent";
import type { ProviderHealth } from "../../../ui/src/bindings/ProviderHealth";
import type { ProviderTimeline } from "../../../ui/src/bindings/ProviderTimeline";
import type { ProviderTimelines } from "../../../ui/src/bindings/ProviderTimelines";
import type { SecretKind } from "../../../ui/src/bindings/SecretKind";
import type { StateSpan } from "../../../ui/src/bindings/StateSpan";
import type { StoredSend } from "./history";

export const BACKEND_LOG = "/srv/backend/logs/app.log";
/** The Console provider's own log, which msgops follows with no configuration. */
export const CONSOLE_LOG = "/home/ops/.local/share/msgops/console-sms.log";
/** The code every test send carries, so a test can type or paste it back. */
export const TEST_SEND_CODE = "091282";
/** The old code the Codes test searches for by its last four digits. */
export const OLD_RECIPIENT = "+44 20 7946 0958";
/**
 * The third newest code went to one of two requests waiting at once, and the log cannot tell
 * which: each number's last four digits ("0198", "0289") find it and nothing else.
 */
export const UNCERTAIN_CANDIDATES = ["+1 416 555 0198", "+1 647 555 0289"];

const iso = (ms: number) => new Date(ms).toISOString();

/**
 * A naive local time, as the log writes it ("2025-10-29T16:34:53.202"): the fake backend logs
 * in this computer's zone. Codes carry it as `logged_at`; their instants are `iso`.
 */
export function localTime(ms: number): string {
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function provider(fields: Partial<ProviderHealth> & Pick<ProviderHealth, "id" | "name" | "display_name" | "channel" | "priority">): ProviderHealth {
  return {
    is_healthy: true,
    enabled: true,
    configured: true,
    breaker_state: "CLOSED",
    consecutive_failures: 0,
    failure_threshold: 3,
    open_until: null,
    open_remaining_ms: null,
    last_error: null,
    last_probe: { ok: true, error_kind: null, message: null, at: iso(Date.now() - 20_000) },
    sent: 0,
    failed: 0,
    cost_usd: 0,
    cost_per_message_usd: 0,
    rate_per_second: 0,
    rate_available: null,
    ...fields,
  };
}

/**
 * Each chain's status from its providers, as `ChainHealth::of` in crates/core/src/health.rs:
 * healthy when a provider before the last resort can deliver, degraded when only the last
 * resort can, down when none can, unconfigured when only the Console has what it needs.
 */
export function chainHealth(providers: ProviderHealth[]): ChainHealth {
  const can = (p: ProviderHealth) => p.is_healthy && !p.throttled_until;
  const why = (ps: ProviderHealth[]) =>
    ps
      .filter((p) => !can(p))
      .map((p) => `${p.display_name}: ${!p.configured ? "not configured" : !p.enabled ? "disabled" : p.breaker_state === "OPEN" ? "breaker open" : "unavailable"}`)
      .join("; ");
  const before = providers.slice(0, -1);
  const last = providers[providers.length - 1];
  const can_deliver = providers.filter(can).map((p) => p.id);
  if (!providers.some((p) => p.configured && p.id !== "console")) {
    return { status: "unconfigured", reason: "no provider with credentials is set up", can_deliver };
  }
  if (before.some(can)) {
    return { status: "healthy", reason: `can deliver through ${before.filter(can).map((p) => p.display_name).join(", ")}`, can_deliver };
  }
  if (last && can(last)) return { status: "degraded", reason: `only ${last.display_name} can deliver (${why(before)})`, can_deliver };
  return { status: "down", reason: `no provider can deliver (${why(providers)})`, can_deliver };
}

/** The snapshot with its chains' status worked out again from its providers. */
export function withChains(h: Pick<HealthSnapshot, "sms_providers" | "email_providers" | "delivery">): HealthSnapshot {
  const chains = { sms: chainHealth(h.sms_providers), email: chainHealth(h.email_providers) };
  const fails = (s: ChainHealth["status"]) => s === "degraded" || s === "down";
  return { ...h, chains, ok: !fails(chains.sms.status) && !fails(chains.email.status) };
}

export function health(): HealthSnapshot {
  const now = Date.now();
  return withChains({
    sms_providers: [
      provider({ id: "sns", name: "AWSSNSProvider", display_name: "AWS SNS", channel: "sms", priority: "PRIMARY", sent: 1204, failed: 3, cost_usd: 7.82, cost_per_message_usd: 0.00645, rate_per_second: 20, rate_available: 20 }),
      provider({ id: "twilio", name: "TwilioSMSProvider", display_name: "Twilio", channel: "sms", priority: "SECONDARY", sent: 96, failed: 1, cost_usd: 0.76, cost_per_message_usd: 0.0079, rate_per_second: 10, rate_available: 10 }),
      provider({ id: "console", name: "ConsoleSMSProvider", display_name: "Console", channel: "sms", priority: "FALLBACK", failure_threshold: 0, last_probe: null, sent: 12 }),
    ],
    email_providers: [
      provider({ id: "ses", name: "AWSSESProvider", display_name: "AWS SES", channel: "email", priority: "PRIMARY", sent: 311, cost_usd: 0.03, cost_per_message_usd: 0.0001, rate_per_second: 14, rate_available: 14 }),
      provider({
        id: "sendgrid",
        name: "SendGridEmailProvider",
        display_name: "SendGrid",
        channel: "email",
        priority: "SECONDARY",
        is_healthy: false,
        breaker_state: "OPEN",
        consecutive_failures: 3,
        open_until: iso(now + 240_000),
        open_remaining_ms: 240_000,
        last_error: { kind: "authentication", message: "HTTP 401: The provided authorization grant is invalid, expired, or revoked", provider_code: null, at: iso(now - 60_000) },
        last_probe: { ok: false, error_kind: "authentication", message: "HTTP 401", at: iso(now - 30_000) },
        failed: 3,
      }),
      provider({ id: "smtp", name: "SMTPEmailProvider", display_name: "SMTP", channel: "email", priority: "FALLBACK", is_healthy: false, configured: false, last_probe: null }),
    ],
    delivery: deliveryRates(),
  });
}

/**
 * A first start: no key in the keychain, so every provider but the Console is not configured,
 * and nothing was sent yet.
 */
export function freshHealth(): HealthSnapshot {
  const blank = (p: ProviderHealth): ProviderHealth => ({
    ...p,
    configured: p.id === "console",
    is_healthy: p.id === "console",
    breaker_state: "CLOSED",
    consecutive_failures: 0,
    open_until: null,
    open_remaining_ms: null,
    last_error: null,
    last_probe: null,
    sent: 0,
    failed: 0,
    cost_usd: 0,
  });
  const h = health();
  return withChains({ sms_providers: h.sms_providers.map(blank), email_providers: h.email_providers.map(blank), delivery: { window_secs: 3600, providers: [] } });
}

/**
 * Each provider's delivered share over the last hour, in chain order: SNS, Twilio and SES
 * reported; the Console, SendGrid and SMTP did not (no row, nothing on their cards).
 */
export function deliveryRates(): DeliveryRates {
  return {
    window_secs: 3600,
    providers: [
      { provider: "sns", delivered: 41, failed: 1, pending: 2, rate: 41 / 42 },
      { provider: "twilio", delivered: 23, failed: 2, pending: 1, rate: 23 / 25 },
      { provider: "ses", delivered: 57, failed: 0, pending: 3, rate: 1 },
    ],
  };
}

/** What the fixture's carrier said about the Twilio message: 30003, the phone is unreachable. */
export const TWILIO_UNDELIVERED_CODE = "30003";

/**
 * The providers' reports about two of the seeded sends: the newest delivered by Twilio was
 * then undelivered (30003, its last callback sent twice, as Twilio retries), and the newest
 * delivered by SES reached the mailbox. Every other send has no report.
 */
export function deliveries(sends: StoredSend[]): DeliveryEvent[] {
  const newest = (provider: string) =>
    [...sends].reverse().find((r) => r.outcome.status === "delivered" && r.outcome.provider === provider && r.outcome.attempts.some((a) => a.provider_message_id));
  const acceptedAt = (r: StoredSend) => Date.parse(r.started_at) + r.duration_ms;
  const receipt = (r: StoredSend, provider: string) => r.outcome.attempts.find((a) => a.provider === provider && a.outcome === "delivered")?.provider_message_id ?? "";
  const events: DeliveryEvent[] = [];
  const twilio = newest("twilio");
  if (twilio) {
    const sid = receipt(twilio, "twilio");
    const at = acceptedAt(twilio);
    const callback = (status: DeliveryEvent["status"], after: number, error_code: string | null = null): DeliveryEvent => ({
      provider: "twilio",
      provider_message_id: sid,
      status,
      error_code,
      detail: null,
      recipient: twilio.recipient,
      occurred_at: iso(at + after),
      received_at: iso(at + after + 150),
      source: "twilio_webhook",
      event_id: `${sid}:${status}:${error_code ?? ""}`,
    });
    events.push(callback("queued", 200), callback("sent", 1_400), callback("undelivered", 9_000, TWILIO_UNDELIVERED_CODE), callback("undelivered", 9_000, TWILIO_UNDELIVERED_CODE));
  }
  const ses = newest("ses");
  if (ses) {
    const id = receipt(ses, "ses");
    const at = acceptedAt(ses);
    const record = (status: DeliveryEvent["status"], after: number, n: number, detail: string | null): DeliveryEvent => ({
      provider: "ses",
      provider_message_id: id,
      status,
      error_code: null,
      detail,
      recipient: ses.recipient,
      occurred_at: iso(at + after),
      received_at: iso(at + after + 900),
      source: "sns_webhook",
      event_id: `5e0f7a1c-0000-4000-8000-00000000000${n}`,
    });
    events.push(record("accepted", 100, 1, null), record("delivered", 2_300, 2, "250 2.0.0 OK QUEUED"));
  }
  return events;
}

export const appStatus = (): AppStatus => ({
  version: "0.1.0",
  config_path: "/home/ops/.config/msgops/config.toml",
  config_error: null,
  console_log: CONSOLE_LOG,
});

export const keychainHealth = (): KeychainHealth => ({
  ok: true,
  store: "Secret Service (OS keyring)",
  code: null,
  message: "Secrets can be stored, read back and deleted.",
});

/**
 * `n` codes, oldest first, one every two seconds up to 30 seconds ago: only the newest 285 or
 * so are still valid. Recipients use the digits 0-7 only, except the 8th code's, so its last
 * four digits ("0958") find exactly one row, and the third newest's candidates. The fifth
 * newest had no timestamp on its line: its time is the last one before it, approximate.
 */
export function codes(n: number): FallbackCode[] {
  const newest = Date.now() - 30_000;
  return Array.from({ length: n }, (_, i) => {
    const created = newest - (n - 1 - i) * 2_000;
    const digits = i.toString(8).padStart(7, "0");
    const uncertain = n >= 3 && i === n - 3;
    const recipient = uncertain ? null : i === 7 ? OLD_RECIPIENT : i % 5 === 4 ? `user${digits}@example.com` : `+1416${digits}`;
    return {
      recipient,
      candidates: uncertain ? [...UNCERTAIN_CANDIDATES] : [],
      code: String((i * 7919 + 123_457) % 1_000_000).padStart(6, "0"),
      logged_at: localTime(created),
      created_at: iso(created),
      expires_at: iso(created + 600_000),
      time: n >= 5 && i === n - 5 ? "approximate" : "logged",
      expired: created + 600_000 <= Date.now(),
      source: i % 5 === 4 ? "console" : "sms_fallback",
      file: BACKEND_LOG,
      line: 2 * i + 2,
    };
  });
}

/** "UTC−05:00" for this computer's offset now, as the log watcher names an inferred zone. */
function offsetName(date: Date): string {
  const minutes = -date.getTimezoneOffset();
  if (minutes === 0) return "UTC";
  const a = Math.abs(minutes);
  const hhmm = `${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
  return `UTC${minutes < 0 ? "\u2212" : "+"}${hhmm}`;
}

/** The backend log's clock, inferred from its newest line and the file's modification time. */
export function clocks(): LogClockInfo[] {
  const newest = new Date(Date.now() - 30_000);
  const hm = (h: number, m: number) => `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}`;
  return [
    {
      file: BACKEND_LOG,
      zone: offsetName(newest),
      basis: "inferred",
      reason: `newest line ${hm(newest.getHours(), newest.getMinutes())} vs file modified ${hm(newest.getUTCHours(), newest.getUTCMinutes())} UTC`,
    },
  ];
}

export function diagnostics(): LogEvent[] {
  const ts = localTime(Date.now() - 120_000);
  return [
    { kind: "follower_status", file: BACKEND_LOG, state: "following", message: "" },
    { kind: "backend_start", provider: "AWS SNS", role: "PRIMARY", channel: "SMS", ts, file: BACKEND_LOG, line: 1 },
    {
      kind: "provider_error",
      provider: "twilio",
      status: 401,
      provider_code: "20003",
      level: "ERROR",
      message: "Unable to create record: Authenticate",
      ts,
      detail: [],
      file: BACKEND_LOG,
      line: 5,
    },
  ];
}

/** What the keychain holds at start. Values are fake and at least 16 characters, so the mask shows their last four. */
export const secrets = (): Partial<Record<SecretKind, string>> => ({
  aws_access_key_id: "EXAMPLEACCESSKEY0001",
  aws_secret_access_key: "EXAMPLE/secret/access/key/for/tests/0001",
  twilio_account_sid: "ACEXAMPLE00000000000000000000001",
  smtp_password: "EXAMPLE-smtp-password-01",
});

/** The .env a test imports: one secret already stored, one new. */
export const envFile = { sendgrid_api_key: "EXAMPLE-sendgrid-api-key-0000000001" } as const;

export function importPreview(path: string, mask: (v: string) => string, stored: Partial<Record<SecretKind, string>>): ImportPreview {
  return {
    file: path,
    secrets: [
      { kind: "aws_access_key_id", provider: "aws", env_var: "AWS_ACCESS_KEY_ID", line: 3, masked: mask(stored.aws_access_key_id ?? ""), keychain: "identical" },
      { kind: "sendgrid_api_key", provider: "sendgrid", env_var: "SENDGRID_API_KEY", line: 7, masked: mask(envFile.sendgrid_api_key), keychain: "missing" },
    ],
    settings: [{ kind: "aws_region", env_var: "AWS_REGION", line: 2, value: "ca-central-1" }],
    imported_settings: { aws_region: "ca-central-1", twilio_phone_number: null, smtp_host: null, smtp_port: null, smtp_user: null, smtp_from: null },
    blank: [],
    duplicates: [],
    unknown: [{ line: 9, name: "DATABASE_URL" }],
    malformed: [{ line: 11, name: null, reason: "no '=' on this line" }],
    keychain_error: null,
  };
}

export function audit(): CredentialAuditEntry[] {
  return [
    { timestamp: iso(Date.now() - 86_400_000), provider: "aws", action: "import", outcome: "success", message: "stored aws_access_key_id, aws_secret_access_key from /srv/backend/.env", actor: { via: "cli", user: "deploy", host: "backend-1" } },
    { timestamp: iso(Date.now() - 3_600_000), provider: "twilio", action: "validation_failed", outcome: "failure", message: "HTTP 401, Twilio error 20003: Authenticate", actor: null },
  ];
}

/**
 * The certificate fingerprint every fake `msgops serve` presents (made up, as
 * `msgops serve --tls-self-signed` prints one: upper-case hex pairs joined by colons).
 */
export const SERVICE_FINGERPRINT = "3F:A1:9C:07:5B:E2:44:D0:8A:61:C3:9F:12:7E:B5:0D:96:2C:48:F3:AE:71:05:BB:D9:34:6A:E8:1F:C0:52:7D";

/**
 * The remote service's health: other counters than this computer's, and its SendGrid is
 * fine (here it is OPEN), so a test sees which side the dashboard shows.
 */
export function remoteHealth(): HealthSnapshot {
  const h = health();
  for (const p of [...h.sms_providers, ...h.email_providers]) p.sent = p.sent * 10 + 7;
  const sendgrid = h.email_providers.find((p) => p.id === "sendgrid");
  if (sendgrid) {
    Object.assign(sendgrid, {
      is_healthy: true,
      breaker_state: "CLOSED",
      consecutive_failures: 0,
      open_until: null,
      open_remaining_ms: null,
      last_error: null,
      last_probe: { ok: true, error_kind: null, message: null, at: iso(Date.now() - 10_000) },
      failed: 0,
    });
  }
  return withChains(h);
}

/** The remote service's codes, as the app lists them: their "file" is the connection's name. */
export function remoteCodes(connection: string, n: number): FallbackCode[] {
  return codes(n).map((c, i) => ({ ...c, file: connection, line: i + 1 }));
}

/**
 * The providers' states over the last `hours` hours, as the history keeps them: SNS OPEN for
 * 40 minutes two hours ago (12 sends failed over to Twilio), half-open, then closed again;
 * SendGrid disabled for the last hour; the others closed all along.
 */
export function providerTimelines(hours: number, now = Date.now()): ProviderTimelines {
  const at = (msAgo: number) => new Date(now - msAgo).toISOString();
  const since = at(hours * 3_600_000);
  const until = at(0);
  const H = 3_600_000;
  const span = (state: StateSpan["state"], from: string, to: string, reason: string, failed_over = 0): StateSpan => ({
    state,
    from,
    until: to,
    reason,
    failed_over,
    probes_ok: 0,
    probes_failed: state === "OPEN" ? 2 : 0,
  });
  const app = { kind: "app" as const, host: "ops-laptop", pid: 4242 };
  const steady = (provider: ProviderTimeline["provider"], channel: ProviderTimeline["channel"]): ProviderTimeline => ({
    provider,
    channel,
    instance: app,
    spans: [span("CLOSED", since, until, "msgops started")],
    availability_percent: 100,
    failed_over_while_open: 0,
  });
  return {
    since,
    until,
    providers: [
      {
        provider: "sns",
        channel: "sms",
        instance: app,
        spans: [
          span("CLOSED", since, at(2 * H), "msgops started"),
          span("OPEN", at(2 * H), at(2 * H - 40 * 60_000), "5 consecutive failures (last: authentication failed)", 12),
          span("HALF_OPEN", at(2 * H - 40 * 60_000), at(2 * H - 41 * 60_000), "cool-down elapsed"),
          span("CLOSED", at(2 * H - 41 * 60_000), until, "trial call succeeded"),
        ],
        availability_percent: 100 - (41 / 60 / hours) * 100,
        failed_over_while_open: 12,
      },
      steady("twilio", "sms"),
      steady("console", "sms"),
      steady("ses", "email"),
      {
        provider: "sendgrid",
        channel: "email",
        instance: app,
        spans: [span("CLOSED", since, at(H), "msgops started"), span("DISABLED", at(H), until, "disabled from the dashboard")],
        availability_percent: 100,
        failed_over_while_open: 0,
      },
      steady("smtp", "email"),
    ],
  };
}
