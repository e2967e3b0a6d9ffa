// The fake delivery reports: what the providers said about messages after accepting them,
// and a message's reports gathered as crates/delivery does it (rates.rs: `timeline`,
// `final_status`, `MessageDelivery::of`), for the fixture's reports only.
import type { DeliveryEvent } from "../../../ui/src/bindings/DeliveryEvent";
import type { DeliveryFate } from "../../../ui/src/bindings/DeliveryFate";
import type { DeliveryStatus } from "../../../ui/src/bindings/DeliveryStatus";
import type { MessageDelivery } from "../../../ui/src/bindings/MessageDelivery";
import type { ProviderKind } from "../../../ui/src/bindings/ProviderKind";

/** `msgops_delivery::meaning`, for the codes the fixture's reports carry (same words). */
const MEANING: Partial<Record<ProviderKind, Record<string, string>>> = {
  twilio: { "30003": "the phone is unreachable: switched off or out of coverage" },
  ses: { "Permanent/NoEmail": "the address does not exist" },
};

const DELIVERED: DeliveryStatus[] = ["delivered", "read", "complained"];
const FAILED: DeliveryStatus[] = ["undelivered", "failed", "bounced", "dropped", "rejected"];

/** `DeliveryFate::of`. */
function fateOf(status: DeliveryStatus): DeliveryFate {
  return DELIVERED.includes(status) ? "delivered" : FAILED.includes(status) ? "failed" : "pending";
}

/** `rank`: orders the reports of one instant along a message's life. */
const RANK: Record<DeliveryStatus, number> = {
  accepted: 0,
  queued: 1,
  sending: 2,
  sent: 3,
  delayed: 4,
  delivered: 5,
  undelivered: 5,
  failed: 5,
  bounced: 5,
  dropped: 5,
  rejected: 5,
  read: 6,
  complained: 7,
};

/**
 * The message's reports among `events`, oldest first and each once (by `event_id`), where it
 * ended — the last final report wins over any later non-final one, else the latest report —
 * and each code in plain words; `null` without reports.
 */
export function messageDelivery(events: DeliveryEvent[], provider: ProviderKind, id: string): MessageDelivery | null {
  const seen = new Set<string>();
  const timeline = events
    .filter((e) => e.provider === provider && e.provider_message_id === id)
    .filter((e) => !seen.has(e.event_id) && seen.add(e.event_id))
    .sort((a, b) => Date.parse(a.occurred_at) - Date.parse(b.occurred_at) || RANK[a.status] - RANK[b.status]);
  const end = [...timeline].reverse().find((e) => fateOf(e.status) !== "pending") ?? timeline.at(-1);
  if (!end) return null;
  return {
    provider,
    provider_message_id: id,
    status: end.status,
    fate: fateOf(end.status),
    timeline: timeline.map((e) => ({ ...e, meaning: (e.error_code && MEANING[provider]?.[e.error_code.trim()]) ?? null })),
  };
}

/** One entry per message of `attempts` with reports, as `Deliveries::fill` in crates/history. */
export function deliveriesOf(events: DeliveryEvent[], attempts: { provider: ProviderKind; provider_message_id: string | null }[]): MessageDelivery[] {
  const keys = new Map<string, [ProviderKind, string]>();
  for (const a of attempts) if (a.provider_message_id) keys.set(`${a.provider}|${a.provider_message_id}`, [a.provider, a.provider_message_id]);
  return [...keys.values()].flatMap(([provider, id]) => messageDelivery(events, provider, id) ?? []);
}
