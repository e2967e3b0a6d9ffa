import { useEffect, useMemo, useState } from "react";
import type { FallbackCode } from "../bindings/FallbackCode";
import { formatCountdown } from "../format";

/** Log times are naive local times ("2025-10-29T16:34:53.202"): parse them as local. */
function localMs(t: string | null): number | null {
  return t === null ? null : new Date(t).getTime();
}

/** How many matches are drawn at once; the search narrows the rest. */
export const MAX_SHOWN = 300;

function useNow(intervalMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), intervalMs);
    return () => clearInterval(t);
  }, [intervalMs]);
  return now;
}

export function CodeRow({ code, now, onCopy }: { code: FallbackCode; now: number; onCopy: (c: FallbackCode) => void }) {
  const expiresAt = localMs(code.expires_at);
  const left = expiresAt === null ? 0 : expiresAt - now;
  const expired = code.expired || left <= 0;
  return (
    <li className={`code-row${expired ? " code-expired" : ""}`} data-testid="code-row" data-expired={expired}>
      <span className="code-value" aria-label={`code ${code.code.split("").join(" ")}`}>
        {code.code}
      </span>
      <span className="code-recipient">{code.recipient ?? "recipient not in log"}</span>
      <span className="code-expiry">
        {expired ? <strong className="expired-label">Expired</strong> : <>expires in {formatCountdown(left)}</>}
      </span>
      <span className="code-when muted">{code.created_at?.replace("T", " ").slice(0, 19) ?? "time unknown"}</span>
      <button type="button" onClick={() => onCopy(code)} disabled={expired} aria-label={expired ? "Expired code cannot be copied" : `Copy code ${code.code}`}>
        Copy
      </button>
    </li>
  );
}

const webClipboard = (text: string) => navigator.clipboard.writeText(text);

export function Codes({
  codes,
  files,
  copyText = webClipboard,
}: {
  codes: FallbackCode[];
  files: string[];
  copyText?: (text: string) => Promise<void>;
}) {
  const [query, setQuery] = useState("");
  const [copied, setCopied] = useState<string | null>(null);
  const now = useNow(1000);
  const matches = useMemo(() => {
    const q = query.replace(/[\s()-]/g, "");
    const newestFirst = [...codes].reverse();
    return q === "" ? newestFirst : newestFirst.filter((c) => (c.recipient ?? "").replace(/[\s()-]/g, "").includes(q));
  }, [codes, query]);

  async function copy(code: FallbackCode) {
    try {
      await copyText(code.code);
      setCopied(`Copied ${code.code} for ${code.recipient ?? "unknown recipient"}`);
    } catch {
      setCopied("Could not copy: select the code and copy it by hand");
    }
  }

  return (
    <section className="codes" aria-labelledby="codes-title">
      <h2 id="codes-title">Fallback codes</h2>
      {files.length === 0 ? (
        <p className="muted">No backend log is followed. Add one under [logs] follow in the configuration file.</p>
      ) : (
        <p className="muted">Following {files.join(", ")}</p>
      )}
      <label className="search">
        Recipient (any part, e.g. the last four digits)
        <input value={query} onChange={(e) => setQuery(e.target.value)} type="search" data-testid="codes-search" />
      </label>
      <p role="status" className="copied" data-testid="copied">
        {copied}
      </p>
      <ol className="code-list" data-testid="code-list">
        {matches.slice(0, MAX_SHOWN).map((c) => (
          <CodeRow key={`${c.file}:${c.line}:${c.code}`} code={c} now={now} onCopy={copy} />
        ))}
      </ol>
      {matches.length > MAX_SHOWN && (
        <p className="muted">
          Showing the newest {MAX_SHOWN} of {matches.length} codes: search to narrow.
        </p>
      )}
      {matches.length === 0 && <p className="muted">No codes{query ? " for this recipient" : " yet"}.</p>}
    </section>
  );
}
