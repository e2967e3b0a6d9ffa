// Connections: a remote `msgops serve` added through the form with its certificate's
// fingerprint compared and pinned, the window switched to it (the header says so on every
// page, the dashboard shows the remote's health without test sends or toggles), lost and
// found again, and back to this computer; refused adds and removal.
import { test, before, beforeEach, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { openApp } from "./harness.mjs";

/** Saved before the window opens: a `msgops serve` on this computer, over plain http. */
const STAGING = { name: "staging", url: "http://127.0.0.1:8787/", fingerprint: null, has_token: true };
const TOKEN = "msgops_EXAMPLE_not_a_real_token_0001";

let app;
let page;
before(async () => {
  app = await openApp({ mock: { connections: [STAGING] } });
  page = app.page;
});
beforeEach(() => app.reload());
afterEach(() => app.assertClean());
after(() => app?.close());

const status = () => page.getByTestId("connection-status");
const statusSays = (text) => status().filter({ hasText: text }).waitFor();
const card = (id) => page.getByTestId(`provider-${id}`);

async function fillForm({ name = "backend-1", url = "https://backend-1.example.com:8443", token = TOKEN } = {}) {
  await page.getByTestId("nav-connections").click();
  await page.getByTestId("connection-name").fill(name);
  await page.getByTestId("connection-url").fill(url);
  await page.getByTestId("connection-token").fill(token);
}

test("add a connection with its fingerprint compared and pinned, switch to it, the header shows it everywhere, switch back", async () => {
  await statusSays("This computer");
  assert.deepEqual(await page.getByTestId("connection-switcher").locator("option").allInnerTexts(), ["This computer", "staging"]);
  // This computer's SendGrid is OPEN; the remote's is not.
  assert.equal(await card("sendgrid").getAttribute("data-state"), "OPEN");

  await fillForm();
  assert.equal(await page.getByTestId("connection-token").getAttribute("type"), "password");
  await page.getByTestId("connection-check").click();
  const fingerprint = await page.evaluate(() => window.__msgops.fingerprint);
  const shown = page.getByTestId("connection-fingerprint");
  await shown.waitFor();
  assert.equal((await shown.innerText()).trim(), fingerprint, "the fingerprint in full");
  assert.match(await shown.evaluate((el) => getComputedStyle(el).fontFamily), /mono|Menlo|Consolas/i);
  assert.deepEqual((await app.calls("connection_fingerprint")).map((c) => c.args), [{ url: "https://backend-1.example.com:8443" }]);
  await page.getByText("Compare it with the fingerprint msgops serve printed on the service's host.").waitFor();
  await page.getByLabel("It matches — pin it").check();
  await app.screenshot("connections-fingerprint");
  await page.getByTestId("connection-add").click();

  // Added, switched to, connected a moment later: the header says so.
  await statusSays("backend-1 — connected to backend-1.example.com:8443");
  assert.deepEqual((await app.calls("add_connection")).map((c) => c.args), [
    { request: { name: "backend-1", url: "https://backend-1.example.com:8443", fingerprint, token: TOKEN } },
  ]);
  assert.deepEqual((await app.calls("use_connection")).map((c) => c.args), [{ name: "backend-1" }]);
  // The token is gone from the page.
  assert.equal(await page.getByTestId("connection-token").inputValue(), "");
  assert.ok(!(await page.content()).includes(TOKEN), "the token is nowhere in the page");
  assert.equal(await page.getByTestId("connection-switcher").inputValue(), "backend-1");
  assert.equal(await page.title(), "msgops — backend-1");
  const row = page.getByTestId("connection-row-backend-1");
  assert.match(await row.innerText(), /backend-1\s*in use/);
  assert.match(await row.innerText(), /https:\/\/backend-1\.example\.com:8443\//);
  const summary = row.getByText("pinned 3F:A1:9C:07:…");
  assert.equal(await summary.getAttribute("title"), fingerprint);
  await summary.click();
  assert.equal((await row.locator("details code").innerText()).trim(), fingerprint);
  assert.match(await page.getByTestId("connection-row-staging").innerText(), /plain http on loopback/);
  await app.screenshot("connections-list");

  // The dashboard is the remote's: its health and codes, its sends today (from its history:
  // none yet), its switches and its test send (through its whole chain); the on-call controls
  // go to it.
  await page.getByTestId("nav-dashboard").click();
  await page.locator('[data-testid="provider-sendgrid"][data-state="CLOSED"]').waitFor();
  assert.equal(await card("sns").getByTestId("counts").innerText(), "0 / 0");
  await page.getByRole("heading", { name: "Test send on backend-1" }).waitFor();
  assert.deepEqual(await page.getByTestId("test-send-provider").locator("option").allInnerTexts(), ["the whole chain"]);
  await card("ses").getByTestId("toggle-enabled").click();
  await page.waitForFunction(() => window.__msgops.calls.some((c) => c.cmd === "set_provider_enabled"));
  assert.deepEqual((await app.calls("set_provider_enabled")).map((c) => c.args), [{ provider: "ses", enabled: false }]);
  await card("ses").getByText("Enable AWS SES").waitFor();
  await card("ses").getByTestId("toggle-enabled").click();
  await card("twilio").getByTestId("control-probe").click();
  await page.waitForFunction(() => window.__msgops.calls.some((c) => c.cmd === "control_provider"));
  assert.deepEqual((await app.calls("control_provider")).map((c) => c.args), [{ provider: "twilio", control: "probe" }]);
  assert.equal(await page.getByTestId("nav-codes").innerText(), "Codes3");
  await page.getByTestId("test-send-submit").click();
  await page.getByTestId("send-result").waitFor();
  assert.deepEqual((await app.calls("send_test")).map((c) => c.args), [{ request: { channel: "sms", to: "+14165550123" } }]);
  await app.screenshot("connections-remote-dashboard");

  // Its history, with the test send in it.
  await page.getByTestId("nav-history").click();
  await page.getByRole("heading", { name: "Sends on backend-1", exact: true }).waitFor();
  assert.equal(await page.getByTestId("local-only-note").count(), 0);
  await page.locator("tr.send-row").first().waitFor();
  assert.equal(await page.locator("tr.send-row").count(), 1);

  // The pages that only know this computer say so; the header says where the window is.
  for (const [nav, heading] of [
    ["nav-credentials", "This computer's credentials"],
    ["nav-settings", "This computer's settings"],
  ]) {
    await page.getByTestId(nav).click();
    await page.getByRole("heading", { name: heading, exact: true }).waitFor();
    assert.match(await page.getByTestId("local-only-note").innerText(), /The window is on backend-1, but this page shows this computer's/);
    assert.match(await status().innerText(), /backend-1 — connected/);
  }
  await page.getByTestId("nav-codes").click();
  assert.equal(await page.getByTestId("local-only-note").count(), 0);
  assert.match(await status().innerText(), /backend-1 — connected/);

  // Lost, with the reason and the retry; then found again.
  await page.evaluate(() => window.__msgops.setRemoteStatus({ state: "disconnected", reason: "connection reset by peer", retry_in_ms: 5000 }));
  await statusSays("backend-1 — disconnected: connection reset by peer, retrying in");
  assert.match(await status().innerText(), /retrying in [45] s$/);
  await app.screenshot("connections-disconnected");
  await page.evaluate(() => window.__msgops.setRemoteStatus({ state: "connected", since: new Date().toISOString() }));
  await statusSays("backend-1 — connected");

  // Back to this computer, in one choice.
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("connection-switcher").selectOption({ label: "This computer" });
  await statusSays("This computer");
  assert.deepEqual((await app.calls("use_connection")).map((c) => c.args).at(-1), { name: null });
  await page.locator('[data-testid="provider-sendgrid"][data-state="OPEN"]').waitFor();
  await page.getByTestId("test-send-submit").waitFor();
  assert.ok((await page.getByTestId("toggle-enabled").count()) > 0);
  await page.getByTestId("nav-codes").filter({ hasText: "Codes12" }).waitFor();
  assert.equal(await page.title(), "msgops");
});

test("switching from the header alone: connecting, then connected", async () => {
  await page.evaluate(() => (window.__msgops.state.autoConnect = false));
  await page.getByTestId("connection-switcher").selectOption("staging");
  await statusSays("Connecting to staging…");
  await page.evaluate(() => window.__msgops.setRemoteStatus({ state: "connected", since: new Date().toISOString() }));
  await statusSays("staging — connected to 127.0.0.1:8787");
  await page.locator('[data-testid="provider-sendgrid"][data-state="CLOSED"]').waitFor();
});

test("a refused add shows the backend's error and saves nothing", async () => {
  // The token refused by the service.
  await fillForm({ token: "msgops_WRONG_EXAMPLE" });
  await page.getByTestId("connection-check").click();
  await page.getByTestId("connection-pin").check();
  await page.getByTestId("connection-add").click();
  const error = page.getByTestId("connection-error");
  await error.waitFor();
  assert.equal(await error.getAttribute("role"), "alert");
  assert.match(await error.innerText(), /backend-1\.example\.com:8443 refused the token \(HTTP 401\)/);
  assert.equal(await page.getByTestId("connection-token").inputValue(), "", "the token is not kept, even refused");
  assert.equal(await page.getByTestId("connection-row-backend-1").count(), 0);
  assert.equal(await app.calls("use_connection").then((c) => c.length), 0);
  await app.screenshot("connections-refused");

  // Compared but not pinned: a self-signed certificate is not trusted by the system roots.
  await page.getByTestId("connection-pin").uncheck();
  await page.getByTestId("connection-token").fill(TOKEN);
  await page.getByTestId("connection-add").click();
  await error.filter({ hasText: "not trusted by this computer's system roots" }).waitFor();
  assert.equal((await app.calls("add_connection")).at(-1).args.request.fingerprint, null);

  // A service that cannot be reached: said at the certificate check already.
  await page.getByTestId("connection-url").fill("https://unreachable.example.com:8443");
  await page.getByTestId("connection-check").click();
  await error.filter({ hasText: "cannot reach unreachable.example.com:8443: connection refused" }).waitFor();
  assert.equal(await page.getByTestId("connection-fingerprint").count(), 0);
  assert.equal(await status().innerText(), "This computer");
});

test("removing a connection asks first; the one in use returns the window to this computer", async () => {
  await page.getByTestId("connection-switcher").selectOption("staging");
  await statusSays("staging — connected");
  await page.getByTestId("nav-connections").click();
  const dialogs = [];
  const answer = (accept) =>
    page.once("dialog", (dialog) => {
      dialogs.push(dialog.message());
      return accept ? dialog.accept() : dialog.dismiss();
    });
  answer(false);
  await page.getByTestId("connection-remove-staging").click();
  assert.equal(dialogs.length, 1);
  assert.match(dialogs[0], /Remove the connection staging\? Its token is forgotten and the window returns to this computer\./);
  assert.equal(await app.calls("remove_connection").then((c) => c.length), 0);
  answer(true);
  await page.getByTestId("connection-remove-staging").click();
  await page.getByTestId("connection-row-staging").waitFor({ state: "detached" });
  await statusSays("This computer");
  assert.deepEqual((await app.calls("remove_connection")).map((c) => c.args), [{ name: "staging" }]);
  assert.deepEqual(await page.getByTestId("connection-switcher").locator("option").allInnerTexts(), ["This computer"]);
});
