import { useEffect, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { FailoverRoute } from "../bindings/FailoverRoute";
import type { HistorySummary } from "../bindings/HistorySummary";
import { formatCount, formatUsd, providerName, remoteTitle } from "../format";
import { CostChart } from "./CostChart";
import { SendTable } from "./SendTable";

const WINDOWS = [7, 30, 90];
/**
 * How often the page asks again while it is shown: sends made by a `msgops serve` on this
 * machine reach the history without an event in this window.
 */
export const HISTORY_POLL_MS = 15_000;

function SummaryStrip({ summary }: { summary: HistorySummary }) {
  const facts: [string, string][] = [
    ["Sends", formatCount(summary.sends)],
    ["Delivered", formatCount(summary.delivered)],
    ["Failed", formatCount(summary.failed)],
    ["Failed over", formatCount(summary.failed_over)],
    ["Total cost", formatUsd(summary.total_cost_usd)],
  ];
  return (
    <dl className="summary-strip" data-testid="history-summary">
      {facts.map(([term, value]) => (
        <div key={term}>
          <dt>{term}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

function FailoverRoutes({ routes }: { routes: FailoverRoute[] }) {
  return (
    <section aria-labelledby="failovers-title" className="history-panel">
      <h3 id="failovers-title">Failovers</h3>
      {routes.length === 0 ? (
        <p className="muted">No send had to fail over in this window.</p>
      ) : (
        <ol className="routes" data-testid="failover-routes">
          {routes.map((r) => (
            <li key={`${r.from}-${r.to}`}>
              {providerName(r.from)} → {providerName(r.to)}: <strong>{formatCount(r.count)}</strong>
            </li>
          ))}
        </ol>
      )}
    </section>
  );
}

/** Totals, cost per day and failovers over a window of days the operator picks. */
function HistoryOverview({ backend, reload, remote }: { backend: Backend; reload: number; remote: string | null }) {
  const [days, setDays] = useState(30);
  const [summary, setSummary] = useState<HistorySummary | null>(null);
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    let current = true;
    backend.historySummary(days).then(
      (s) => {
        if (!current) return;
        setSummary(s);
        setError(null);
      },
      (e) => current && setError(errorMessage(e)),
    );
    return () => {
      current = false;
    };
  }, [backend, days, reload]);

  return (
    <section aria-labelledby="overview-title" className="history-overview">
      <div className="history-heading">
        <h2 id="overview-title">{remoteTitle("Sends and cost", remote)}</h2>
        <label>
          Window
          <select value={days} onChange={(e) => setDays(Number(e.target.value))}>
            {WINDOWS.map((d) => (
              <option key={d} value={d}>
                Last {d} days
              </option>
            ))}
          </select>
        </label>
      </div>
      {error && (
        <p className="form-error" role="alert">
          Could not load the summary: {error}
        </p>
      )}
      {!summary && !error && <p aria-busy="true">Loading the summary…</p>}
      {summary && (
        <>
          <SummaryStrip summary={summary} />
          <div className="history-grid">
            <section aria-labelledby="cost-title" className="history-panel">
              <h3 id="cost-title">Cost per provider per day</h3>
              <CostChart since={summary.since} days={summary.days} entries={summary.cost_per_day} />
            </section>
            <FailoverRoutes routes={summary.failover_routes} />
          </div>
        </>
      )}
    </section>
  );
}

/**
 * Every send the app and any `msgops serve` on this machine have made, with what it cost and
 * where it failed over. Live.
 */
export function History({
  backend,
  pollMs = HISTORY_POLL_MS,
  remote = null,
  onSendTest,
}: {
  backend: Backend;
  pollMs?: number;
  /** Takes the operator to a test send (offered while there is no send yet). */
  onSendTest?: () => void;
  /** The remote service the window is on (its history is shown), or null for this computer. */
  remote?: string | null;
}) {
  // Bumped by each finished send and, while the window is in view, every `pollMs`: both
  // halves fetch again.
  const [reload, setReload] = useState(0);
  // Bumped by each arrival of delivery reports: only the sends (their badges and timelines)
  // change, not the totals.
  const [reported, setReported] = useState(0);
  useEffect(() => {
    const unlisten = backend.onChainEvent((event) => {
      if (event.kind === "send_finished") setReload((n) => n + 1);
    });
    // A provider told what became of messages: their badges and timelines change.
    const unlistenDelivery = backend.onDeliveryReports(() => setReported((n) => n + 1));
    return () => {
      unlisten.then((f) => f());
      unlistenDelivery.then((f) => f());
    };
  }, [backend]);
  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") setReload((n) => n + 1);
    }, pollMs);
    return () => clearInterval(timer);
  }, [pollMs]);

  return (
    <div className="history">
      <HistoryOverview backend={backend} reload={reload} remote={remote} />
      <SendTable backend={backend} reload={reload + reported} remote={remote} onSendTest={onSendTest} />
    </div>
  );
}
