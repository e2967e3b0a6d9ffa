// The fake send history: seeded sends (the app's and some of a `msgops serve`), and the query
// and summary of crates/history (query.rs, summary.rs) over them, simplified.
import type { Attempt } from "../../../ui/src/bindings/Attempt";
import type { Channel } from "../../../ui/src/bindings/Channel";
import type { DayCost } from "../../../ui/src/bindings/DayCost";
import type { FailoverRoute } from "../../../ui/src/bindings/FailoverRoute";
import type { HistoryFilter } from "../../../ui/src/bindings/HistoryFilter";
import type { HistoryPage } from "../../../ui/src/bindings/HistoryPage";
import type { HistorySummary } from "../../../ui/src/bindings/HistorySummary";
import type { ProviderKind } from "../../../ui/src/bindings/ProviderKind";
import type { RecordedSend } from "../../../ui/src/bindings/RecordedSend";
import type { SendOrigin } from "../../../ui/src/bindings/SendOrigin";
import type { SendRecord } from "../../../ui/src/bindings/SendRecord";
import type { DeliveryEvent } from "../../../ui/src/bindings/DeliveryEvent";
import { deliveriesOf } from "./deliveries";

/** A send in the fake history; one pushed without an origin (a test send) is the app's. */
export type StoredSend = SendRecord & { origin?: SendOrigin };

const APP: SendOrigin = { kind: "app", host: "ops-laptop", pid: 812 };
export const SERVICE: SendOrigin = { kind: "service", host: "ops-box", pid: 4242 };

const CHAIN: Record<Channel, ProviderKind[]> = { sms: ["sns", "twilio", "console"], email: ["ses", "sendgrid", "smtp"] };
const DAY_MS = 86_400_000;

const attempt = (provider: ProviderKind, delivered: boolean, cost_usd: number, i: number): Attempt => ({
  provider,
  outcome: delivered ? "delivered" : "failed",
  latency_ms: delivered ? 310 : 1_250,
  error_kind: delivered ? null : "transient",
  error: delivered ? null : "HTTP 503: Service Unavailable",
  provider_code: null,
  cost_usd: delivered ? cost_usd : 0,
  provider_message_id: delivered ? `msg-${provider}-${(i + 1).toString(16).padStart(6, "0")}` : null,
});

/**
 * `n` sends over the last 20 days, oldest first: one in three is an email, some fail over
 * from the first provider to the second, and every 25th fails on both; every 4th was made by
 * `msgops serve`. Delivered attempts carry a receipt `msg-<provider>-<i + 1 in hex>`.
 */
export function seedSends(n: number): StoredSend[] {
  const now = Date.now();
  return Array.from({ length: n }, (_, i) => {
    const channel: Channel = i % 3 === 2 ? "email" : "sms";
    const [first, second] = CHAIN[channel];
    const cost = channel === "sms" ? 0.00645 : 0.0001;
    const attempts =
      i % 25 === 24
        ? [attempt(first, false, cost, i), attempt(second, false, cost, i)]
        : i % 8 === 5 || (channel === "email" && i % 6 === 5)
          ? [attempt(first, false, cost, i), attempt(second, true, cost * 1.2, i)]
          : [attempt(first, true, cost, i)];
    const delivered = attempts.find((a) => a.outcome === "delivered");
    return {
      origin: i % 4 === 3 ? SERVICE : APP,
      channel,
      recipient: channel === "sms" ? `+1416555${String(1000 + i).slice(-4)}` : `ops${i}@example.com`,
      started_at: new Date(now - (n - i) * ((20 * DAY_MS) / n)).toISOString(),
      duration_ms: attempts.reduce((t, a) => t + a.latency_ms, 0),
      outcome: delivered
        ? { status: "delivered", provider: delivered.provider, attempts, skipped: [] }
        : { status: "failed", reason: "every provider failed", attempts, skipped: [] },
    };
  });
}

/** The provider a delivered send failed over from (the first in chain order that failed or was passed over). */
function failedOverFrom(r: SendRecord): ProviderKind | null {
  if (r.outcome.status !== "delivered") return null;
  const from = [
    ...r.outcome.attempts.filter((a) => a.outcome === "failed").map((a) => a.provider),
    ...r.outcome.skipped.filter((s) => s.reason !== "disabled" && s.reason !== "not_configured").map((s) => s.provider),
  ];
  const chain = CHAIN[r.channel];
  return from.sort((a, b) => chain.indexOf(a) - chain.indexOf(b))[0] ?? null;
}

const normalise = (s: string) => s.replace(/[\s()-]/g, "").toLowerCase();

const receipts = (r: SendRecord) => r.outcome.attempts.flatMap((a) => (a.provider_message_id ? [a.provider_message_id] : []));

/** The matching sends, one page of them, and the reports about that page's messages. */
export function queryHistory(sends: StoredSend[], filter: HistoryFilter, reports: DeliveryEvent[] = []): HistoryPage {
  const search = normalise(filter.search ?? "");
  const matching = sends
    .map((r): RecordedSend => ({ ...r, origin: r.origin ?? APP }))
    .filter((r) => {
      const o = r.outcome;
      if (filter.channel && r.channel !== filter.channel) return false;
      if (filter.provider && ![...o.attempts, ...o.skipped].some((x) => x.provider === filter.provider)) return false;
      if (filter.outcome === "delivered" && o.status !== "delivered") return false;
      if (filter.outcome === "failed" && o.status !== "failed") return false;
      if (filter.outcome === "failed_over" && failedOverFrom(r) === null) return false;
      if (filter.recipient && !normalise(r.recipient).includes(normalise(filter.recipient))) return false;
      if (filter.origin && r.origin.kind !== filter.origin) return false;
      if (search && ![r.recipient, ...receipts(r)].some((text) => normalise(text).includes(search))) return false;
      return true;
    })
    .reverse();
  const offset = filter.offset ?? 0;
  const page = matching.slice(offset, offset + (filter.limit ?? 100));
  return { total: matching.length, sends: page, deliveries: deliveriesOf(reports, page.flatMap((r) => r.outcome.attempts)) };
}

export function summarise(sends: StoredSend[], days: number): HistorySummary {
  const since = new Date(Date.now() - (days - 1) * DAY_MS).toISOString().slice(0, 10);
  const summary: HistorySummary = { since, days, sends: 0, delivered: 0, failed: 0, failed_over: 0, total_cost_usd: 0, cost_per_day: [], failover_routes: [] };
  const perDay = new Map<string, DayCost>();
  const routes = new Map<string, FailoverRoute>();
  for (const r of sends) {
    const day = r.started_at.slice(0, 10);
    if (day < since) continue;
    summary.sends += 1;
    if (r.outcome.status === "delivered") summary.delivered += 1;
    else summary.failed += 1;
    for (const a of r.outcome.attempts) {
      const key = `${day}|${a.provider}`;
      const entry = perDay.get(key) ?? { day, provider: a.provider, cost_usd: 0, delivered: 0, failed: 0 };
      entry.cost_usd += a.cost_usd;
      entry[a.outcome === "delivered" ? "delivered" : "failed"] += 1;
      perDay.set(key, entry);
      summary.total_cost_usd += a.cost_usd;
    }
    const from = failedOverFrom(r);
    if (from !== null && r.outcome.status === "delivered") {
      summary.failed_over += 1;
      const key = `${from}|${r.outcome.provider}`;
      const route = routes.get(key) ?? { from, to: r.outcome.provider, count: 0 };
      route.count += 1;
      routes.set(key, route);
    }
  }
  summary.cost_per_day = [...perDay.values()].sort((a, b) => a.day.localeCompare(b.day));
  summary.failover_routes = [...routes.values()].sort((a, b) => b.count - a.count);
  return summary;
}
