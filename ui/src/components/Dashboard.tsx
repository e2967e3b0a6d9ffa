import type { CredentialProvider } from "../bindings/CredentialProvider";
import type { HealthSnapshot } from "../bindings/HealthSnapshot";
import type { ProviderHealth } from "../bindings/ProviderHealth";
import { credentialsOf, type ProviderToday } from "../format";
import { ProviderCard } from "./ProviderCard";

type Toggle = (provider: string, enabled: boolean) => void;
type Fix = (credentials: CredentialProvider) => void;

interface ChainProps {
  title: string;
  providers: ProviderHealth[];
  onToggle?: Toggle;
  today?: Record<string, ProviderToday>;
  onFix?: Fix;
}

function Chain({ title, providers, onToggle, today, onFix }: ChainProps) {
  const healthy = providers.some((p) => p.is_healthy);
  return (
    <section className="chain" aria-labelledby={`chain-${title}`}>
      <h2 id={`chain-${title}`}>
        {title}{" "}
        <span className={healthy ? "chain-ok" : "chain-down"}>{healthy ? "can deliver" : "no healthy provider"}</span>
      </h2>
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
}: {
  health: HealthSnapshot;
  onToggle?: Toggle;
  /** Each provider's sends today, from the history. */
  today?: Record<string, ProviderToday>;
  /** Opens the Credentials page on the rotation of these credentials. */
  onFix?: Fix;
}) {
  return (
    <div className="chains">
      <Chain title="SMS" providers={health.sms_providers} onToggle={onToggle} today={today} onFix={onFix} />
      <Chain title="Email" providers={health.email_providers} onToggle={onToggle} today={today} onFix={onFix} />
    </div>
  );
}
