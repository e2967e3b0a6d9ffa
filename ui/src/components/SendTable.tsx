import type { ProviderKind } from "../bindings/ProviderKind";
import { useCallback, useEffect, useMemo, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { Channel } from "../bindings/Channel";
import type { HistoryFilter } from "../bindings/HistoryFilter";
import type { HistoryPage } from "../bindings/HistoryPage";
import type { OriginKind } from "../bindings/OriginKind";
import type { OutcomeFilter } from "../bindings/OutcomeFilter";
import type { RecordedSend } from "../bindings/RecordedSend";
import type { SendOrigin } from "../bindings/SendOrigin";
import type { SendOutcome } from "../bindings/SendOutcome";
import { CHAIN, CHANNEL_LABEL, formatCount, formatLatency, formatUsd, providerName, remoteTitle } from "../format";
import { AttemptTimeline } from "./AttemptTimeline";
import { DeliveryBadge, DeliveryTimeline, deliveriesByMessage, deliveryOf, type Deliveries } from "./DeliveryTimeline";

export const PAGE_SIZE = 100;
/** How long the search (recipient or receipt) waits for typing to pause. */
export const SEARCH_DEBOUNCE_MS = 300;

type Narrowing = Pick<HistoryFilter, "channel" | "provider" | "outcome" | "origin" | "search">;

const OUTCOME_LABEL: Record<OutcomeFilter, string> = {
  delivered: "Delivered",
  failed: "Failed",
  failed_over: "Failed over",
};

const ORIGIN_LABEL: Record<OriginKind, string> = {
  app: "This app",
  service: "msgops serve",
};

/** Which process made the send, for people: "msgops serve on ops-box (process 4242)". */
export function originText(origin: SendOrigin): string {
  const who = origin.kind === "service" ? "msgops serve" : "the app";
  const where = origin.host ? ` on ${origin.host}` : "";
  const process = origin.pid !== null ? ` (process ${origin.pid})` : "";
  return `${who}${where}${process}`;
}

/** Delivered, but not by the first provider able to take it (as `failed_over_from` in crates/history). */
export function failedOver(outcome: SendOutcome): boolean {
  return (
    outcome.status === "delivered" &&
    (outcome.attempts.some((a) => a.outcome === "failed") ||
      outcome.skipped.some((s) => s.reason !== "disabled" && s.reason !== "not_configured"))
  );
}

/** Drops the fields left at "any", so the backend sees only what narrows. */
function compact(n: Narrowing): Narrowing {
  return Object.fromEntries(Object.entries(n).filter(([, v]) => v !== undefined && v !== "")) as Narrowing;
}

function SendFilters({ narrowing, onChange }: { narrowing: Narrowing; onChange: (n: Narrowing) => void }) {
  const [search, setSearch] = useState(narrowing.search ?? "");
  useEffect(() => {
    const wanted = search.trim() || undefined;
    if (wanted === narrowing.search) return;
    const t = setTimeout(() => onChange({ ...narrowing, search: wanted }), SEARCH_DEBOUNCE_MS);
    return () => clearTimeout(t);
  }, [search, narrowing, onChange]);

  const providers = narrowing.channel ? CHAIN[narrowing.channel] : [...CHAIN.sms, ...CHAIN.email];
  return (
    <form className="send-filters" role="search" aria-label="Filter sends" onSubmit={(e) => e.preventDefault()}>
      <label>
        Channel
        <select
          value={narrowing.channel ?? ""}
          onChange={(e) => {
            const channel = (e.target.value || undefined) as Channel | undefined;
            const provider = channel && narrowing.provider && !CHAIN[channel].includes(narrowing.provider) ? undefined : narrowing.provider;
            onChange({ ...narrowing, channel, provider });
          }}
        >
          <option value="">Any channel</option>
          {(Object.keys(CHANNEL_LABEL) as Channel[]).map((c) => (
            <option key={c} value={c}>
              {CHANNEL_LABEL[c]}
            </option>
          ))}
        </select>
      </label>
      <label>
        Provider
        <select value={narrowing.provider ?? ""} onChange={(e) => onChange({ ...narrowing, provider: (e.target.value || undefined) as ProviderKind | undefined })}>
          <option value="">Any provider</option>
          {providers.map((p) => (
            <option key={p} value={p}>
              {providerName(p)}
            </option>
          ))}
        </select>
      </label>
      <label>
        Outcome
        <select
          value={narrowing.outcome ?? ""}
          onChange={(e) => onChange({ ...narrowing, outcome: (e.target.value || undefined) as OutcomeFilter | undefined })}
        >
          <option value="">Any outcome</option>
          {(Object.keys(OUTCOME_LABEL) as OutcomeFilter[]).map((o) => (
            <option key={o} value={o}>
              {OUTCOME_LABEL[o]}
            </option>
          ))}
        </select>
      </label>
      <label>
        Origin
        <select value={narrowing.origin ?? ""} onChange={(e) => onChange({ ...narrowing, origin: (e.target.value || undefined) as OriginKind | undefined })}>
          <option value="">Any origin</option>
          {(Object.keys(ORIGIN_LABEL) as OriginKind[]).map((o) => (
            <option key={o} value={o}>
              {ORIGIN_LABEL[o]}
            </option>
          ))}
        </select>
      </label>
      <label className="send-filters-recipient">
        Recipient or receipt
        <input type="search" value={search} onChange={(e) => setSearch(e.target.value)} placeholder="Any part of a number, an address or a provider's receipt id" />
      </label>
    </form>
  );
}

/** The attempt that delivered the send: the delivering provider's call that succeeded. */
function deliveringAttempt(outcome: SendOutcome) {
  if (outcome.status !== "delivered") return undefined;
  return outcome.attempts.find((a) => a.outcome === "delivered" && a.provider === outcome.provider);
}

function OutcomeCell({ outcome, deliveries }: { outcome: SendOutcome; deliveries: Deliveries }) {
  if (outcome.status === "failed") return <span className="outcome-failed">Failed: {outcome.reason}</span>;
  const attempt = deliveringAttempt(outcome);
  const delivery = attempt && deliveryOf(deliveries, attempt);
  return (
    <span>
      Delivered by {providerName(outcome.provider)}
      {failedOver(outcome) && <span className="badge badge-warn">failed over</span>}
      {delivery && <DeliveryBadge delivery={delivery} />}
    </span>
  );
}

function SendRow({ record, id, open, onToggle, deliveries }: { record: RecordedSend; id: string; open: boolean; onToggle: () => void; deliveries: Deliveries }) {
  const time = new Date(record.started_at).toLocaleString();
  const cost = record.outcome.attempts.reduce((sum, a) => sum + a.cost_usd, 0);
  const reported = record.outcome.attempts.flatMap((attempt) => {
    const delivery = deliveryOf(deliveries, attempt);
    return delivery ? [{ attempt, delivery }] : [];
  });
  // The send ended when its provider accepted the message.
  const ended = Date.parse(record.started_at) + record.duration_ms;
  const acceptedAt = reported.length > 0 && Number.isFinite(ended) ? new Date(ended).toISOString() : null;
  return (
    <>
      <tr className={`send-row send-${record.outcome.status}`}>
        <td>
          <button type="button" className="row-toggle" aria-expanded={open} aria-controls={id} onClick={onToggle}>
            <span aria-hidden="true">{open ? "▾" : "▸"}</span>
            <span className="visually-hidden">Attempts for the send to {record.recipient} at {time}</span>
          </button>
        </td>
        <td>
          <time dateTime={record.started_at}>{time}</time>
          {record.origin.kind === "service" && (
            <span className="badge badge-origin" title={`Sent by ${originText(record.origin)}`}>
              service
            </span>
          )}
        </td>
        <td>{CHANNEL_LABEL[record.channel]}</td>
        <td className="mono">{record.recipient}</td>
        <td>
          <OutcomeCell outcome={record.outcome} deliveries={deliveries} />
        </td>
        <td className="num">{formatLatency(record.duration_ms)}</td>
        <td className="num">{formatUsd(cost)}</td>
      </tr>
      {open && (
        <tr id={id} className="send-attempts">
          <td />
          <td colSpan={6}>
            <AttemptTimeline attempts={record.outcome.attempts} skipped={record.outcome.skipped} />
            {reported.map(({ attempt, delivery }, i) => (
              <DeliveryTimeline key={i} attempt={attempt} delivery={delivery} acceptedAt={attempt.outcome === "delivered" ? acceptedAt : null} />
            ))}
            <p className="send-origin muted">Sent by {originText(record.origin)}</p>
          </td>
        </tr>
      )}
    </>
  );
}

function Pager({ offset, shown, total, onOffset }: { offset: number; shown: number; total: number; onOffset: (o: number) => void }) {
  return (
    <div className="pager">
      <button type="button" disabled={offset === 0} onClick={() => onOffset(Math.max(0, offset - PAGE_SIZE))}>
        Newer
      </button>
      <span aria-live="polite" data-testid="page-range">
        {formatCount(offset + 1)}–{formatCount(offset + shown)} of {formatCount(total)}
      </span>
      <button type="button" disabled={offset + PAGE_SIZE >= total} onClick={() => onOffset(offset + PAGE_SIZE)}>
        Older
      </button>
    </div>
  );
}

const keyOf = (r: RecordedSend) => `${r.started_at}|${r.channel}|${r.recipient}|${r.origin.host}|${r.origin.pid}`;

/** The sends, newest first, filtered and paged by the backend. */
export function SendTable({
  backend,
  reload,
  remote = null,
  onSendTest,
}: {
  backend: Backend;
  reload: number;
  /** The remote service whose sends these are, or null for this computer's. */
  remote?: string | null;
  /** Offered while there is no send at all: takes the operator to a test send. */
  onSendTest?: () => void;
}) {
  const [narrowing, setNarrowing] = useState<Narrowing>({});
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState<HistoryPage | null>(null);
  const [loading, setLoading] = useState(true);
  const [error, setError] = useState<string | null>(null);
  const [open, setOpen] = useState<Set<string>>(new Set());
  const deliveries = useMemo(() => deliveriesByMessage(page?.deliveries ?? []), [page]);

  useEffect(() => {
    let current = true;
    setLoading(true);
    backend.sendHistory({ ...compact(narrowing), limit: PAGE_SIZE, offset }).then(
      (p) => {
        if (!current) return;
        setPage(p);
        setError(null);
        setLoading(false);
      },
      (e) => {
        if (!current) return;
        setError(errorMessage(e));
        setLoading(false);
      },
    );
    return () => {
      current = false;
    };
  }, [backend, narrowing, offset, reload]);

  const narrow = useCallback((n: Narrowing) => {
    setNarrowing(n);
    setOffset(0);
  }, []);
  const toggle = (key: string) =>
    setOpen((o) => {
      const next = new Set(o);
      if (!next.delete(key)) next.add(key);
      return next;
    });
  const filtered = Object.keys(compact(narrowing)).length > 0;

  return (
    <section aria-labelledby="sends-title" className="sends">
      <h2 id="sends-title">{remoteTitle("Sends", remote)}</h2>
      <SendFilters narrowing={narrowing} onChange={narrow} />
      {error && (
        <p className="form-error" role="alert">
          Could not load the sends: {error}
        </p>
      )}
      {!page && loading && <p aria-busy="true">Loading sends…</p>}
      {page && page.total === 0 && (
        <div className={filtered || !onSendTest ? undefined : "empty-state"}>
          <p className="muted" data-testid="sends-empty">
            {filtered ? "No sends match these filters." : "No sends yet — use Test send on the Dashboard."}
          </p>
          {!filtered && onSendTest && (
            <button type="button" onClick={onSendTest} data-testid="sends-empty-test">
              Send a test
            </button>
          )}
        </div>
      )}
      {page && page.total > 0 && (
        <>
          <table className="data-table sends-table" aria-labelledby="sends-title" aria-busy={loading}>
            <thead>
              <tr>
                <th scope="col">
                  <span className="visually-hidden">Attempts</span>
                </th>
                <th scope="col">Time</th>
                <th scope="col">Channel</th>
                <th scope="col">Recipient</th>
                <th scope="col">Outcome</th>
                <th scope="col" className="num">
                  Latency
                </th>
                <th scope="col" className="num">
                  Cost
                </th>
              </tr>
            </thead>
            <tbody>
              {page.sends.map((r, i) => {
                const key = keyOf(r);
                return <SendRow key={key} id={`send-attempts-${offset + i}`} record={r} open={open.has(key)} onToggle={() => toggle(key)} deliveries={deliveries} />;
              })}
            </tbody>
          </table>
          <Pager offset={offset} shown={page.sends.length} total={page.total} onOffset={setOffset} />
        </>
      )}
    </section>
  );
}
