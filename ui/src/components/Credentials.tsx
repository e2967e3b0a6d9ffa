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
import type { FileRequest } from "../files";
import { EnvPreviewList, importSummary } from "./EnvPreview";
import { BrowseButton, PathField } from "./PathField";

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

/**
 * `rotate`: open on the rotation of these credentials (from a dashboard card's fix button).
 * `importFile`: a .env handed over (dropped on the window, picked from the dashboard): its
 * import is previewed at once.
 */
export function Credentials({
  backend,
  rotate,
  importFile,
  remote = false,
}: {
  backend: Backend;
  rotate?: CredentialProvider | null;
  importFile?: FileRequest | null;
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

  const previewFile = useCallback(
    async (file: string) => {
      setError(null);
      try {
        setPreview(await backend.previewEnvImport(file));
      } catch (err) {
        setPreview(null);
        setError(errorMessage(err));
      }
    },
    [backend],
  );
  async function runPreview(e: React.FormEvent) {
    e.preventDefault();
    await previewFile(path);
  }
  useEffect(() => {
    if (!importFile) return;
    setPath(importFile.path);
    void previewFile(importFile.path);
  }, [importFile, previewFile]);
  const nothingStored = statuses.length > 0 && statuses.every((s) => s.state === "missing");

  async function applyImport() {
    try {
      const report = await backend.applyEnvImport({ path, rewrite, replace_existing: false });
      setPreview(null);
      done(importSummary(report));
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
      {nothingStored && (
        <div className="empty-state" data-testid="credentials-empty">
          <p>
            No provider key is in the keychain yet: only the Console can deliver. Import the keys from the backend&apos;s <span className="mono">.env</span>{" "}
            (you see what would be stored first), or rotate one provider&apos;s key below.
          </p>
          <BrowseButton
            backend={backend}
            kind="env"
            className=""
            onPicked={(file) => {
              setPath(file);
              void previewFile(file);
            }}
            onError={setError}
            testid="credentials-empty-import"
          >
            Import a .env…
          </BrowseButton>
        </div>
      )}
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
        <PathField
          backend={backend}
          kind="env"
          label="Path to .env"
          value={path}
          onChange={setPath}
          onPicked={(file) => void previewFile(file)}
          placeholder="/srv/backend/.env"
          testid="import-path"
          browseTestid="import-browse"
          hint="Or drop the .env on the window."
        />
        <button type="submit" data-testid="import-preview-button">
          Preview
        </button>
      </form>
      {preview && (
        <div className="import-preview" data-testid="import-preview">
          <EnvPreviewList preview={preview} />
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
