import type { HealthSnapshot } from "../bindings/HealthSnapshot";

/** No provider but the Console (which needs nothing) can send: no key is configured. */
export function nothingConfigured(health: HealthSnapshot): boolean {
  return [...health.sms_providers, ...health.email_providers].every((p) => p.id === "console" || !p.configured);
}

/**
 * The dashboard with nothing configured: six cards saying "Not configured" and nothing that says
 * what to do. This does, with a button for each next step.
 */
export function GettingStarted({
  onGuide,
  onImportEnv,
  onFollowLog,
  onSendTest,
  followsLog,
}: {
  onGuide: () => void;
  onImportEnv: () => void;
  onFollowLog: () => void;
  onSendTest: () => void;
  /** A backend log is followed already: following one is not the next step. */
  followsLog: boolean;
}) {
  return (
    <section className="empty-state dashboard-empty" aria-labelledby="getting-started-title" data-testid="dashboard-empty">
      <h2 id="getting-started-title">Nothing is configured yet</h2>
      <p>
        Only the Console provider can deliver now: it writes each code to its own log. Import the provider keys from the backend&apos;s{" "}
        <span className="mono">.env</span> into the keychain to send through AWS SNS, Twilio, AWS SES, SendGrid or SMTP
        {followsLog ? "" : ", and follow the backend's log to see the codes it writes"}.
      </p>
      <div className="actions">
        <button type="button" onClick={onGuide} data-testid="dashboard-empty-guide">
          Open the guided start
        </button>
        <button type="button" className="secondary" onClick={onImportEnv} data-testid="dashboard-empty-import">
          Import a .env…
        </button>
        {!followsLog && (
          <button type="button" className="secondary" onClick={onFollowLog} data-testid="dashboard-empty-follow">
            Follow a log…
          </button>
        )}
        <button type="button" className="secondary" onClick={onSendTest} data-testid="dashboard-empty-test">
          Send a test
        </button>
      </div>
    </section>
  );
}
