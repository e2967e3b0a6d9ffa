import { Suspense, lazy, useCallback, useEffect, useRef, useState } from "react";
import { createPortal } from "react-dom";
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
import type { ConnectionsView } from "./bindings/ConnectionsView";
import { Codes, type CodeRequest } from "./components/Codes";
import { ConnectionSwitcher } from "./components/ConnectionSwitcher";
import { Connections } from "./components/Connections";
import { Credentials } from "./components/Credentials";
import { Dashboard } from "./components/Dashboard";
import { Diagnostics } from "./components/Diagnostics";
import { Settings } from "./components/Settings";
import { TestSend } from "./components/TestSend";
import { ProviderTimelineStrip } from "./components/ProviderTimeline";
import { GettingStarted, nothingConfigured } from "./components/GettingStarted";
import { GuidedStart, TEST_RECIPIENT, dismissGuide, guideDismissed } from "./components/GuidedStart";
import { KeyboardHelp } from "./components/KeyboardHelp";
import { STATE_LABEL, localTitle, providerName, todayByProvider, withClock, type ProviderToday } from "./format";
import { fileKindOf, type FileKind, type FileRequest } from "./files";
import { useShortcuts, type Page } from "./shortcuts";

// The chart library is most of the History page's weight: it loads when the page is first opened.
const History = lazy(() => import("./components/History").then((m) => ({ default: m.History })));

interface ShownTransition {
  provider: string;
  transition: Transition;
}

const PAGES: [Page, string][] = [
  ["dashboard", "Dashboard"],
  ["codes", "Codes"],
  ["history", "History"],
  ["credentials", "Credentials"],
  ["settings", "Settings"],
  ["connections", "Connections"],
];

/** What the pages that only know this computer are about, for the note shown while remote. */
const LOCAL_ONLY: Partial<Record<Page, string>> = {
  credentials: "credentials",
  settings: "settings",
};

/** Which connection a view is on, and since when it is connected: a change reloads its data. */
interface Shown {
  active: string | null;
  since: string | null;
}
const shownOf = (view: ConnectionsView): Shown => ({ active: view.active, since: view.status.state === "connected" ? view.status.since : null });

export function App({ backend }: { backend: Backend }) {
  const [page, setPage] = useState<Page>("dashboard");
  const [health, setHealth] = useState<HealthSnapshot | null>(null);
  const [status, setStatus] = useState<AppStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [transitions, setTransitions] = useState<ShownTransition[]>([]);
  const [codes, setCodes] = useState<FallbackCode[]>([]);
  const [diagnostics, setDiagnostics] = useState<LogEvent[]>([]);
  const [files, setFiles] = useState<string[]>([]);
  const [clocks, setClocks] = useState<LogClockInfo[]>([]);
  const [keychainProblem, setKeychainProblem] = useState<string | null>(null);
  // The connection the window is on (null until the backend said: this computer).
  const [connection, setConnection] = useState<ConnectionsView | null>(null);
  const [connectionError, setConnectionError] = useState<string | null>(null);
  const remote = connection?.active ?? null;
  const [healthError, setHealthError] = useState<string | null>(null);
  // Dialogs over the window: the shortcuts list (`?`) and the guided start.
  const [help, setHelp] = useState(false);
  const [guide, setGuide] = useState(false);
  const [snapshotRead, setSnapshotRead] = useState(false);
  // Files handed over (picked from an empty state, dropped on the window) to the page that takes them.
  const handOvers = useRef(0);
  const [importFile, setImportFile] = useState<FileRequest | null>(null);
  const [addFollow, setAddFollow] = useState<FileRequest | null>(null);
  const [dropped, setDropped] = useState<(FileRequest & { kind: FileKind }) | null>(null);
  const [fileHover, setFileHover] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);
  // Focus wanted once a page is drawn: the Codes search (`/`), the test send's recipient.
  const [focusWanted, setFocusWanted] = useState<{ id: string; n: number } | null>(null);
  // A code to show on the Codes page (its notification was clicked).
  const [codeRequest, setCodeRequest] = useState<CodeRequest | null>(null);

  // Only the newest request's answer is shown: after a switch, what the previous service
  // answered late is dropped.
  const healthRequest = useRef(0);
  const refresh = useCallback(() => {
    const request = ++healthRequest.current;
    backend.healthSnapshot().then(
      (h) => {
        if (request !== healthRequest.current) return;
        setHealth(h);
        setHealthError(null);
      },
      (e) => request === healthRequest.current && setHealthError(errorMessage(e)),
    );
  }, [backend]);
  // The first Dashboard with the chains' health on screen: the app logs its start-up time.
  const painted = useRef(false);
  useEffect(() => {
    if (!health || painted.current) return;
    painted.current = true;
    requestAnimationFrame(() => void backend.dashboardPainted?.().catch(() => undefined));
  }, [health, backend]);
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

  // The log snapshot: what was read before the window opened (or the service was switched).
  // Only the newest request's answer is merged, once.
  const logRequest = useRef(0);
  const loadSnapshot = useCallback(() => {
    const request = ++logRequest.current;
    const key = (c: FallbackCode) => `${c.file}:${c.line}:${c.code}`;
    backend.logSnapshot().then(
      (s) => {
        if (request !== logRequest.current) return;
        const known = new Set(s.codes.map(key));
        setCodes((live) => [...s.codes, ...live.filter((c) => !known.has(key(c)))]);
        setDiagnostics((live) => [...s.diagnostics.filter((e) => e.kind !== "clock"), ...live]);
        setFiles(s.files);
        // A clock reported live since is newer than the snapshot's for that file.
        setClocks((live) => live.reduce(withClock, s.clocks));
        setSnapshotRead(true);
      },
      () => undefined,
    );
  }, [backend]);
  /** Drops what was read and reads it again. */
  const reloadLogs = useCallback(() => {
    setCodes([]);
    setDiagnostics([]);
    setClocks([]);
    loadSnapshot();
  }, [loadSnapshot]);

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
    loadSnapshot();
    // New settings restart the watcher, which reads the files again from their first line.
    const unlistenReset = backend.onLogReset(reloadLogs);
    return () => {
      unlistenChain.then((f) => f());
      unlistenDelivery.then((f) => f());
      unlistenLog.then((f) => f());
      unlistenReset.then((f) => f());
    };
  }, [backend, refresh, refreshToday, loadSnapshot, reloadLogs]);

  // The connection: as it is now, then every change. Another service has other health, codes
  // and transitions: what was shown is dropped at once and read from it (the backend answers
  // for it from the switch on), and read again once its events are followed.
  const shownConnection = useRef<Shown | null>(null);
  const loadWhenConnected = useRef(false);
  // The newest view wins: an event and a command's answer can arrive out of order.
  const latestRevision = useRef(-1);
  const showConnection = useCallback(
    (view: ConnectionsView) => {
      if (view.revision < latestRevision.current) return;
      latestRevision.current = view.revision;
      const now = shownOf(view);
      const before = shownConnection.current;
      shownConnection.current = now;
      setConnection(view);
      const waiting = now.active !== null && now.since === null;
      // The first view: what the window loaded when it opened is this connection's.
      if (before === null) {
        loadWhenConnected.current = waiting;
        return;
      }
      if (before.active !== now.active) {
        setHealth(null);
        setHealthError(null);
        setTransitions([]);
        setFiles([]);
        setToday(undefined);
        // Answers still on their way from the previous side are dropped too.
        reloadLogs();
        refresh();
        refreshToday();
        loadWhenConnected.current = waiting;
        return;
      }
      if (now.since === null || now.since === before.since) return;
      if (loadWhenConnected.current) {
        // First connected since the switch: what was read while connecting may have failed.
        loadWhenConnected.current = false;
        reloadLogs();
        refreshToday();
      }
      // Connected (again): its health may have moved meanwhile. After a gap its events are
      // replayed, so the codes stay.
      refresh();
    },
    [refresh, reloadLogs, refreshToday],
  );
  useEffect(() => {
    let heard = false;
    const unlisten = backend.onConnection((view) => {
      heard = true;
      showConnection(view);
    });
    backend.connections().then(
      (view) => heard || showConnection(view),
      (e) => setConnectionError(errorMessage(e)),
    );
    return () => {
      unlisten.then((f) => f());
    };
  }, [backend, showConnection]);
  const switchConnection = (name: string | null) =>
    backend.useConnection(name).then(
      (view) => {
        setConnectionError(null);
        showConnection(view);
      },
      (e) => setConnectionError(errorMessage(e)),
    );
  useEffect(() => {
    document.title = remote ? `msgops — ${remote}` : "msgops";
  }, [remote]);

  const consoleLog = status?.console_log;
  // The backend's own logs: the Console provider's log is always followed.
  const backendLogs = files.filter((f) => f !== consoleLog);
  const unconfigured = health !== null && nothingConfigured(health);

  // The guided start shows by itself once, on a start with nothing configured: no provider
  // key and no backend log (unless it was closed before).
  const guideDecided = useRef(false);
  useEffect(() => {
    if (guideDecided.current || !health || !status || !snapshotRead) return;
    guideDecided.current = true;
    if (remote === null && unconfigured && backendLogs.length === 0 && !guideDismissed()) setGuide(true);
  }, [health, status, snapshotRead, remote, unconfigured, backendLogs.length]);
  const closeGuide = () => {
    dismissGuide();
    setGuide(false);
  };

  /** Adds a log to the followed ones and saves the settings; resolves to what to say. */
  const followLog = useCallback(
    async (path: string): Promise<string> => {
      const settings = await backend.getSettings();
      if (settings.logs.follow.includes(path)) return `${path} is followed already.`;
      const saved = await backend.saveSettings({ ...settings, logs: { ...settings.logs, follow: [...settings.logs.follow, path] } });
      refresh();
      const warnings = saved.warnings.map((w) => w.message);
      return `Following ${path} now.${warnings.length > 0 ? ` Note: ${warnings.join("; ")}.` : ""}`;
    },
    [backend, refresh],
  );
  const pickAndFollow = async () => {
    try {
      const path = await backend.pickFile("log");
      if (path) setNotice(await followLog(path));
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  /** A .env to the Credentials page, which previews its import. */
  const showImport = (path: string) => {
    setImportFile({ path, n: ++handOvers.current });
    setPage("credentials");
  };
  const pickAndImport = async () => {
    try {
      const path = await backend.pickFile("env");
      if (path) showImport(path);
    } catch (e) {
      setError(errorMessage(e));
    }
  };
  const focusLater = (id: string) => setFocusWanted({ id, n: ++handOvers.current });
  useEffect(() => {
    if (!focusWanted) return;
    const el = document.getElementById(focusWanted.id);
    if (!el) return;
    el.focus();
    el.scrollIntoView?.({ block: "nearest" });
    setFocusWanted(null);
  }, [focusWanted, page, health]);
  const toTestSend = () => {
    setPage("dashboard");
    focusLater("test-send-to");
  };
  /** A test through the Console alone: its code is written to the Console's log, shown on Codes. */
  const consoleTest = async (): Promise<string> => {
    const result = await backend.sendTest({ channel: "sms", to: TEST_RECIPIENT, provider: "console" });
    const outcome = result.record.outcome;
    return outcome.status === "delivered"
      ? `Sent: the Console wrote code ${result.code} for ${TEST_RECIPIENT} to its log; it shows here in a moment.`
      : `Not delivered: ${outcome.reason}`;
  };

  // A file dropped on the window: into the guided start's step when it is open; otherwise a
  // .env is previewed on Credentials and a log joins the files to follow on Settings (to save).
  const handOver = useRef<(path: string) => void>(() => undefined);
  handOver.current = (path: string) => {
    const kind = fileKindOf(path);
    const n = ++handOvers.current;
    setHelp(false);
    if (guide) setDropped({ path, kind, n });
    else if (kind === "env") showImport(path);
    else {
      setAddFollow({ path, n });
      setPage("settings");
    }
  };
  useEffect(() => {
    const unlisten = backend.onFileDrop((drop) => {
      if (drop.kind === "hover") setFileHover(true);
      else {
        setFileHover(false);
        if (drop.kind === "drop" && drop.paths.length > 0) handOver.current(drop.paths[0]);
      }
    });
    return () => {
      unlisten.then((f) => f());
    };
  }, [backend]);

  // The backend puts the window on the Codes page: on a code whose notification was clicked,
  // or on the search (the global shortcut).
  useEffect(() => {
    const unlisten = backend.onOpenCodes((open) => {
      setHelp(false);
      setPage("codes");
      if (open.code !== null) setCodeRequest({ code: open.code, recipient: open.recipient, n: ++handOvers.current });
      else setFocusWanted({ id: "codes-search", n: ++handOvers.current });
    });
    return () => {
      unlisten.then((f) => f());
    };
  }, [backend]);

  const dialogOpen = help || guide;
  useShortcuts({
    enabled: !dialogOpen,
    onHelp: () => setHelp(true),
    onPage: setPage,
    onSearch: () => {
      setPage("codes");
      focusLater("codes-search");
    },
  });

  return (
    <>
    <div className="app" inert={dialogOpen}>
      <header className={`topbar${remote ? " topbar-remote" : ""}`}>
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
        <ConnectionSwitcher view={connection} onUse={switchConnection} />
        {status && <span className="version">v{status.version}</span>}
        <button type="button" className="secondary help-button" onClick={() => setHelp(true)} aria-label="Keyboard shortcuts" title="Keyboard shortcuts (?)" data-testid="help-button">
          ?
        </button>
      </header>
      {notice && (
        <p className="banner banner-ok banner-dismissible" role="status" data-testid="app-notice">
          <span>{notice}</span>
          <button type="button" className="link-button" onClick={() => setNotice(null)}>
            Dismiss
          </button>
        </p>
      )}
      {connectionError && (
        <p className="banner banner-error" role="alert" data-testid="connection-switch-error">
          {connectionError}
        </p>
      )}
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
      {healthError && (
        <p className="banner banner-error" role="alert" data-testid="health-error">
          Provider health{remote ? ` from ${remote}` : ""} not read: {healthError}
        </p>
      )}
      {remote && LOCAL_ONLY[page] && (
        <p className="banner banner-note" data-testid="local-only-note">
          The window is on {remote}, but this page shows this computer's {LOCAL_ONLY[page]}, not {remote}'s.
        </p>
      )}
      {page === "dashboard" && (
        <main>
          {unconfigured && !remote && (
            <GettingStarted onGuide={() => setGuide(true)} onImportEnv={pickAndImport} onFollowLog={pickAndFollow} onSendTest={() => focusLater("test-send-to")} followsLog={backendLogs.length > 0} />
          )}
          <div className="dash-main">
          {health ? (
            <Dashboard
              health={health}
              // Over a remote connection, the switch and the counts are the remote service's.
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
          ) : remote && connection?.status.state === "disconnected" ? (
            <p className="muted" data-testid="health-waiting">
              No provider health from {remote} yet: {connection.status.reason}.
            </p>
          ) : (
            <p aria-busy="true">{remote ? `Loading provider health from ${remote}…` : "Loading provider health…"}</p>
          )}
          {/* Kept in this computer's history: a remote service's own is not read (yet). */}
          {!remote && <ProviderTimelineStrip backend={backend} reload={transitions.length} />}
          </div>
          <aside className="side">
            <TestSend
              key={remote ?? ""}
              backend={backend}
              remote={remote}
              // A remote service's test send goes through its whole chain.
              providers={remote ? {} : { sms: health?.sms_providers.map((p) => p.id), email: health?.email_providers.map((p) => p.id) }}
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
              <h2 id="operations-title">{localTitle("On-call operations", remote !== null)}</h2>
              {remote && <p className="hint">Breaker resets, trials and probes on {remote} are in its own audit.</p>}
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
          <Codes
            codes={codes}
            files={files}
            clocks={clocks}
            copyText={backend.copyText}
            consoleLog={consoleLog}
            onFollowLog={remote ? undefined : pickAndFollow}
            onSendTest={remote ? undefined : consoleTest}
            show={codeRequest}
          />
        </main>
      )}
      {page === "history" && (
        <main className="single">
          <Suspense fallback={<p aria-busy="true">Loading history…</p>}>
            <History key={remote ?? ""} backend={backend} remote={remote} onSendTest={toTestSend} />
          </Suspense>
        </main>
      )}
      {page === "credentials" && (
        <main className="single">
          <Credentials backend={backend} rotate={rotate} importFile={importFile} remote={remote !== null} />
        </main>
      )}
      {page === "settings" && (
        <main className="single">
          <Settings backend={backend} configPath={status?.config_path} onSaved={refresh} remote={remote !== null} addFollow={addFollow} onShowGuide={() => setGuide(true)} />
        </main>
      )}
      {page === "connections" && (
        <main className="single">
          <Connections backend={backend} view={connection} onView={showConnection} />
        </main>
      )}
    </div>
    {fileHover &&
      createPortal(
        <div className="drop-overlay" data-testid="drop-overlay" aria-hidden="true">
          <p>Drop a .env to preview its import, or a log file to follow it</p>
        </div>,
        document.body,
      )}
    {help && createPortal(<KeyboardHelp onClose={() => setHelp(false)} />, document.body)}
    {guide &&
      !help &&
      createPortal(
        <GuidedStart
          backend={backend}
          followed={backendLogs}
          codes={codes}
          consoleLog={consoleLog}
          dropped={dropped}
          onFollow={followLog}
          onOpenCodes={() => {
            closeGuide();
            setPage("codes");
          }}
          onClose={closeGuide}
        />,
        document.body,
      )}
    </>
  );
}
