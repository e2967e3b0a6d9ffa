import type { BreakerState } from "./bindings/BreakerState";
import type { ErrorKind } from "./bindings/ErrorKind";

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
