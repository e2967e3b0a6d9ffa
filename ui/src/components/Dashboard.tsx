import type { ChainHealth } from "../bindings/ChainHealth";
import type { DeliveryRates } from "../bindings/DeliveryRates";
import type { Control } from "../bindings/Control";
import type { CredentialProvider } from "../bindings/CredentialProvider";
import type { HealthSnapshot } from "../bindings/HealthSnapshot";
import type { ProviderKind } from "../bindings/ProviderKind";
import type { ProviderHealth } from "../bindings/ProviderHealth";
import { credentialsOf, type ProviderToday } from "../format";
import { ProviderCard } from "./ProviderCard";

type Toggle = (provider: string, enabled: boolean) => void;
type Fix = (credentials: CredentialProvider) => void;
type OnControl = (provider: ProviderKind, control: Control) => Promise<unknown>;

interface ChainProps {
  title: string;
  status: ChainHealth;
  providers: ProviderHealth[];
  onToggle?: Toggle;
  today?: Record<string, ProviderToday>;
  onFix?: Fix;
  onControl?: OnControl;
  delivery?: DeliveryRates;
}

/** The chain's status in the health endpoint's words, for people. */
export const CHAIN_STATUS_LABEL: Record<ChainHealth["status"], string> = {
  healthy: "healthy",
  degraded: "degraded: only the last resort can deliver",
  down: "down: no provider can deliver",
  unconfigured: "not in use",
};

function Chain({ title, status, providers, onToggle, today, onFix, onControl, delivery }: ChainProps) {
  return (
    <section className="chain" aria-labelledby={`chain-${title}`}>
      <h2 id={`chain-${title}`}>
        {title}{" "}
        <span className={`chain-status chain-${status.status}`} data-testid={`chain-status-${title.toLowerCase()}`} title={status.reason}>
          {CHAIN_STATUS_LABEL[status.status]}
        </span>
      </h2>
      {status.status !== "healthy" && (
        <p className="chain-reason muted" data-testid={`chain-reason-${title.toLowerCase()}`}>
          {status.reason}
        </p>
      )}
      <ol className="chain-list">
        {providers.map((p) => {
          const credentials = credentialsOf(p.id);
          return (
            <li key={p.id}>
              <ProviderCard
                provider={p}
                onToggle={onToggle && ((enabled) => onToggle(p.id, enabled))}
                today={today && (today[p.id] ?? { sent: 0, failed: 0, cost_usd: 0 })}
                onFix={onFix && credentials ? () => onFix(credentials) : undefined}
                onControl={onControl && ((control) => onControl(p.id, control))}
                delivery={delivery?.providers.find((r) => r.provider === p.id)}
                deliveryWindowSecs={delivery?.window_secs}
              />
            </li>
          );
        })}
      </ol>
    </section>
  );
}

export function Dashboard({
  health,
  onToggle,
  today,
  onFix,
  onControl,
}: {
  health: HealthSnapshot;
  onToggle?: Toggle;
  /** Each provider's sends today, from the history. */
  today?: Record<string, ProviderToday>;
  /** Opens the Credentials page on the rotation of these credentials. */
  onFix?: Fix;
  /** Runs an on-call control of one provider. */
  onControl?: OnControl;
}) {
  return (
    <div className="chains">
      <Chain title="SMS" status={health.chains.sms} providers={health.sms_providers} onToggle={onToggle} today={today} onFix={onFix} onControl={onControl} delivery={health.delivery} />
      <Chain title="Email" status={health.chains.email} providers={health.email_providers} onToggle={onToggle} today={today} onFix={onFix} onControl={onControl} delivery={health.delivery} />
    </div>
  );
}
