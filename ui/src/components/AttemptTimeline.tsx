import type { ProviderKind } from "../bindings/ProviderKind";
import type { Attempt } from "../bindings/Attempt";
import type { Skip } from "../bindings/Skip";
import { ERROR_KIND_LABEL, SKIP_REASON_LABEL, chainPosition, formatLatency, formatUsd, providerName } from "../format";

type Step = { kind: "attempt"; attempt: Attempt } | { kind: "skip"; skip: Skip };

function stepProvider(step: Step): ProviderKind {
  return step.kind === "attempt" ? step.attempt.provider : step.skip.provider;
}

function AttemptStep({ attempt }: { attempt: Attempt }) {
  const failure = attempt.error_kind ? ERROR_KIND_LABEL[attempt.error_kind] : "failed";
  return (
    <li className={`attempt attempt-${attempt.outcome}`}>
      <span className="attempt-provider">{providerName(attempt.provider)}</span>
      <span>{attempt.outcome === "delivered" ? "delivered" : failure}</span>
      <span>{formatLatency(attempt.latency_ms)}</span>
      <span>{formatUsd(attempt.cost_usd)}</span>
      {attempt.outcome === "delivered" && attempt.provider_message_id && (
        <span className="attempt-receipt">
          receipt <span className="mono">{attempt.provider_message_id}</span>
        </span>
      )}
      {(attempt.error || attempt.provider_code !== null) && (
        <span className="attempt-error">
          {attempt.error}
          {attempt.provider_code !== null && <span className="mono"> (provider code {attempt.provider_code})</span>}
        </span>
      )}
    </li>
  );
}

/**
 * What the chain did for one send, in chain order: each provider called (outcome, latency,
 * cost, error, and the provider's receipt id for the delivery) and each provider passed over
 * with the reason.
 */
export function AttemptTimeline({ attempts, skipped }: { attempts: Attempt[]; skipped: Skip[] }) {
  const steps: Step[] = [
    ...attempts.map((attempt): Step => ({ kind: "attempt", attempt })),
    ...skipped.map((skip): Step => ({ kind: "skip", skip })),
  ];
  // Stable: two calls to one provider keep their order.
  steps.sort((a, b) => chainPosition(stepProvider(a)) - chainPosition(stepProvider(b)));
  return (
    <ol className="attempts" aria-label="Attempts">
      {steps.map((step, i) =>
        step.kind === "attempt" ? (
          <AttemptStep key={i} attempt={step.attempt} />
        ) : (
          <li key={i} className="attempt attempt-skipped">
            <span className="attempt-provider">{providerName(step.skip.provider)}</span>
            <span>skipped: {SKIP_REASON_LABEL[step.skip.reason]}</span>
          </li>
        ),
      )}
    </ol>
  );
}
