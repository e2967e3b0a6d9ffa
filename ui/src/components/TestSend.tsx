import type { ProviderKind } from "../bindings/ProviderKind";
import { useState } from "react";
import type { Backend } from "../api/backend";
import { errorMessage } from "../api/backend";
import type { Channel } from "../bindings/Channel";
import type { TestSendResult } from "../bindings/TestSendResult";
import { CodeEntry } from "./CodeEntry";
import { AttemptTimeline } from "./AttemptTimeline";
import { formatLatency, providerName, remoteTitle } from "../format";

export function TestSend({
  backend,
  providers = {},
  remote = null,
}: {
  backend: Backend;
  providers?: Partial<Record<Channel, ProviderKind[]>>;
  /** The remote service the test goes through (its whole chain), or null for this computer. */
  remote?: string | null;
}) {
  const [only, setOnly] = useState<ProviderKind | "">("");
  const [channel, setChannel] = useState<Channel>("sms");
  const [to, setTo] = useState("+14165550123");
  const [busy, setBusy] = useState(false);
  const [result, setResult] = useState<TestSendResult | null>(null);
  const [check, setCheck] = useState<string | null>(null);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      setResult(await backend.sendTest(only ? { channel, to, provider: only } : { channel, to }));
      setCheck(null);
    } catch (err) {
      setError(errorMessage(err));
    } finally {
      setBusy(false);
    }
  }

  const record = result?.record;
  const outcome = record?.outcome;
  return (
    <section className="test-send" aria-labelledby="test-send-title">
      <h2 id="test-send-title">{remoteTitle("Test send", remote)}</h2>
      <form onSubmit={submit}>
        <label>
          Channel
          <select
            value={channel}
            onChange={(e) => {
              setChannel(e.target.value as Channel);
              setOnly("");
            }}
          >
            <option value="sms">SMS</option>
            <option value="email">Email</option>
          </select>
        </label>
        <label>
          Through
          <select value={only} onChange={(e) => setOnly(e.target.value as ProviderKind | "")} data-testid="test-send-provider">
            <option value="">the whole chain</option>
            {(providers[channel] ?? []).map((id) => (
              <option key={id} value={id}>
                {providerName(id)} only
              </option>
            ))}
          </select>
        </label>
        <label>
          Recipient
          <input id="test-send-to" value={to} onChange={(e) => setTo(e.target.value)} data-testid="test-send-to" />
        </label>
        <button type="submit" disabled={busy} data-testid="test-send-submit">
          {busy ? "Sending…" : "Send test"}
        </button>
      </form>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {outcome && (
        <div className="send-result" data-testid="send-result" data-status={outcome.status}>
          <p>
            {outcome.status === "delivered"
              ? `Delivered by ${providerName(outcome.provider)} in ${formatLatency(record?.duration_ms ?? 0)}`
              : `Failed: ${outcome.reason}`}
          </p>
          <AttemptTimeline attempts={outcome.attempts} skipped={outcome.skipped} />
          {outcome.status === "delivered" && result && (
            <>
              <CodeEntry label="Type the code you received" onSubmit={(c) => setCheck(c === result.code ? "ok" : "wrong")} />
              {check && (
                <p role="status" className={check === "ok" ? "check-ok" : "form-error"} data-testid="code-check">
                  {check === "ok" ? "Code matches: delivery confirmed." : "That is not the code this test sent."}
                </p>
              )}
            </>
          )}
        </div>
      )}
    </section>
  );
}
