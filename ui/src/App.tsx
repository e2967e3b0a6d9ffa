import { useCallback, useEffect, useState } from "react";
import type { Backend } from "./api/backend";
import { errorMessage } from "./api/backend";
import type { AppStatus } from "./bindings/AppStatus";
import type { HealthSnapshot } from "./bindings/HealthSnapshot";
import type { Transition } from "./bindings/Transition";
import { Dashboard } from "./components/Dashboard";
import { TestSend } from "./components/TestSend";
import { STATE_LABEL } from "./format";

interface Shown {
  provider: string;
  transition: Transition;
}

export function App({ backend }: { backend: Backend }) {
  const [health, setHealth] = useState<HealthSnapshot | null>(null);
  const [status, setStatus] = useState<AppStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [transitions, setTransitions] = useState<Shown[]>([]);

  const refresh = useCallback(() => {
    backend.healthSnapshot().then(setHealth, (e) => setError(errorMessage(e)));
  }, [backend]);

  useEffect(() => {
    refresh();
    backend.appStatus().then(setStatus, () => undefined);
    // Live: every chain event (transition, finished send, provider change) refreshes the
    // snapshot. No polling.
    const unlisten = backend.onChainEvent((event) => {
      if (event.kind === "breaker_transition") {
        setTransitions((t) => [{ provider: event.provider, transition: event.transition }, ...t].slice(0, 50));
      }
      refresh();
    });
    return () => {
      unlisten.then((f) => f());
    };
  }, [backend, refresh]);

  return (
    <div className="app">
      <header className="topbar">
        <h1>
          <span className="logo" aria-hidden="true">●●●</span> msgops
        </h1>
        {status && <span className="version">v{status.version}</span>}
      </header>
      {status?.config_error && (
        <p className="banner banner-error" role="alert">
          Configuration file not used: {status.config_error}. Running on the last good configuration.
        </p>
      )}
      {error && (
        <p className="banner banner-error" role="alert">
          {error}
        </p>
      )}
      <main>
        {health ? <Dashboard health={health} /> : <p aria-busy="true">Loading provider health…</p>}
        <aside className="side">
          <TestSend backend={backend} />
          <section aria-labelledby="transitions-title" className="transitions">
            <h2 id="transitions-title">Breaker transitions</h2>
            {transitions.length === 0 ? (
              <p className="muted">None since the window opened.</p>
            ) : (
              <ol data-testid="transitions">
                {transitions.map((t, i) => (
                  <li key={i} className="transition-in">
                    <time>{new Date(t.transition.at).toLocaleTimeString()}</time> <strong>{t.provider}</strong>{" "}
                    {STATE_LABEL[t.transition.from]} → {STATE_LABEL[t.transition.to]}
                    <span className="muted"> — {t.transition.reason}</span>
                  </li>
                ))}
              </ol>
            )}
          </section>
        </aside>
      </main>
    </div>
  );
}
