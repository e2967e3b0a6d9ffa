import type { LogEvent } from "../bindings/LogEvent";
import { clockLine, providerName } from "../format";

/** One line of plain words for a backend diagnostic read from its log. */
export function describe(event: LogEvent): string | null {
  switch (event.kind) {
    case "provider_error":
      return `${providerName(event.provider)}${event.status !== null ? ` HTTP ${event.status}` : ""}: ${event.message}`;
    case "http_error":
      return `${event.method} ${event.path} answered ${event.status}`;
    case "backend_start":
      return `Backend started: ${event.provider} initialized as ${event.role} ${event.channel} provider`;
    case "stale_config":
      return event.message;
    case "follower_status":
      return `${event.file}: ${String(event.state).replace(/_/g, " ")}${event.message ? ` — ${event.message}` : ""}`;
    case "clock":
      return `${event.file}: ${clockLine(event)}`;
    default:
      return null;
  }
}

export function Diagnostics({ events }: { events: LogEvent[] }) {
  const stale = [...events].reverse().find((e) => e.kind === "stale_config");
  // Codes and log clocks are on the Codes page; a clock is not a problem of the backend.
  const shown = events.filter((e) => e.kind !== "code" && e.kind !== "clock").slice(-30).reverse();
  return (
    <section className="diagnostics" aria-labelledby="diag-title">
      <h2 id="diag-title">Backend diagnostics</h2>
      {stale?.kind === "stale_config" && stale.stale && (
        <p className="banner banner-error" role="alert" data-testid="stale-config">
          The backend is running older configuration — restart it.
        </p>
      )}
      {shown.length === 0 ? (
        <p className="muted">Nothing from the backend logs yet.</p>
      ) : (
        <ol data-testid="diagnostics">
          {shown.map((e, i) => (
            <li key={i} className={`diag diag-${e.kind}`}>
              {describe(e)}
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}
