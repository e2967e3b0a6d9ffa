import type { CredentialProvider } from "./bindings/CredentialProvider";
import type { HistorySummary } from "./bindings/HistorySummary";
import type { BreakerState } from "./bindings/BreakerState";
import type { Channel } from "./bindings/Channel";
import type { ErrorKind } from "./bindings/ErrorKind";
import type { ProviderId } from "./bindings/ProviderId";
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
export const CHAIN: Record<Channel, ProviderId[]> = {
  sms: ["sns", "twilio", "console"],
  email: ["ses", "sendgrid", "smtp"],
};

export const CHANNEL_LABEL: Record<Channel, string> = { sms: "SMS", email: "Email" };

const PROVIDER_NAME: Record<ProviderId, string> = {
  sns: "AWS SNS",
  twilio: "Twilio",
  console: "Console",
  ses: "AWS SES",
  sendgrid: "SendGrid",
  smtp: "SMTP",
};

/** The name an operator knows a provider by; an unknown id is shown as it is. */
export function providerName(id: ProviderId): string {
  return PROVIDER_NAME[id] ?? id;
}

/** Where a provider stands in its chain (SMS chain first); unknown ids last. */
export function chainPosition(id: ProviderId): number {
  const i = [...CHAIN.sms, ...CHAIN.email].indexOf(id);
  return i === -1 ? Number.MAX_SAFE_INTEGER : i;
}

export const SKIP_REASON_LABEL: Record<SkipReason, string> = {
  breaker_open: "breaker open",
  rate_limited: "rate limited",
  disabled: "disabled",
  not_configured: "not configured",
  deadline_exceeded: "deadline exceeded",
};

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
