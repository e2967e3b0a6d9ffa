import { Suspense, lazy, useCallback, useEffect, useState } from "react";
import type { Backend } from "./api/backend";
import { errorMessage } from "./api/backend";
import type { AppStatus } from "./bindings/AppStatus";
import type { CredentialProvider } from "./bindings/CredentialProvider";
import type { FallbackCode } from "./bindings/FallbackCode";
import type { HealthSnapshot } from "./bindings/HealthSnapshot";
import type { LogClockInfo } from "./bindings/LogClockInfo";
import type { LogEvent } from "./bindings/LogEvent";
import type { OperationEntry } from "./bindings/OperationEntry";
import type { Transition } from "./bindings/Transition";
import { Codes } from "./components/Codes";
import { Credentials } from "./components/Credentials";
import { Dashboard } from "./components/Dashboard";
import { Diagnostics } from "./components/Diagnostics";
import { Settings } from "./components/Settings";
import { TestSend } from "./components/TestSend";
import { STATE_LABEL, providerName, todayByProvider, withClock, type ProviderToday } from "./format";

// The chart library is most of the History page's weight: it loads when the page is first opened.
const History = lazy(() => import("./components/History").then((m) => ({ default: m.History })));

interface Shown {
  provider: string;
  transition: Transition;
}

type Page = "dashboard" | "codes" | "history" | "credentials" | "settings";
const PAGES: [Page, string][] = [
  ["dashboard", "Dashboard"],
  ["codes", "Codes"],
  ["history", "History"],
  ["credentials", "Credentials"],
  ["settings", "Settings"],
];

export function App({ backend }: { backend: Backend }) {
  const [page, setPage] = useState<Page>("dashboard");
  const [health, setHealth] = useState<HealthSnapshot | null>(null);
  const [status, setStatus] = useState<AppStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [transitions, setTransitions] = useState<Shown[]>([]);
  const [codes, setCodes] = useState<FallbackCode[]>([]);
  const [diagnostics, setDiagnostics] = useState<LogEvent[]>([]);
  const [files, setFiles] = useState<string[]>([]);
  const [clocks, setClocks] = useState<LogClockInfo[]>([]);
  const [keychainProblem, setKeychainProblem] = useState<string | null>(null);

  const refresh = useCallback(() => {
    backend.healthSnapshot().then(setHealth, (e) => setError(errorMessage(e)));
  }, [backend]);
  // Each provider's sends today (UTC), from the history: they survive a restart of msgops.
  const [today, setToday] = useState<Record<string, ProviderToday> | undefined>(undefined);
  const refreshToday = useCallback(() => {
    backend.historySummary(1).then((s) => setToday(todayByProvider(s)), () => undefined);
  }, [backend]);
  const [rotate, setRotate] = useState<CredentialProvider | null>(null);
  const [operations, setOperations] = useState<OperationEntry[]>([]);
  const refreshOperations = useCallback(() => {
    backend.operationsAudit().then(setOperations, () => undefined);
  }, [backend]);
  useEffect(refreshOperations, [refreshOperations]);

  useEffect(() => {
    // Now, and again as each new day starts at 00:00 UTC (with zeros).
    let timer: ReturnType<typeof setTimeout>;
    const tick = () => {
      refreshToday();
      const now = new Date();
      const midnight = Date.UTC(now.getUTCFullYear(), now.getUTCMonth(), now.getUTCDate() + 1);
      timer = setTimeout(tick, midnight - now.getTime() + 1000);
    };
    tick();
    return () => clearTimeout(timer);
  }, [refreshToday]);

  useEffect(() => {
    refresh();
    backend.appStatus().then(setStatus, () => undefined);
    // Said at start-up, on every page: without a keychain no key can be stored or rotated.
    backend.keychainHealth().then(
      (h) => setKeychainProblem(h.ok ? null : h.message),
      (e) => setKeychainProblem(errorMessage(e)),
    );
    // Live: every chain event (transition, finished send, provider change) refreshes the
    // snapshot. No polling.
    const unlistenChain = backend.onChainEvent((event) => {
      if (event.kind === "breaker_transition") {
        setTransitions((t) => [{ provider: event.provider, transition: event.transition }, ...t].slice(0, 50));
      }
      if (event.kind === "send_finished") refreshToday();
      refresh();
    });
    // New delivery reports: the cards' delivered shares change.
    const unlistenDelivery = backend.onDeliveryReports(() => refresh());
    // Codes: what was read before the window opened, then each new one as it is written.
    // A file's clock (the zone its times are read in) replaces the one it had: it is shown with
    // the codes, not among the diagnostics.
    const unlistenLog = backend.onLogEvent((event) => {
      if (event.kind === "code") setCodes((c) => [...c, event]);
      else if (event.kind === "clock") {
        const { kind: _kind, ...clock } = event;
        setClocks((c) => withClock(c, clock));
      } else setDiagnostics((d) => [...d.slice(-999), event]);
    });
    const key = (c: FallbackCode) => `${c.file}:${c.line}:${c.code}`;
    const loadSnapshot = () =>
      backend.logSnapshot().then(
        (s) => {
          const known = new Set(s.codes.map(key));
          setCodes((live) => [...s.codes, ...live.filter((c) => !known.has(key(c)))]);
          setDiagnostics((live) => [...s.diagnostics.filter((e) => e.kind !== "clock"), ...live]);
          setFiles(s.files);
          // A clock reported live since is newer than the snapshot's for that file.
          setClocks((live) => live.reduce(withClock, s.clocks));
        },
        () => undefined,
      );
    loadSnapshot();
    // New settings restart the watcher, which reads the files again from their first line.
    const unlistenReset = backend.onLogReset(() => {
      setCodes([]);
      setDiagnostics([]);
      setClocks([]);
      loadSnapshot();
    });
    return () => {
      unlistenChain.then((f) => f());
      unlistenDelivery.then((f) => f());
      unlistenLog.then((f) => f());
      unlistenReset.then((f) => f());
    };
  }, [backend, refresh, refreshToday]);

  return (
    <div className="app">
      <header className="topbar">
        <h1>
          <span className="logo" aria-hidden="true">●●●</span> msgops
        </h1>
        <nav aria-label="Pages">
          {PAGES.map(([id, label]) => (
            <button
              key={id}
              type="button"
              className={`tab${page === id ? " tab-active" : ""}`}
              aria-current={page === id ? "page" : undefined}
              onClick={() => setPage(id)}
              data-testid={`nav-${id}`}
            >
              {label}
              {id === "codes" && codes.length > 0 && <span className="count">{codes.length}</span>}
            </button>
          ))}
        </nav>
        {status && <span className="version">v{status.version}</span>}
      </header>
      {status?.config_error && (
        <p className="banner banner-error" role="alert">
          Configuration file not used: {status.config_error}. Running on the last good configuration.
        </p>
      )}
      {keychainProblem && (
        <p className="banner banner-error" role="alert" data-testid="keychain-banner">
          OS keychain unavailable: {keychainProblem}
        </p>
      )}
      {error && (
        <p className="banner banner-error" role="alert">
          {error}
        </p>
      )}
      {page === "dashboard" && (
        <main>
          {health ? (
            <Dashboard
              health={health}
              onToggle={(provider, enabled) => backend.setProviderEnabled(provider, enabled).then(setHealth, (e) => setError(errorMessage(e)))}
              today={today}
              onFix={(credentials) => {
                setRotate(credentials);
                setPage("credentials");
              }}
              onControl={(provider, control) =>
                backend.controlProvider(provider, control).then(
                  () => {
                    refresh();
                    refreshOperations();
                  },
                  (e) => setError(errorMessage(e)),
                )
              }
            />
          ) : (
            <p aria-busy="true">Loading provider health…</p>
          )}
          <aside className="side">
            <TestSend
              backend={backend}
              providers={{ sms: health?.sms_providers.map((p) => p.id), email: health?.email_providers.map((p) => p.id) }}
            />
            <Diagnostics events={diagnostics} />
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
            <section aria-labelledby="operations-title" className="operations">
              <h2 id="operations-title">On-call operations</h2>
              {operations.length === 0 ? (
                <p className="muted">No breaker resets, trials or probes yet.</p>
              ) : (
                <ol data-testid="operations">
                  {operations.slice(0, 10).map((o, i) => (
                    <li key={i}>
                      <time>{new Date(o.at).toLocaleTimeString()}</time> <strong>{providerName(o.provider)}</strong> {o.operation.replace("_", " ")}{" "}
                      {o.ok ? "" : "(failed) "}
                      <span className="muted">
                        — {o.detail}; by {o.actor.user ? `${o.actor.user}@` : ""}
                        {o.actor.host} ({o.actor.via})
                      </span>
                    </li>
                  ))}
                </ol>
              )}
            </section>
          </aside>
        </main>
      )}
      {page === "codes" && (
        <main className="single">
          <Codes codes={codes} files={files} clocks={clocks} copyText={backend.copyText} />
        </main>
      )}
      {page === "history" && (
        <main className="single">
          <Suspense fallback={<p aria-busy="true">Loading history…</p>}>
            <History backend={backend} />
          </Suspense>
        </main>
      )}
      {page === "credentials" && (
        <main className="single">
          <Credentials backend={backend} rotate={rotate} />
        </main>
      )}
      {page === "settings" && (
        <main className="single">
          <Settings backend={backend} configPath={status?.config_path} onSaved={refresh} />
        </main>
      )}
    </div>
  );
}
