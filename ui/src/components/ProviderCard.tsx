import { useEffect, useState } from "react";
import type { Control } from "../bindings/Control";
import type { ProviderDeliveryRate } from "../bindings/ProviderDeliveryRate";
import type { ProviderHealth } from "../bindings/ProviderHealth";
import { ERROR_KIND_LABEL, STATE_HINT, STATE_LABEL, formatCountdown, formatPercent, formatUsd, formatWindow, type ProviderToday } from "../format";

const STATE_ICON = { CLOSED: "✓", OPEN: "✕", HALF_OPEN: "◐" } as const;

/**
 * A delivered share below this warns on the card: the default of `[delivery]
 * alert_below_percent`, below which msgops also notifies.
 */
export const DELIVERY_WARN_BELOW = 0.8;

/** The provider's delivered share over the window, from its delivery reports. */
function DeliveryFact({ row, windowSecs }: { row: ProviderDeliveryRate; windowSecs: number }) {
  const { delivered, failed, pending } = row;
  const low = row.rate !== null && row.rate < DELIVERY_WARN_BELOW;
  const over = formatWindow(windowSecs);
  const title = `Over the last ${over}, from the provider's delivery reports: ${delivered} delivered, ${failed} not delivered, ${pending} still pending`;
  return (
    <div className={low ? "delivery-low" : undefined}>
      <dt>Delivered ({over})</dt>
      <dd data-testid="delivery-rate" title={title}>
        {low && <span aria-hidden="true">⚠ </span>}
        {row.rate === null ? `none final yet (${pending} pending)` : `${formatPercent(row.rate)} (${delivered} of ${delivered + failed})`}
        {low && <span className="visually-hidden"> — below {formatPercent(DELIVERY_WARN_BELOW)}</span>}
      </dd>
    </div>
  );
}

/** Time left until HALF_OPEN, ticking locally from the snapshot's `open_until`. */
function useCountdown(openUntil: string | null, now: () => number): number | null {
  const [left, setLeft] = useState<number | null>(() => (openUntil ? Date.parse(openUntil) - now() : null));
  useEffect(() => {
    if (!openUntil) {
      setLeft(null);
      return;
    }
    const update = () => setLeft(Math.max(0, Date.parse(openUntil) - now()));
    update();
    const t = setInterval(update, 250);
    return () => clearInterval(t);
  }, [openUntil, now]);
  return left;
}

export function ProviderCard({
  provider,
  now = Date.now,
  onToggle,
  today,
  onFix,
  onControl,
  delivery,
  deliveryWindowSecs = 3600,
}: {
  provider: ProviderHealth;
  now?: () => number;
  onToggle?: (enabled: boolean) => void;
  /** Today's sends from the history; without it, the counters since msgops started. */
  today?: ProviderToday;
  /** Opens the rotation of this provider's key (shown when the provider refused its key). */
  onFix?: () => void;
  /** On-call controls: reset the breaker, start its trial now, probe now. */
  onControl?: (control: Control) => Promise<unknown>;
  /** Its delivered share from the health snapshot's `delivery`; none: no reports, no fact. */
  delivery?: ProviderDeliveryRate;
  /** The window `delivery` was counted over. */
  deliveryWindowSecs?: number;
}) {
  const [busy, setBusy] = useState<Control | null>(null);
  const control = (c: Control) => {
    if (!onControl) return;
    setBusy(c);
    onControl(c).finally(() => setBusy(null));
  };
  const left = useCountdown(provider.open_until, now);
  const state = provider.breaker_state;
  const status = !provider.enabled ? "disabled" : !provider.configured ? "unconfigured" : state.toLowerCase();
  const err = provider.last_error;
  return (
    <article
      className={`provider-card state-${status}`}
      data-testid={`provider-${provider.id}`}
      data-state={state}
      aria-label={`${provider.display_name}: ${STATE_LABEL[state]}`}
    >
      <header>
        <div>
          <h3>{provider.display_name}</h3>
          <span className="priority">{provider.priority.toLowerCase()}</span>
        </div>
        <span className={`state-badge state-${state.toLowerCase()}`} data-testid="breaker-state">
          {status === "disabled" || status === "unconfigured" ? (
            <>
              <span aria-hidden="true">○</span> {status === "disabled" ? "Disabled" : "Not configured"}
            </>
          ) : (
            <>
              <span aria-hidden="true">{STATE_ICON[state]}</span> {STATE_LABEL[state]}
            </>
          )}
        </span>
      </header>
      <p className="state-hint">
        {!provider.enabled
          ? "Disabled: left out of the chain"
          : !provider.configured
            ? "Not configured: no credentials stored, skipped"
            : STATE_HINT[state]}
      </p>
      <dl className="facts">
        <div>
          <dt>Failures</dt>
          <dd data-testid="failures">
            {provider.failure_threshold > 0 ? `${provider.consecutive_failures} / ${provider.failure_threshold}` : "no breaker"}
          </dd>
        </div>
        {provider.throttled_until && (
          <div>
            <dt>Throttled until</dt>
            <dd data-testid="throttled" title="The provider asked us to slow down (HTTP 429): skipped until its Retry-After, without opening the breaker">
              {new Date(provider.throttled_until).toLocaleTimeString()}
            </dd>
          </div>
        )}
        {state === "OPEN" && left !== null && (
          <div>
            <dt>Trial in</dt>
            <dd data-testid="countdown" aria-live="polite">{formatCountdown(left)}</dd>
          </div>
        )}
        <div>
          <dt>Sent / failed{today ? " today" : ""}</dt>
          <dd data-testid="counts">
            {today ? `${today.sent} / ${today.failed}` : `${provider.sent} / ${provider.failed}`}
          </dd>
        </div>
        <div>
          <dt>Cost{today ? " today" : ""}</dt>
          <dd data-testid="cost">{formatUsd(today ? today.cost_usd : provider.cost_usd)}</dd>
        </div>
        {delivery && <DeliveryFact row={delivery} windowSecs={deliveryWindowSecs} />}
        <div>
          <dt>Rate</dt>
          <dd>
            {provider.rate_per_second > 0
              ? `${Math.floor(provider.rate_available ?? 0)} of ${provider.rate_per_second}/s free`
              : "unlimited"}
          </dd>
        </div>
      </dl>
      {provider.last_probe && (
        <p className={`probe ${provider.last_probe.ok ? "probe-ok" : "probe-bad"}`} data-testid="probe">
          Probe {provider.last_probe.ok ? "OK" : `failed: ${provider.last_probe.message ?? "no details"}`} at{" "}
          {new Date(provider.last_probe.at).toLocaleTimeString()}
        </p>
      )}
      {onControl && provider.configured && (
        <div className="controls" role="group" aria-label={`${provider.display_name} controls`}>
          {(state !== "CLOSED" || provider.consecutive_failures > 0) && (
            <button type="button" onClick={() => control("reset")} disabled={busy !== null} data-testid="control-reset" title="The upstream cause is fixed: close the breaker now">
              {busy === "reset" ? "Resetting…" : "Reset breaker"}
            </button>
          )}
          {state === "OPEN" && (
            <button type="button" onClick={() => control("trial")} disabled={busy !== null} data-testid="control-trial" title="End the cool-down now: the next send is the trial">
              {busy === "trial" ? "Starting…" : "Try now"}
            </button>
          )}
          <button type="button" onClick={() => control("probe")} disabled={busy !== null} data-testid="control-probe" title="Check the provider and our credentials now (never counted by the breaker)">
            {busy === "probe" ? "Probing…" : "Probe now"}
          </button>
        </div>
      )}
      {onToggle && (
        <button type="button" className="link-button" onClick={() => onToggle(!provider.enabled)} data-testid="toggle-enabled">
          {provider.enabled ? "Disable" : "Enable"} {provider.display_name}
        </button>
      )}
      {err && (
        <p className="last-error" role="status" data-testid="last-error">
          <strong>
            {ERROR_KIND_LABEL[err.kind]}
            {err.provider_code !== null ? ` — ${provider.display_name} ${err.provider_code}` : ""}
          </strong>
          <span>{err.message}</span>
          {err.kind === "authentication" && onFix && (
            <button type="button" className="fix-button" onClick={onFix} data-testid="fix-credentials">
              Rotate the {provider.display_name} key
            </button>
          )}
        </p>
      )}
    </article>
  );
}
