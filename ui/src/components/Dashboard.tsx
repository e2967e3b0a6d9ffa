import type { HealthSnapshot } from "../bindings/HealthSnapshot";
import type { ProviderHealth } from "../bindings/ProviderHealth";
import { ProviderCard } from "./ProviderCard";

function Chain({ title, providers }: { title: string; providers: ProviderHealth[] }) {
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
            <ProviderCard provider={p} />
          </li>
        ))}
      </ol>
    </section>
  );
}

export function Dashboard({ health }: { health: HealthSnapshot }) {
  return (
    <div className="chains">
      <Chain title="SMS" providers={health.sms_providers} />
      <Chain title="Email" providers={health.email_providers} />
    </div>
  );
}
