import type { HealthSnapshot } from "../bindings/HealthSnapshot";
import type { ProviderHealth } from "../bindings/ProviderHealth";
import { ProviderCard } from "./ProviderCard";

type Toggle = (provider: string, enabled: boolean) => void;

function Chain({ title, providers, onToggle }: { title: string; providers: ProviderHealth[]; onToggle?: Toggle }) {
  const healthy = providers.some((p) => p.is_healthy);
  return (
    <section className="chain" aria-labelledby={`chain-${title}`}>
      <h2 id={`chain-${title}`}>
        {title}{" "}
        <span className={healthy ? "chain-ok" : "chain-down"}>{healthy ? "can deliver" : "no healthy provider"}</span>
      </h2>
      <ol className="chain-list">
        {providers.map((p) => (
          <li key={p.id}>
            <ProviderCard provider={p} onToggle={onToggle && ((enabled) => onToggle(p.id, enabled))} />
          </li>
        ))}
      </ol>
    </section>
  );
}

export function Dashboard({ health, onToggle }: { health: HealthSnapshot; onToggle?: Toggle }) {
  return (
    <div className="chains">
      <Chain title="SMS" providers={health.sms_providers} onToggle={onToggle} />
      <Chain title="Email" providers={health.email_providers} onToggle={onToggle} />
    </div>
  );
}
