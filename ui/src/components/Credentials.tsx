import { useCallback, useEffect, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { CredentialAuditEntry } from "../bindings/CredentialAuditEntry";
import type { CredentialProvider } from "../bindings/CredentialProvider";
import type { CredentialStatus } from "../bindings/CredentialStatus";
import type { ImportPreview } from "../bindings/ImportPreview";
import type { KeychainHealth } from "../bindings/KeychainHealth";
import type { SecretKind } from "../bindings/SecretKind";
import { localTitle } from "../format";

function RotateForm({ status, backend, onDone }: { status: CredentialStatus; backend: Backend; onDone: (msg: string) => void }) {
  const [values, setValues] = useState<Partial<Record<SecretKind, string>>>({});
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const report = await backend.rotateCredentials({ provider: status.provider, values });
      setValues({});
      onDone(`${status.provider}: ${report.replaced.length} value(s) validated with the provider and stored.`);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }
  return (
    <form onSubmit={submit} className="rotate-form" aria-label={`Rotate ${status.provider} credentials`}>
      {status.fields.map((f) => (
        <label key={f.kind}>
          New {f.label}
          <input
            type="password"
            autoComplete="off"
            value={values[f.kind] ?? ""}
            onChange={(e) => setValues({ ...values, [f.kind]: e.target.value })}
          />
        </label>
      ))}
      <button type="submit" disabled={busy}>
        {busy ? "Validating with the provider…" : "Validate and store"}
      </button>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}

/** What each set of credentials is called; AWS covers both SNS and SES. */
const CREDENTIAL_PROVIDER_NAME: Record<CredentialProvider, string> = {
  aws: "AWS (SNS and SES)",
  twilio: "Twilio",
  sendgrid: "SendGrid",
  smtp: "SMTP",
};

/** `rotate`: open on the rotation of these credentials (from a dashboard card's fix button). */
export function Credentials({
  backend,
  rotate,
  remote = false,
}: {
  backend: Backend;
  rotate?: CredentialProvider | null;
  /** The window is on a remote service: the heading says these credentials are this computer's. */
  remote?: boolean;
}) {
  const [health, setHealth] = useState<KeychainHealth | null>(null);
  const [statuses, setStatuses] = useState<CredentialStatus[]>([]);
  const [audit, setAudit] = useState<CredentialAuditEntry[]>([]);
  const [rotating, setRotating] = useState<CredentialProvider | null>(rotate ?? null);
  useEffect(() => {
    if (rotate) setRotating(rotate);
  }, [rotate]);
  const [message, setMessage] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [path, setPath] = useState("");
  const [preview, setPreview] = useState<ImportPreview | null>(null);
  const [rewrite, setRewrite] = useState(true);

  const refresh = useCallback(() => {
    backend.keychainHealth().then(setHealth, (e) => setError(errorMessage(e)));
    backend.credentialStatuses().then(setStatuses, (e) => setError(errorMessage(e)));
    backend.credentialAudit().then((a) => setAudit([...a].reverse()), () => undefined);
  }, [backend]);
  useEffect(refresh, [refresh]);

  const done = (msg: string) => {
    setMessage(msg);
    setError(null);
    setRotating(null);
    refresh();
  };

  async function remove(provider: CredentialProvider) {
    if (!window.confirm(`Delete every ${provider} secret from the OS keychain? The provider leaves the chain.`)) return;
    try {
      const removed = await backend.removeCredentials(provider);
      done(`${provider}: ${removed.length} secret(s) deleted from the keychain.`);
    } catch (e) {
      setError(errorMessage(e));
    }
  }

  async function runPreview(e: React.FormEvent) {
    e.preventDefault();
    setError(null);
    try {
      setPreview(await backend.previewEnvImport(path));
    } catch (err) {
      setError(errorMessage(err));
    }
  }

  async function applyImport() {
    try {
      const report = await backend.applyEnvImport({ path, rewrite, replace_existing: false });
      setPreview(null);
      done(`Imported: ${report.stored.length} stored, ${report.unchanged.length} unchanged${report.rewritten ? `; .env rewritten without ${report.removed_lines.length} secret line(s)` : ""}.${report.rewrite_warning ? ` Warning: ${report.rewrite_warning}.` : ""}`);
    } catch (err) {
      setError(errorMessage(err));
    }
  }

  return (
    <section className="credentials" aria-labelledby="creds-title">
      <h2 id="creds-title">{localTitle("Credentials", remote)}</h2>
      {health && (
        <p className={`banner ${health.ok ? "banner-ok" : "banner-error"}`} role={health.ok ? "status" : "alert"} data-testid="keychain-health">
          {health.ok ? `Keychain ready: ${health.store}` : health.message}
        </p>
      )}
      {message && (
        <p role="status" className="banner banner-ok" data-testid="creds-message">
          {message}
        </p>
      )}
      {error && <p role="alert" className="banner banner-error">{error}</p>}
      <div className="cred-grid">
        {statuses.map((s) => (
          <article key={s.provider} className={`cred-card cred-${s.state}`} data-testid={`cred-${s.provider}`}>
            <header>
              <h3>{CREDENTIAL_PROVIDER_NAME[s.provider]}</h3>
              <span className="state-badge">{s.state}</span>
            </header>
            {s.problem && (
              <p className="cred-problem" role="status">
                {s.problem}. Rotate it with a key the provider accepts.
              </p>
            )}
            <dl>
              {s.fields.map((f) => (
                <div key={f.kind}>
                  <dt>{f.label}</dt>
                  <dd className="mono">{f.masked ?? "not stored"}</dd>
                </div>
              ))}
            </dl>
            <div className="actions">
              <button type="button" onClick={() => setRotating(rotating === s.provider ? null : s.provider)}>
                Rotate
              </button>
              <button type="button" className="danger" onClick={() => remove(s.provider)}>
                Remove
              </button>
            </div>
            {rotating === s.provider && <RotateForm status={s} backend={backend} onDone={done} />}
          </article>
        ))}
      </div>

      <h3>Import a .env file</h3>
      <form onSubmit={runPreview} className="import-form">
        <label>
          Path to .env
          <input value={path} onChange={(e) => setPath(e.target.value)} placeholder="/srv/backend/.env" data-testid="import-path" />
        </label>
        <button type="submit" data-testid="import-preview-button">
          Preview
        </button>
      </form>
      {preview && (
        <div className="import-preview" data-testid="import-preview">
          <p>
            {preview.secrets.length} secret(s), {preview.settings.length} setting(s), {preview.unknown.length} unknown and {preview.malformed.length} malformed line(s) in {preview.file}
          </p>
          <ul>
            {preview.secrets.map((s) => (
              <li key={s.kind}>
                line {s.line}: {s.env_var} = <span className="mono">{s.masked}</span>
              </li>
            ))}
            {preview.malformed.map((m) => (
              <li key={m.line} className="form-error">
                line {m.line}: {m.reason}
              </li>
            ))}
            {(preview.expanded ?? [])
              .filter((x) => x.from_environment.length > 0)
              .map((x) => (
                <li key={`expanded-${x.line}`} className="form-error">
                  line {x.line}: {x.name} needs {x.from_environment.map((v) => `\${${v}}`).join(", ")} from the backend's environment: not imported
                </li>
              ))}
          </ul>
          <label>
            <input type="checkbox" checked={rewrite} onChange={(e) => setRewrite(e.target.checked)} /> Rewrite the .env without the secrets
          </label>
          <button type="button" onClick={applyImport} data-testid="import-apply">
            Store in keychain
          </button>
        </div>
      )}

      <h3>Audit trail</h3>
      <ol className="audit">
        {audit.slice(0, 200).map((a, i) => (
          <li key={i}>
            <time>{new Date(a.timestamp).toLocaleString()}</time> {a.provider ?? "—"} {a.action}: {a.outcome} <span className="muted">{a.message}</span>
            {a.actor && (
              <span className="muted" data-testid="audit-actor">
                {" "}
                — by {a.actor.user ? `${a.actor.user}@` : ""}
                {a.actor.host} ({a.actor.via})
              </span>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
