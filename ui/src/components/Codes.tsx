import { Fragment, useEffect, useMemo, useRef, useState } from "react";
import { observeElementRect, useVirtualizer } from "@tanstack/react-virtual";
import type { Rect } from "@tanstack/react-virtual";
import type { FallbackCode } from "../bindings/FallbackCode";
import type { LogClockInfo } from "../bindings/LogClockInfo";
import { clockLine, codeWhen, formatCountdown, isUncertain, recipientLabel } from "../format";
import { codesZone } from "../zone";
import { errorMessage } from "../api/backend";

/** A code to bring into view: searched by its recipient, its row marked. `n` counts requests. */
export interface CodeRequest {
  code: string;
  recipient: string | null;
  n: number;
}

/** Every row has this height (CSS `.code-row` plus the gap), so the list never measures rows. */
export const ROW_HEIGHT = 64;

/** What a search compares: no spaces, dashes or parentheses, lower case. */
export function normalise(text: string): string {
  return text.replace(/[\s()-]/g, "").toLowerCase();
}

/** Between the candidates of one code, so a search never matches across two of them. */
const APART = "\u0000";

/** What a search looks in: the certain recipient, or every candidate, normalised. */
export function searchKey(code: FallbackCode): string {
  if (code.candidates.length === 0) return normalise(code.recipient ?? "");
  return [code.recipient, ...code.candidates]
    .filter((r): r is string => r !== null)
    .map(normalise)
    .join(APART);
}

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

/** Who the code is for; when the log cannot tell which of several, it says so in words. */
function Recipient({ code }: { code: FallbackCode }) {
  const label = recipientLabel(code);
  if (isUncertain(code)) {
    return (
      <span className="code-recipient code-uncertain" data-uncertain="true" title={`Uncertain: several requests were waiting and the log does not say which this code is for. It is for ${label}.`}>
        <strong className="uncertain-label">uncertain</strong> for one of{" "}
        {/* The same words as `recipientLabel`, each number kept whole when the line wraps. */}
        {code.candidates.map((c, i) => (
          <Fragment key={i}>
            {i > 0 && ", "}
            <span className="candidate">{c}</span>
          </Fragment>
        ))}
      </span>
    );
  }
  return (
    <span className={`code-recipient${code.recipient === null ? " muted" : ""}`} title={label}>
      {label}
    </span>
  );
}

/** The zone of every time on the page (this computer's), and how the logs' zones relate to it. */
function ZoneLine({ clocks }: { clocks: LogClockInfo[] }) {
  // Read again each minute: a DST change moves the offset.
  const now = useNow(60_000);
  const zone = codesZone(clocks, new Date(now));
  return (
    <p className="codes-zone" data-testid="codes-zone" data-converted={zone.converted}>
      <strong>{zone.shown}</strong>: {zone.detail}.
    </p>
  );
}

/** Which clock each file's times are read in, and why (from the log watcher). */
function LogClocks({ clocks }: { clocks: LogClockInfo[] }) {
  if (clocks.length === 0) return null;
  return (
    <ul className="log-clocks" data-testid="log-clocks">
      {clocks.map((c) => (
        <li key={c.file} className={`log-clock clock-${c.basis}`} data-testid="log-clock">
          {clocks.length > 1 && <span className="mono">{c.file}: </span>}
          {clockLine(c)}
        </li>
      ))}
    </ul>
  );
}

export function CodeRow({
  code,
  now,
  onCopy,
  position,
  setSize,
  offset,
  selected = false,
}: {
  code: FallbackCode;
  now: number;
  onCopy: (c: FallbackCode) => void;
  position: number;
  setSize: number;
  offset: number;
  /** The code asked for (from its notification). */
  selected?: boolean;
}) {
  // An instant (RFC 3339, UTC): the same moment whatever zone this computer is in.
  const expiresAt = code.expires_at === null ? null : Date.parse(code.expires_at);
  const left = expiresAt === null || Number.isNaN(expiresAt) ? 0 : expiresAt - now;
  const expired = code.expired || left <= 0;
  const when = codeWhen(code);
  return (
    <li
      className={`code-row${expired ? " code-expired" : ""}${selected ? " code-selected" : ""}`}
      data-testid="code-row"
      data-expired={expired}
      data-selected={selected || undefined}
      aria-current={selected || undefined}
      aria-posinset={position}
      aria-setsize={setSize}
      style={{ transform: `translateY(${offset}px)` }}
    >
      <span className="code-value" aria-label={`code ${code.code.split("").join(" ")}`}>
        {code.code}
      </span>
      <Recipient code={code} />
      <span className="code-expiry">
        {expired ? <strong className="expired-label">Expired</strong> : <>expires in {formatCountdown(left)}</>}
      </span>
      <span className={`code-when muted${when.note ? " code-when-approximate" : ""}`} title={when.title} data-time={code.time} data-testid="code-when">
        {when.text}
        {when.note && <small className="code-when-note">{when.note}</small>}
      </span>
      <button type="button" onClick={() => onCopy(code)} disabled={expired} aria-label={expired ? "Expired code cannot be copied" : `Copy code ${code.code}`}>
        Copy
      </button>
    </li>
  );
}

const webClipboard = (text: string) => navigator.clipboard.writeText(text);

const count = (n: number, one: string, many: string) => `${n.toLocaleString("en-US")} ${n === 1 ? one : many}`;

export function Codes({
  codes,
  files,
  clocks,
  copyText = webClipboard,
  initialRect,
  consoleLog,
  onFollowLog,
  onSendTest,
  show,
}: {
  /** Oldest first, as the log snapshot and the live events deliver them. */
  codes: FallbackCode[];
  files: string[];
  /** Which clock each followed file's timestamps are read in. */
  clocks: LogClockInfo[];
  copyText?: (text: string) => Promise<void>;
  /**
   * Size of the scrolling area while it has none. Only for environments without layout
   * (jsdom), where the virtualiser would otherwise draw no row at all.
   */
  initialRect?: Rect;
  /** The Console provider's own log, which is always followed: not a backend log. */
  consoleLog?: string;
  /** Picks a backend log and follows it (absent over a remote connection). */
  onFollowLog?: () => void;
  /** Sends a test through the Console provider, whose code then shows here; resolves to what to say. */
  onSendTest?: () => Promise<string>;
  /** A code to bring into view (searched by its recipient, its row marked), once per request. */
  show?: CodeRequest | null;
}) {
  const [query, setQuery] = useState("");
  const [selected, setSelected] = useState<{ code: string; recipient: string | null } | null>(null);
  const shownRequest = useRef(0);
  useEffect(() => {
    if (!show || shownRequest.current === show.n) return;
    shownRequest.current = show.n;
    setQuery(show.recipient ?? "");
    setSelected({ code: show.code, recipient: show.recipient });
  }, [show]);
  const [copied, setCopied] = useState<string | null>(null);
  const [sent, setSent] = useState<string | null>(null);
  const [sending, setSending] = useState(false);
  const backendLogs = files.filter((f) => f !== consoleLog);
  const now = useNow(1000);
  const scrollRef = useRef<HTMLDivElement>(null);

  // Normalised once per list change, not once per keystroke.
  const recipients = useMemo(() => codes.map(searchKey), [codes]);
  const q = normalise(query).replaceAll(APART, "");
  // Indices into `codes`, newest first; null when there is no search (then row i is the
  // i-th from the end, and nothing is copied).
  const matches = useMemo(() => {
    if (q === "") return null;
    const found: number[] = [];
    for (let i = recipients.length - 1; i >= 0; i--) if (recipients[i].includes(q)) found.push(i);
    return found;
  }, [recipients, q]);
  const shown = matches ? matches.length : codes.length;
  const codeAt = (row: number) => codes[matches ? matches[row] : codes.length - 1 - row];

  const virtualizer = useVirtualizer({
    count: shown,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => ROW_HEIGHT,
    overscan: 6,
    initialRect,
    observeElementRect: initialRect
      ? (instance, cb) => observeElementRect(instance, (rect) => cb(rect.height > 0 ? rect : initialRect))
      : observeElementRect,
  });

  // A new search starts at the newest match.
  useEffect(() => {
    if (scrollRef.current) scrollRef.current.scrollTop = 0;
  }, [q]);

  async function sendTest() {
    if (!onSendTest) return;
    setSending(true);
    try {
      setSent(await onSendTest());
    } catch (e) {
      setSent(`Not sent: ${errorMessage(e)}`);
    } finally {
      setSending(false);
    }
  }

  async function copy(code: FallbackCode) {
    try {
      await copyText(code.code);
      const who = recipientLabel(code);
      setCopied(code.recipient === null && code.candidates.length === 0 ? `Copied ${code.code} (${who})` : `Copied ${code.code} for ${who}`);
    } catch {
      setCopied("Could not copy: select the code and copy it by hand");
    }
  }

  return (
    <section className="codes" aria-labelledby="codes-title">
      <h2 id="codes-title">Fallback codes</h2>
      {backendLogs.length === 0 ? (
        <div className="empty-state" data-testid="codes-no-log">
          <p>
            No backend log is followed yet: the codes your backend writes to its log show here once it is
            {consoleLog ? <> (the codes of msgops&apos; own Console provider already do)</> : null}.
            {!onFollowLog && " Add one under Settings, Backend logs."}
          </p>
          {onFollowLog && (
            <button type="button" onClick={onFollowLog} data-testid="codes-follow-log">
              Follow a log…
            </button>
          )}
        </div>
      ) : (
        <p className="muted">Following {files.join(", ")}</p>
      )}
      <ZoneLine clocks={clocks} />
      <LogClocks clocks={clocks} />
      <div className="codes-toolbar">
        <label className="search">
          Recipient (any part, e.g. the last four digits)
          <input id="codes-search" value={query} onChange={(e) => setQuery(e.target.value)} type="search" data-testid="codes-search" aria-keyshortcuts="/" />
        </label>
        <p className="muted codes-count" aria-live="polite" data-testid="codes-count">
          {q === "" ? count(shown, "code", "codes") : count(shown, "match", "matches")}
        </p>
      </div>
      <p role="status" className="copied" data-testid="copied">
        {copied ?? sent}
      </p>
      {/* Focusable so the list scrolls with the keyboard too; Tab then walks the Copy buttons,
          and each focused row scrolls into view, which draws the next ones. */}
      <div ref={scrollRef} className="code-scroll" role="region" aria-label="Fallback codes, newest first" tabIndex={0} data-testid="code-scroll">
        <ol className="code-list" data-testid="code-list" style={{ height: virtualizer.getTotalSize() }}>
          {virtualizer.getVirtualItems().map((row) => {
            const c = codeAt(row.index);
            return (
              <CodeRow
                key={`${c.file}:${c.line}:${c.code}`}
                code={c}
                now={now}
                onCopy={copy}
                position={row.index + 1}
                setSize={shown}
                offset={row.start}
                selected={selected !== null && c.code === selected.code && c.recipient === selected.recipient}
              />
            );
          })}
        </ol>
        {shown === 0 && query !== "" && <p className="muted codes-empty">No codes for this recipient.</p>}
        {shown === 0 && query === "" && (
          <div className="codes-empty empty-state" data-testid="codes-empty">
            <p>
              No codes yet. They show here the moment the backend writes one to a followed log.
              {onSendTest && " To see one arrive now, send a test through the Console provider: it writes its code to its own log."}
            </p>
            {onSendTest && (
              <button type="button" onClick={sendTest} disabled={sending} data-testid="codes-send-test">
                {sending ? "Sending…" : "Send a test through the Console"}
              </button>
            )}
          </div>
        )}
      </div>
    </section>
  );
}
