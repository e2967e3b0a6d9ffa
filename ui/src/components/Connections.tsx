import { useRef, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { ConnectionInfo } from "../bindings/ConnectionInfo";
import type { ConnectionsView } from "../bindings/ConnectionsView";
import { shortFingerprint } from "../format";

/** The fingerprint the certificate check read, for the URL it was read from. */
interface Checked {
  url: string;
  /** null: plain http on loopback, no certificate. */
  fingerprint: string | null;
}

/** A fingerprint that wraps, when it must, only between its pairs. */
function Pairs({ fingerprint }: { fingerprint: string }) {
  const parts = fingerprint.split(":");
  return (
    <>
      {parts.map((p, i) => (
        <span key={i}>
          {p}
          {i < parts.length - 1 && (
            <>
              :<wbr />
            </>
          )}
        </span>
      ))}
    </>
  );
}

function Trust({ connection }: { connection: ConnectionInfo }) {
  const fp = connection.fingerprint;
  if (fp === null) {
    return <span className="muted">{connection.url.toLowerCase().startsWith("http:") ? "plain http on loopback" : "system roots"}</span>;
  }
  return (
    <details className="fingerprint-details">
      <summary title={fp}>pinned {shortFingerprint(fp)}</summary>
      <code className="mono fingerprint">
        <Pairs fingerprint={fp} />
      </code>
    </details>
  );
}

function ConnectionList({ view, onUse, onRemove }: { view: ConnectionsView; onUse: (name: string) => void; onRemove: (name: string) => void }) {
  if (view.connections.length === 0) {
    return (
      <div className="empty-state" data-testid="connections-empty">
        <p>
          No remote service yet: the window is on this computer. To watch a <span className="mono">msgops serve</span> on another host, add it
          with its URL and an API token made there.
        </p>
        <button type="button" onClick={() => document.getElementById("connection-name")?.focus()} data-testid="connections-empty-add">
          Add a connection
        </button>
      </div>
    );
  }
  return (
    <table className="data-table connections-table">
      <caption>Saved connections</caption>
      <thead>
        <tr>
          <th scope="col">Name</th>
          <th scope="col">URL</th>
          <th scope="col">Certificate</th>
          <th scope="col">Token</th>
          <th scope="col">
            <span className="visually-hidden">Actions</span>
          </th>
        </tr>
      </thead>
      <tbody>
        {view.connections.map((c) => {
          const active = view.active === c.name;
          return (
            <tr key={c.name} data-testid={`connection-row-${c.name}`} aria-current={active ? "true" : undefined}>
              <th scope="row">
                {c.name}
                {active && <span className="badge badge-active">in use</span>}
              </th>
              <td className="mono">{c.url}</td>
              <td>
                <Trust connection={c} />
              </td>
              <td>{c.has_token ? "stored" : <span className="form-error">none stored</span>}</td>
              <td>
                <div className="row-actions">
                  {!active && (
                    <button type="button" className="secondary" onClick={() => onUse(c.name)} data-testid={`connection-use-${c.name}`}>
                      Switch to it
                    </button>
                  )}
                  <button type="button" className="danger" onClick={() => onRemove(c.name)} data-testid={`connection-remove-${c.name}`}>
                    Remove
                  </button>
                </div>
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/**
 * Adds a connection: the certificate is read first and compared by the operator with the
 * fingerprint `msgops serve` printed, then pinned; the token goes to the backend and is not
 * kept here (the field is read on submit and emptied).
 */
function AddForm({ backend, names, onView }: { backend: Backend; names: string[]; onView: (view: ConnectionsView) => void }) {
  const [name, setName] = useState("");
  const [url, setUrl] = useState("");
  const [checked, setChecked] = useState<Checked | null>(null);
  const [pin, setPin] = useState(false);
  const [busy, setBusy] = useState<"check" | "add" | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [notice, setNotice] = useState<string | null>(null);
  const token = useRef<HTMLInputElement>(null);

  const trimmedUrl = url.trim();
  const current = checked !== null && checked.url === trimmedUrl ? checked : null;

  async function check() {
    setError(null);
    setNotice(null);
    if (!trimmedUrl) {
      setError("Enter the service's URL first.");
      return;
    }
    setBusy("check");
    try {
      const fingerprint = await backend.connectionFingerprint(trimmedUrl);
      setChecked({ url: trimmedUrl, fingerprint });
      setPin(false);
    } catch (e) {
      setChecked(null);
      setError(errorMessage(e));
    } finally {
      setBusy(null);
    }
  }

  async function add(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    setNotice(null);
    const connection = name.trim();
    const secret = token.current?.value ?? "";
    if (!connection || !trimmedUrl || !secret) {
      setError("Enter a name, the service's URL and an API token.");
      return;
    }
    // As the backend compares them: case aside.
    if (names.some((n) => n.toLowerCase() === connection.toLowerCase())) {
      setError(`There is already a connection named ${connection}.`);
      return;
    }
    // Read once, then out of the page: the token is never held by the UI.
    if (token.current) token.current.value = "";
    const fingerprint = pin && current ? current.fingerprint : null;
    setBusy("add");
    try {
      onView(await backend.addConnection({ name: connection, url: trimmedUrl, fingerprint, token: secret }));
    } catch (err) {
      setError(errorMessage(err));
      setBusy(null);
      return;
    }
    setName("");
    setUrl("");
    setChecked(null);
    setPin(false);
    try {
      onView(await backend.useConnection(connection));
      setNotice(`Added ${connection}; the window is on it now.`);
    } catch (err) {
      setError(`Added ${connection}, but could not switch to it: ${errorMessage(err)}`);
    } finally {
      setBusy(null);
    }
  }

  return (
    <form className="settings-section connection-add" onSubmit={add} noValidate aria-labelledby="connection-add-title">
      <h3 id="connection-add-title">Add a connection</h3>
      <label>
        Name
        <input id="connection-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="backend-prod" data-testid="connection-name" autoComplete="off" />
      </label>
      <label>
        URL
        <input
          value={url}
          onChange={(e) => setUrl(e.target.value)}
          placeholder="https://backend-1.example.com:8443"
          data-testid="connection-url"
          autoComplete="off"
          spellCheck={false}
          inputMode="url"
        />
      </label>
      <label>
        API token
        <input
          ref={token}
          type="password"
          data-testid="connection-token"
          autoComplete="off"
          spellCheck={false}
          aria-describedby="connection-token-hint"
        />
      </label>
      <p id="connection-token-hint" className="hint">
        Made on the service's host with <span className="mono">msgops token create</span>. Kept by msgops, never shown again.
      </p>
      <div className="certificate">
        <button type="button" className="secondary" onClick={check} disabled={busy !== null} data-testid="connection-check">
          {busy === "check" ? "Reading the certificate…" : "Check certificate"}
        </button>
        {current && current.fingerprint !== null && (
          <div className="fingerprint-check">
            <p>The service presents a certificate with this SHA-256 fingerprint:</p>
            <pre className="mono fingerprint" data-testid="connection-fingerprint">
              <Pairs fingerprint={current.fingerprint} />
            </pre>
            <p>
              Compare it with the fingerprint <span className="mono">msgops serve</span> printed on the service's host.
            </p>
            <label className="checkbox">
              <input type="checkbox" checked={pin} onChange={(e) => setPin(e.target.checked)} data-testid="connection-pin" />
              It matches — pin it
            </label>
            <p className="hint">
              Pinned, msgops trusts only this certificate. Not pinned, the certificate must be trusted by this computer's system roots:
              a self-signed one is refused.
            </p>
          </div>
        )}
        {current && current.fingerprint === null && (
          <p className="hint" data-testid="connection-no-certificate">
            Plain http on this computer (loopback): there is no certificate to check or pin.
          </p>
        )}
      </div>
      <div className="save-bar">
        <button type="submit" disabled={busy !== null} data-testid="connection-add">
          {busy === "add" ? "Connecting…" : "Add and connect"}
        </button>
      </div>
      {error && (
        <p className="form-error" role="alert" data-testid="connection-error">
          {error}
        </p>
      )}
      {notice && (
        <p className="banner-ok save-notice" role="status" data-testid="connection-added">
          {notice}
        </p>
      )}
    </form>
  );
}

/** The remote msgops services this window can be put on: the saved ones, and a new one. */
export function Connections({
  backend,
  view,
  onView,
}: {
  backend: Backend;
  view: ConnectionsView | null;
  /** A newer view from the backend (after adding, removing or switching). */
  onView: (view: ConnectionsView) => void;
}) {
  const [error, setError] = useState<string | null>(null);

  const use = (name: string) => {
    setError(null);
    backend.useConnection(name).then(onView, (e) => setError(errorMessage(e)));
  };
  const remove = (name: string) => {
    const active = view?.active === name;
    if (!window.confirm(`Remove the connection ${name}? Its token is forgotten${active ? " and the window returns to this computer" : ""}.`)) return;
    setError(null);
    backend.removeConnection(name).then(onView, (e) => setError(errorMessage(e)));
  };

  return (
    <section className="connections" aria-labelledby="connections-title">
      <h2 id="connections-title">Connections</h2>
      <p className="hint">
        Put this window on a <span className="mono">msgops serve</span> running on another host: the Dashboard and Codes show that service, and
        the breaker controls act on it. History, Credentials and Settings stay this computer's.
      </p>
      {error && (
        <p className="form-error" role="alert" data-testid="connection-list-error">
          {error}
        </p>
      )}
      {view ? <ConnectionList view={view} onUse={use} onRemove={remove} /> : <p aria-busy="true">Loading connections…</p>}
      <AddForm backend={backend} names={view?.connections.map((c) => c.name) ?? []} onView={onView} />
    </section>
  );
}
