// The guided start: shown on a first start with nothing configured (and again from Settings).
// Four steps, each of which can be skipped: follow the backend's log, import its .env into the
// keychain, send a test through the Console, and see its code arrive.
import { useEffect, useRef, useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { FallbackCode } from "../bindings/FallbackCode";
import type { ImportPreview } from "../bindings/ImportPreview";
import type { TestSendResult } from "../bindings/TestSendResult";
import { baseName, type FileKind, type FileRequest } from "../files";
import { recipientLabel } from "../format";
import { Dialog } from "./Dialog";
import { EnvPreviewList, importSummary } from "./EnvPreview";
import { PathField } from "./PathField";

/** Where the dismissal is kept, so the guided start shows on a first start only. */
export const GUIDE_DISMISSED_KEY = "msgops.guided-start.dismissed";

export function guideDismissed(): boolean {
  try {
    return window.localStorage.getItem(GUIDE_DISMISSED_KEY) === "1";
  } catch {
    return false;
  }
}

export function dismissGuide(): void {
  try {
    window.localStorage.setItem(GUIDE_DISMISSED_KEY, "1");
  } catch {
    // Without storage it shows again on the next start: nothing worse.
  }
}

/** The recipient a test goes to unless the operator says otherwise. */
export const TEST_RECIPIENT = "+14165550123";

type Step = "log" | "env" | "test" | "code";

function StepItem({ step, n, title, done, current, children }: { step: Step; n: number; title: string; done: string | null; current: boolean; children: React.ReactNode }) {
  return (
    <li className={`guide-step${done ? " guide-step-done" : ""}${current ? " guide-step-current" : ""}`} data-testid={`guide-step-${step}`} aria-current={current ? "step" : undefined}>
      <h3>
        <span className="guide-step-number" aria-hidden="true">
          {done ? "✓" : n}
        </span>
        <span className="visually-hidden">Step {n}: </span>
        {title}
        {done && <span className="visually-hidden"> (done)</span>}
      </h3>
      <div className="guide-step-body">
        {children}
        {done && (
          <p className="guide-step-result" role="status" data-testid={`guide-${step}-done`}>
            {done}
          </p>
        )}
      </div>
    </li>
  );
}

export function GuidedStart({
  backend,
  followed,
  codes,
  consoleLog,
  dropped,
  onFollow,
  onOpenCodes,
  onClose,
}: {
  backend: Backend;
  /** Backend logs followed already (the Console's own log aside). */
  followed: string[];
  /** Every code shown, to see the test's arrive. */
  codes: FallbackCode[];
  consoleLog?: string;
  /** A file dropped on the window while the guide is open: it fills its step. */
  dropped?: (FileRequest & { kind: FileKind }) | null;
  /** Adds a log to the followed ones and saves; resolves to what to say. */
  onFollow: (path: string) => Promise<string>;
  onOpenCodes: () => void;
  onClose: () => void;
}) {
  const [logPath, setLogPath] = useState("");
  const [logDone, setLogDone] = useState<string | null>(null);
  const [logError, setLogError] = useState<string | null>(null);
  const [following, setFollowing] = useState(false);

  const [envPath, setEnvPath] = useState("");
  const [preview, setPreview] = useState<ImportPreview | null>(null);
  const [rewrite, setRewrite] = useState(true);
  const [envDone, setEnvDone] = useState<string | null>(null);
  const [envError, setEnvError] = useState<string | null>(null);
  const [importing, setImporting] = useState(false);

  const [to, setTo] = useState(TEST_RECIPIENT);
  const [sending, setSending] = useState(false);
  const [sent, setSent] = useState<{ result: TestSendResult; at: number } | null>(null);
  const [testError, setTestError] = useState<string | null>(null);

  async function follow(path = logPath) {
    const file = path.trim();
    if (!file) {
      setLogError("Enter or browse for the backend's log first.");
      return;
    }
    setFollowing(true);
    setLogError(null);
    try {
      setLogDone(await onFollow(file));
    } catch (e) {
      setLogError(errorMessage(e));
    } finally {
      setFollowing(false);
    }
  }

  async function previewEnv(path = envPath) {
    const file = path.trim();
    setEnvError(null);
    setEnvDone(null);
    if (!file) {
      setEnvError("Enter or browse for the backend's .env first.");
      return;
    }
    try {
      setPreview(await backend.previewEnvImport(file));
    } catch (e) {
      setPreview(null);
      setEnvError(errorMessage(e));
    }
  }

  async function importEnv() {
    if (!preview) return;
    setImporting(true);
    setEnvError(null);
    try {
      const report = await backend.applyEnvImport({ path: preview.file, rewrite, replace_existing: false });
      setPreview(null);
      setEnvDone(importSummary(report));
    } catch (e) {
      setEnvError(errorMessage(e));
    } finally {
      setImporting(false);
    }
  }

  async function sendTest(e: React.FormEvent) {
    e.preventDefault();
    setSending(true);
    setTestError(null);
    try {
      const at = Date.now();
      const result = await backend.sendTest({ channel: "sms", to, provider: "console" });
      if (result.record.outcome.status === "delivered") setSent({ result, at });
      else setTestError(`Not delivered: ${result.record.outcome.reason}`);
    } catch (err) {
      setTestError(errorMessage(err));
    } finally {
      setSending(false);
    }
  }

  // A file dropped on the window fills its step; a .env is previewed at once.
  const taken = useRef(0);
  useEffect(() => {
    if (!dropped || taken.current === dropped.n) return;
    taken.current = dropped.n;
    if (dropped.kind === "env") {
      setEnvPath(dropped.path);
      void previewEnv(dropped.path);
    } else {
      setLogPath(dropped.path);
      setLogDone(null);
    }
  }, [dropped]);

  const testDone = sent ? `Delivered by the Console: it wrote code ${sent.result.code} for ${to} to its log.` : null;
  // The newest code with the test's value written since the test was sent (a little before,
  // for a clock a little apart); the log may have been read again from its start meanwhile.
  const arrived = sent
    ? ([...codes].reverse().find((c) => c.code === sent.result.code && (c.created_at === null || Date.parse(c.created_at) >= sent.at - 60_000)) ?? null)
    : null;
  const codeDone = arrived ? `Code ${arrived.code} for ${recipientLabel(arrived)} arrived from ${baseName(arrived.file)}: it is on the Codes page.` : null;
  const current: Step = !logDone ? "log" : !envDone ? "env" : !sent ? "test" : "code";

  return (
    <Dialog title="Guided start" onClose={onClose} className="guided-start" testid="guided-start" describedBy="guide-intro">
      <p id="guide-intro" className="guide-intro">
        Four steps to a console that shows your backend&apos;s one-time codes and sends through its providers. Skip any step you do not need; a log
        or a <span className="mono">.env</span> dropped on the window fills its step. This guide is in Settings if you want it again.
      </p>
      <ol className="guide-steps">
        <StepItem step="log" n={1} title="Follow the backend's log" done={logDone} current={current === "log"}>
          <p>msgops reads the codes the backend writes to its log, and its errors, the moment they are written.</p>
          {followed.length > 0 && (
            <p className="muted" data-testid="guide-followed">
              Followed already: <span className="mono">{followed.join(", ")}</span>
            </p>
          )}
          <PathField
            backend={backend}
            kind="log"
            label="The backend's log"
            value={logPath}
            onChange={setLogPath}
            placeholder="/var/log/app/backend.log"
            testid="guide-log-path"
            browseTestid="guide-log-browse"
          />
          <button type="button" onClick={() => follow()} disabled={following} data-testid="guide-log-follow">
            {following ? "Saving…" : "Follow this log"}
          </button>
          {logError && (
            <p className="form-error" role="alert">
              {logError}
            </p>
          )}
        </StepItem>

        <StepItem step="env" n={2} title="Import its .env into the keychain" done={envDone} current={current === "env"}>
          <p>
            The provider keys move from the plaintext <span className="mono">.env</span> into the OS keychain. You see what would be stored, masked,
            before anything is written.
          </p>
          <PathField
            backend={backend}
            kind="env"
            label="The backend's .env"
            value={envPath}
            onChange={setEnvPath}
            onPicked={(path) => void previewEnv(path)}
            placeholder="/srv/backend/.env"
            testid="guide-env-path"
            browseTestid="guide-env-browse"
          />
          {!preview && (
            <button type="button" className="secondary" onClick={() => previewEnv()} data-testid="guide-env-preview-button">
              Preview the import
            </button>
          )}
          {preview && (
            <div className="import-preview" data-testid="guide-env-preview">
              <EnvPreviewList preview={preview} />
              <label className="checkbox-line">
                <input type="checkbox" checked={rewrite} onChange={(e) => setRewrite(e.target.checked)} /> Rewrite the .env without the secrets
              </label>
              <div className="actions">
                <button type="button" onClick={importEnv} disabled={importing || preview.secrets.length === 0} data-testid="guide-env-import">
                  {importing ? "Storing…" : "Import into the keychain"}
                </button>
                <button type="button" className="secondary" onClick={() => setPreview(null)}>
                  Cancel
                </button>
              </div>
            </div>
          )}
          {envError && (
            <p className="form-error" role="alert">
              {envError}
            </p>
          )}
        </StepItem>

        <StepItem step="test" n={3} title="Send a test" done={testDone} current={current === "test"}>
          <p>
            Through the Console provider: it needs no key and writes the code to its own log
            {consoleLog ? (
              <>
                {" "}
                (<span className="mono">{consoleLog}</span>)
              </>
            ) : null}
            , which msgops follows. Test the real providers from the Dashboard once their keys are in.
          </p>
          <form onSubmit={sendTest} className="guide-test">
            <label>
              Recipient
              <input value={to} onChange={(e) => setTo(e.target.value)} data-testid="guide-test-to" autoComplete="off" />
            </label>
            <button type="submit" disabled={sending || to.trim() === ""} data-testid="guide-test-send">
              {sending ? "Sending…" : sent ? "Send another test" : "Send a test"}
            </button>
          </form>
          {testError && (
            <p className="form-error" role="alert">
              {testError}
            </p>
          )}
        </StepItem>

        <StepItem step="code" n={4} title="See the code arrive" done={codeDone} current={current === "code"}>
          {!sent && <p className="muted">Once the test is sent, its code shows here and on the Codes page within a second.</p>}
          {sent && !arrived && (
            <p aria-busy="true" data-testid="guide-code-waiting">
              Waiting for code <span className="mono">{sent.result.code}</span> in the Console&apos;s log…
            </p>
          )}
          <button type="button" onClick={onOpenCodes} className={arrived ? "" : "secondary"} data-testid="guide-open-codes">
            Open the Codes page
          </button>
        </StepItem>
      </ol>
    </Dialog>
  );
}
