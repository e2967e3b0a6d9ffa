import type { CredentialProvider } from "./bindings/CredentialProvider";
import type { HistorySummary } from "./bindings/HistorySummary";
import type { BreakerState } from "./bindings/BreakerState";
import type { Channel } from "./bindings/Channel";
import type { DeliveryStatus } from "./bindings/DeliveryStatus";
import type { ErrorKind } from "./bindings/ErrorKind";
import type { FallbackCode } from "./bindings/FallbackCode";
import type { LogClockInfo } from "./bindings/LogClockInfo";
import type { ProviderKind } from "./bindings/ProviderKind";
import type { SkipReason } from "./bindings/SkipReason";

export const STATE_LABEL: Record<BreakerState, string> = {
  CLOSED: "Closed",
  OPEN: "Open",
  HALF_OPEN: "Half-open",
};

/** Words for each state, so state never rests on colour alone. */
export const STATE_HINT: Record<BreakerState, string> = {
  CLOSED: "sending normally",
  OPEN: "skipped: too many failures",
  HALF_OPEN: "next send is a trial",
};

export const ERROR_KIND_LABEL: Record<ErrorKind, string> = {
  authentication: "Authentication failed",
  throttled: "Throttled",
  transient: "Provider unavailable",
  permanent: "Rejected for this recipient",
  ambiguous: "Timed out after sending",
};

export function formatCountdown(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const m = Math.floor(total / 60);
  const s = total % 60;
  return `${m}:${s.toString().padStart(2, "0")}`;
}

export function formatUsd(v: number): string {
  if (v === 0) return "$0";
  return v < 0.01 ? `$${v.toFixed(5)}` : `$${v.toFixed(2)}`;
}

/** The chains in priority order, as in `SMS_CHAIN` / `EMAIL_CHAIN` in crates/core/src/config.rs. */
export const CHAIN: Record<Channel, ProviderKind[]> = {
  sms: ["sns", "twilio", "console"],
  email: ["ses", "sendgrid", "smtp"],
};

export const CHANNEL_LABEL: Record<Channel, string> = { sms: "SMS", email: "Email" };

const PROVIDER_NAME: Record<ProviderKind, string> = {
  sns: "AWS SNS",
  twilio: "Twilio",
  console: "Console",
  ses: "AWS SES",
  sendgrid: "SendGrid",
  smtp: "SMTP",
};

/** The name an operator knows a provider by; an unknown id is shown as it is. */
export function providerName(id: ProviderKind): string {
  return PROVIDER_NAME[id] ?? id;
}

/** Where a provider stands in its chain (SMS chain first); unknown ids last. */
export function chainPosition(id: ProviderKind): number {
  const i = [...CHAIN.sms, ...CHAIN.email].indexOf(id);
  return i === -1 ? Number.MAX_SAFE_INTEGER : i;
}

export const SKIP_REASON_LABEL: Record<SkipReason, string> = {
  breaker_open: "breaker open",
  rate_limited: "rate limited",
  disabled: "disabled",
  not_configured: "not configured",
  deadline_exceeded: "deadline exceeded",
  throttled: "throttled by the provider",
};

/**
 * Each delivery status in words, as a provider's report says it (`DeliveryStatus` in
 * crates/delivery). Whether a status is final, and where a message ended, come from Rust.
 */
export const DELIVERY_STATUS_LABEL: Record<DeliveryStatus, string> = {
  accepted: "accepted by the provider",
  queued: "queued at the provider",
  sending: "being sent to the carrier",
  sent: "sent to the carrier",
  delayed: "delayed: the provider keeps trying",
  delivered: "delivered",
  read: "delivered and read",
  undelivered: "not delivered by the carrier",
  failed: "failed: never sent",
  bounced: "bounced: the receiving server refused it",
  dropped: "dropped by the provider before sending",
  rejected: "rejected by the provider",
  complained: "delivered, then marked as spam",
};

/**
 * A share as a whole percentage, rounded down so that "100 %" means all of them:
 * 0.92 → "92 %", 0.999 → "99 %".
 */
export function formatPercent(share: number): string {
  // The small nudge keeps 0.29 (28.999… × 100) at 29.
  return `${Math.floor(share * 100 + 1e-9)} %`;
}

/** A window of seconds, as short as it reads: 3600 → "1 h", 900 → "15 min", 45 → "45 s". */
export function formatWindow(secs: number): string {
  if (secs >= 3600 && secs % 3600 === 0) return `${secs / 3600} h`;
  if (secs >= 60 && secs % 60 === 0) return `${secs / 60} min`;
  return `${secs} s`;
}

/** 1234 → "1,234". */
export function formatCount(n: number): string {
  return n.toLocaleString("en-US");
}

/** 12 → "12 ms", 1530 → "1.5 s". */
export function formatLatency(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

/** Which stored credentials a provider uses; the Console provider has none. */
export function credentialsOf(provider: string): CredentialProvider | null {
  switch (provider) {
    case "sns":
    case "ses":
      return "aws";
    case "twilio":
    case "sendgrid":
    case "smtp":
      return provider;
    default:
      return null;
  }
}

/** What one provider did today (UTC), from the send history. */
export interface ProviderToday {
  sent: number;
  failed: number;
  cost_usd: number;
}

/** Per provider, from a one-day history summary. */
export function todayByProvider(summary: HistorySummary): Record<string, ProviderToday> {
  const out: Record<string, ProviderToday> = {};
  for (const d of summary.cost_per_day) {
    if (d.day !== summary.since) continue;
    const t = (out[d.provider] ??= { sent: 0, failed: 0, cost_usd: 0 });
    t.sent += d.delivered;
    t.failed += d.failed;
    t.cost_usd += d.cost_usd;
  }
  return out;
}

/**
 * Who a code is for, as every surface shows it (`FallbackCode::recipient_label` in Rust): the
 * certain recipient, "one of A, B" when the log cannot tell which of several waiting requests
 * it is for, or "recipient not in log".
 */
export function recipientLabel(code: Pick<FallbackCode, "recipient" | "candidates">): string {
  if (code.recipient !== null) return code.recipient;
  if (code.candidates.length === 0) return "recipient not in log";
  return `one of ${code.candidates.join(", ")}`;
}

/** The log names no certain recipient, only several it may be for. */
export function isUncertain(code: Pick<FallbackCode, "recipient" | "candidates">): boolean {
  return code.recipient === null && code.candidates.length > 0;
}

const pad = (n: number, w = 2) => String(n).padStart(w, "0");

/** An instant (RFC 3339) in this computer's time: "2025-10-29 16:34:53". */
export function localDateTime(instant: string): string {
  const d = new Date(instant);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** When a code was written, in this computer's time, and how sure that is. */
export interface CodeWhen {
  text: string;
  /** Shown under the time when it is not the code's own timestamp. */
  note: string | null;
  /** All of it: the date, why, and the timestamp as the log wrote it. */
  title: string;
}

export function codeWhen(code: Pick<FallbackCode, "created_at" | "logged_at" | "time">): CodeWhen {
  if (code.created_at === null || code.time === "unknown") {
    return { text: "time unknown", note: null, title: "No time is known for this code: it is never shown as valid." };
  }
  const at = localDateTime(code.created_at);
  const inLog = code.logged_at === null ? [] : [`in the log: ${code.logged_at.replace("T", " ")}`];
  const title = (why: string[]) => [at, ...why, ...inLog].join("; ");
  switch (code.time) {
    case "read_at":
      return { text: `read at ${at.slice(11)}`, note: null, title: title(["no timestamp on its line: the time msgops read it"]) };
    case "approximate": {
      const note = "no timestamp on its line; the last one before it";
      return { text: `≈ ${at.slice(11)}`, note, title: title([note]) };
    }
    default:
      return { text: at, note: null, title: title([]) };
  }
}

const CLOCK_BASIS: Record<LogClockInfo["basis"], string> = {
  configured: "configured",
  inferred: "inferred",
  assumed: "assumed",
};

/** "Log times read as UTC−05:00 — inferred: newest line 16:34 vs file modified 21:34 UTC". */
export function clockLine(clock: LogClockInfo): string {
  return `Log times read as ${clock.zone} — ${CLOCK_BASIS[clock.basis] ?? clock.basis}: ${clock.reason}`;
}

/** The clocks with `clock` in place of the one for the same file (a file has one clock). */
export function withClock(clocks: LogClockInfo[], clock: LogClockInfo): LogClockInfo[] {
  const i = clocks.findIndex((c) => c.file === clock.file);
  return i === -1 ? [...clocks, clock] : clocks.map((c, j) => (j === i ? clock : c));
}

/** host[:port] of a connection's URL, or the URL as typed when it is not one. */
export function connectionHost(url: string): string {
  try {
    return new URL(url).host || url;
  } catch {
    return url;
  }
}

/** The start of a fingerprint, for lists: "AB:CD:EF:01:…" (the full value goes in a title). */
export function shortFingerprint(fingerprint: string): string {
  const groups = fingerprint.split(":");
  if (groups.length > 4) return `${groups.slice(0, 4).join(":")}:…`;
  return fingerprint.length > 12 ? `${fingerprint.slice(0, 12)}…` : fingerprint;
}

/**
 * A page heading for data that is always this computer's: as is on this computer, "This
 * computer's …" while the window is on a remote service.
 */
export function localTitle(title: string, remote: boolean): string {
  return remote ? `This computer's ${title.charAt(0).toLowerCase()}${title.slice(1)}` : title;
}

/** A heading of what the window shows from `remote` ("Sends on ops-eu"), or from this computer. */
export function remoteTitle(title: string, remote: string | null | undefined): string {
  return remote ? `${title} on ${remote}` : title;
}
