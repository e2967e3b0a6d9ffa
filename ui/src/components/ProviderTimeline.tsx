import { useEffect, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { ProviderState } from "../bindings/ProviderState";
import type { ProviderTimeline as Timeline } from "../bindings/ProviderTimeline";
import type { ProviderTimelines } from "../bindings/ProviderTimelines";
import type { StateSpan } from "../bindings/StateSpan";
import { providerName } from "../format";

/** The windows the strip offers, in hours. */
export const TIMELINE_WINDOWS: [number, string][] = [
  [24, "Last 24 hours"],
  [24 * 7, "Last 7 days"],
];

/** How often the strip is read again while shown. */
export const TIMELINE_POLL_MS = 30_000;

const STATE_WORD: Record<ProviderState, string> = {
  CLOSED: "closed",
  OPEN: "open",
  HALF_OPEN: "half-open",
  DISABLED: "disabled",
};

function time(iso: string, long: boolean): string {
  const d = new Date(iso);
  return long ? d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" }) : d.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" });
}

/** One span in words: "OPEN 14:02–14:09: 5 consecutive failures; 12 sends failed over". */
export function describeSpan(span: StateSpan, long = false): string {
  const parts = [`${STATE_WORD[span.state]} ${time(span.from, long)}–${time(span.until, long)}`];
  const why = [span.reason];
  if (span.failed_over > 0) why.push(`${span.failed_over} send${span.failed_over === 1 ? "" : "s"} failed over`);
  if (span.probes_failed > 0) why.push(`${span.probes_failed} failed probe${span.probes_failed === 1 ? "" : "s"}`);
  return `${parts.join("")}: ${why.filter(Boolean).join("; ")}`;
}

function Row({ timeline, since, until, long }: { timeline: Timeline; since: number; until: number; long: boolean }) {
  const total = Math.max(until - since, 1);
  const name = providerName(timeline.provider);
  const where = timeline.instance.kind === "service" ? ` (msgops serve${timeline.instance.host ? ` on ${timeline.instance.host}` : ""})` : "";
  const open = timeline.spans.filter((s) => s.state === "OPEN");
  return (
    <li className="timeline-row" data-testid={`timeline-${timeline.provider}`}>
      <span className="timeline-name">
        {name}
        {where && <span className="muted">{where}</span>}
      </span>
      <span className="timeline-strip" role="img" aria-label={`${name}: ${timeline.spans.map((s) => describeSpan(s, long)).join(". ")}`}>
        {timeline.spans.map((span, i) => {
          const from = Math.max(Date.parse(span.from), since);
          const to = Math.min(Date.parse(span.until), until);
          const width = (Math.max(to - from, 0) / total) * 100;
          return (
            <span
              key={i}
              className={`timeline-span timeline-${span.state.toLowerCase().replace("_", "-")}`}
              style={{ left: `${((from - since) / total) * 100}%`, width: `${width}%` }}
              title={describeSpan(span, long)}
              data-state={span.state}
            />
          );
        })}
      </span>
      <span className="timeline-figures" data-testid="availability">
        {timeline.availability_percent === null ? "disabled" : `${timeline.availability_percent.toFixed(timeline.availability_percent >= 99.95 ? 0 : 1)}% available`}
        {open.length > 0 && (
          <span className="muted">
            {" "}
            · {open.length} outage{open.length === 1 ? "" : "s"}, {timeline.failed_over_while_open} failed over
          </span>
        )}
      </span>
    </li>
  );
}

/**
 * Each provider's state over the last 24 hours or 7 days (CLOSED / OPEN / HALF_OPEN /
 * disabled) as a strip, with its availability and the sends that failed over while it was
 * OPEN: after an outage, on-call sees what happened even though the window was not open.
 */
export function ProviderTimelineStrip({ backend, reload = 0, pollMs = TIMELINE_POLL_MS }: { backend: Backend; reload?: number; pollMs?: number }) {
  const [hours, setHours] = useState(24);
  const [timelines, setTimelines] = useState<ProviderTimelines | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [tick, setTick] = useState(0);

  useEffect(() => {
    const timer = setInterval(() => {
      if (document.visibilityState === "visible") setTick((n) => n + 1);
    }, pollMs);
    return () => clearInterval(timer);
  }, [pollMs]);

  useEffect(() => {
    let current = true;
    backend.providerTimeline(hours).then(
      (t) => {
        if (!current) return;
        setTimelines(t);
        setError(null);
      },
      (e) => current && setError(errorMessage(e)),
    );
    return () => {
      current = false;
    };
  }, [backend, hours, reload, tick]);

  const since = timelines ? Date.parse(timelines.since) : 0;
  const until = timelines ? Date.parse(timelines.until) : 0;
  return (
    <section className="provider-timeline" aria-labelledby="timeline-title" data-testid="states-timeline">
      <div className="history-heading">
        <h2 id="timeline-title">Provider states</h2>
        <label>
          Window
          <select value={hours} onChange={(e) => setHours(Number(e.target.value))} data-testid="timeline-window">
            {TIMELINE_WINDOWS.map(([h, label]) => (
              <option key={h} value={h}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </div>
      {error ? (
        <p className="muted" data-testid="timeline-error">
          {error}
        </p>
      ) : !timelines ? (
        <p aria-busy="true">Reading the providers' states…</p>
      ) : timelines.providers.length === 0 ? (
        <p className="muted">No provider has a recorded state in this window yet: states are kept from the first start of this version on.</p>
      ) : (
        <>
          <ul className="timeline-rows">
            {timelines.providers.map((t) => (
              <Row key={`${t.instance.kind}-${t.instance.host ?? ""}-${t.provider}`} timeline={t} since={since} until={until} long={hours > 24} />
            ))}
          </ul>
          <p className="timeline-legend muted">
            <span className="timeline-key timeline-closed" /> closed <span className="timeline-key timeline-half-open" /> half-open <span className="timeline-key timeline-open" /> open{" "}
            <span className="timeline-key timeline-disabled" /> disabled · {time(timelines.since, true)} to {time(timelines.until, true)}
          </p>
        </>
      )}
    </section>
  );
}
