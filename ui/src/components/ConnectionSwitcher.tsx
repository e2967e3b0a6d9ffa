import { useEffect, useState } from "react";
import type { ConnectionsView } from "../bindings/ConnectionsView";
import type { RemoteStatus } from "../bindings/RemoteStatus";
import { connectionHost } from "../format";

/**
 * The connection's state in words: "This computer", "Connecting to NAME…", "NAME — connected
 * to HOST", "NAME — disconnected: REASON, retrying in N s". `retryLeftMs` is what is left of the
 * status's `retry_in_ms` (it counts down between events); without it, the status's own.
 */
export function connectionStatusText(view: ConnectionsView | null, retryLeftMs?: number): string {
  const name = view?.active ?? null;
  if (!view || name === null) return "This computer";
  const status = view.status;
  switch (status.state) {
    case "connecting":
      return `Connecting to ${name}…`;
    case "connected": {
      const url = view.connections.find((c) => c.name === name)?.url;
      return url ? `${name} — connected to ${connectionHost(url)}` : `${name} — connected`;
    }
    case "disconnected": {
      const left = Math.max(0, retryLeftMs ?? Number(status.retry_in_ms));
      const seconds = Math.ceil(left / 1000);
      return `${name} — disconnected: ${status.reason}, ${seconds > 0 ? `retrying in ${seconds} s` : "retrying now"}`;
    }
    case "local":
      return name;
  }
}

/** What is left of a disconnected status's retry delay, ticking locally from its arrival. */
function useRetryLeft(status: RemoteStatus | undefined, now: () => number): number | undefined {
  const [left, setLeft] = useState<number | undefined>(undefined);
  useEffect(() => {
    if (status?.state !== "disconnected") {
      setLeft(undefined);
      return;
    }
    const until = now() + Number(status.retry_in_ms);
    const update = () => setLeft(Math.max(0, until - now()));
    update();
    const timer = setInterval(update, 250);
    return () => clearInterval(timer);
  }, [status, now]);
  return left;
}

/**
 * Always in the header: which msgops the window is on (this computer, or a saved remote
 * service), one choice away from another, and how that connection is doing.
 */
export function ConnectionSwitcher({
  view,
  onUse,
  now = Date.now,
}: {
  view: ConnectionsView | null;
  /** Switches to a saved connection by name, or to this computer (null). */
  onUse: (name: string | null) => Promise<unknown>;
  now?: () => number;
}) {
  const [pending, setPending] = useState<string | null>(null);
  const retryLeft = useRetryLeft(view?.status, now);
  const active = view?.active ?? null;
  const state = active === null ? "local" : (view?.status.state ?? "local");
  const text = connectionStatusText(view, retryLeft);
  const connectedSince = view?.status.state === "connected" ? view.status.since : null;
  return (
    <div className={`connection connection-${state}`} data-testid="connection">
      <label htmlFor="connection-switcher" className="visually-hidden">
        Connection
      </label>
      <select
        id="connection-switcher"
        data-testid="connection-switcher"
        value={pending ?? active ?? ""}
        disabled={pending !== null}
        aria-describedby="connection-status"
        onChange={(e) => {
          const name = e.target.value === "" ? null : e.target.value;
          setPending(e.target.value);
          onUse(name).finally(() => setPending(null));
        }}
      >
        <option value="">This computer</option>
        {(view?.connections ?? []).map((c) => (
          <option key={c.name} value={c.name}>
            {c.name}
          </option>
        ))}
      </select>
      <span
        id="connection-status"
        className="connection-status"
        data-testid="connection-status"
        data-state={state}
        title={connectedSince ? `Connected since ${new Date(connectedSince).toLocaleString()}` : undefined}
      >
        <span aria-hidden="true" className="connection-dot" />
        {text}
      </span>
      {/* Said once per change, without the countdown's every second. */}
      <span role="status" className="visually-hidden">
        {connectionStatusText(view)}
      </span>
    </div>
  );
}
