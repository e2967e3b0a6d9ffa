import type { Attempt } from "../bindings/Attempt";
import type { DeliveryReport } from "../bindings/DeliveryReport";
import type { MessageDelivery } from "../bindings/MessageDelivery";
import type { ProviderKind } from "../bindings/ProviderKind";
import { DELIVERY_STATUS_LABEL, localDateTime, providerName } from "../format";

/** A page's deliveries by message (provider and its id for the message). */
export type Deliveries = Map<string, MessageDelivery>;

const messageKey = (provider: ProviderKind, id: string) => `${provider}\u0000${id}`;

export function deliveriesByMessage(deliveries: MessageDelivery[]): Deliveries {
  return new Map(deliveries.map((d) => [messageKey(d.provider, d.provider_message_id), d]));
}

/** What the provider reported about the message of this attempt, when it reported anything. */
export function deliveryOf(deliveries: Deliveries, attempt: Attempt): MessageDelivery | undefined {
  return attempt.provider_message_id === null ? undefined : deliveries.get(messageKey(attempt.provider, attempt.provider_message_id));
}

/** The report the message ended on: the last one with the status Rust says it ended at. */
export function endingReport(delivery: MessageDelivery): DeliveryReport | undefined {
  for (let i = delivery.timeline.length - 1; i >= 0; i--) {
    if (delivery.timeline[i].status === delivery.status) return delivery.timeline[i];
  }
  return undefined;
}

/** "delivered", "undelivered 30003", "bounced Permanent/General", "pending". */
function badgeText(delivery: MessageDelivery, end: DeliveryReport | undefined): string {
  switch (delivery.fate) {
    case "failed":
      return end?.error_code ? `${delivery.status} ${end.error_code}` : delivery.status;
    case "pending":
      return "pending";
    default:
      return delivery.status === "complained" ? "marked as spam" : "delivered";
  }
}

/** Where the delivery of a message ended, in a word or two; a failure warns with a sign too. */
export function DeliveryBadge({ delivery }: { delivery: MessageDelivery }) {
  const end = endingReport(delivery);
  const title = [`${providerName(delivery.provider)}: ${DELIVERY_STATUS_LABEL[delivery.status]}`, end?.meaning].filter(Boolean).join(" — ");
  return (
    <span className={`badge delivery-badge delivery-${delivery.fate}`} data-testid="delivery-badge" data-fate={delivery.fate} title={title}>
      <span className="visually-hidden">Provider report: </span>
      {delivery.fate === "failed" && <span aria-hidden="true">⚠ </span>}
      {badgeText(delivery, end)}
    </span>
  );
}

/** An instant in this computer's time: the time of day, with the date when it is not `day`'s. */
function When({ instant, day }: { instant: string; day: string | null }) {
  const at = localDateTime(instant);
  const sameDay = day !== null && localDateTime(day).slice(0, 10) === at.slice(0, 10);
  return (
    <time dateTime={instant} title={at}>
      {sameDay ? at.slice(11) : at}
    </time>
  );
}

/**
 * What became of one attempt's message after its provider accepted it: when it was accepted
 * (`acceptedAt`, when known) and the provider's receipt, then each report, oldest first, with
 * its error code in plain words and the provider's own words.
 */
export function DeliveryTimeline({ attempt, delivery, acceptedAt }: { attempt: Attempt; delivery: MessageDelivery; acceptedAt: string | null }) {
  const end = endingReport(delivery);
  return (
    <div className="delivery" data-testid="delivery-timeline">
      <p className="delivery-accepted">
        Accepted by {providerName(attempt.provider)}
        {acceptedAt !== null && (
          <>
            {" "}
            at <When instant={acceptedAt} day={acceptedAt} />
          </>
        )}{" "}
        (receipt <span className="mono">{delivery.provider_message_id}</span>)
      </p>
      <ol className="delivery-reports" aria-label="Delivery reports">
        {delivery.timeline.map((r, i) => (
          <li key={`${r.event_id}-${i}`} className={`delivery-report${r === end ? ` delivery-end delivery-${delivery.fate}` : ""}`}>
            <When instant={r.occurred_at} day={acceptedAt} />
            <span className="delivery-status">
              {r === end && delivery.fate === "failed" && <span aria-hidden="true">⚠ </span>}
              {DELIVERY_STATUS_LABEL[r.status]}
            </span>
            {r.error_code && (
              <span className="delivery-code">
                error <span className="mono">{r.error_code}</span>
                {r.meaning && <>: {r.meaning}</>}
              </span>
            )}
            {r.detail && <span className="delivery-detail muted">{r.detail}</span>}
          </li>
        ))}
      </ol>
    </div>
  );
}
