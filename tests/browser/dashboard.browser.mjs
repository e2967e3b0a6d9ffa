// Dashboard: the six providers in chain order, a breaker opening live, disabling a provider,
// and a test send whose code is typed and pasted back.
import { test, before, beforeEach, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { openApp } from "./harness.mjs";

/** The paste rule's table, shared with the Rust and Vitest tests. */
const PASTE_CASES = JSON.parse(readFileSync(new URL("../../crates/logwatch/testdata/paste_cases.json", import.meta.url), "utf8")).cases;

let app;
let page;
before(async () => {
  app = await openApp();
  page = app.page;
});
// A fresh page is a fresh fake backend: no test depends on another.
beforeEach(() => app.reload());
afterEach(() => app.assertClean());
after(() => app?.close());

const card = (id) => page.getByTestId(`provider-${id}`);

test("six provider cards in chain order, each with its breaker state in words", async () => {
  const cards = page.locator('[data-testid^="provider-"]');
  await cards.nth(5).waitFor();
  const ids = await cards.evaluateAll((els) => els.map((e) => e.dataset.testid.replace("provider-", "")));
  assert.deepEqual(ids, ["sns", "twilio", "console", "ses", "sendgrid", "smtp"]);
  const states = await page.getByTestId("breaker-state").allInnerTexts();
  assert.deepEqual(
    states.map((s) => s.replace(/^\W+/, "").trim()),
    ["Closed", "Closed", "Closed", "Closed", "Open", "Not configured"],
  );
  assert.match(await card("sendgrid").getByTestId("countdown").innerText(), /^[34]:\d\d$/);
  await app.screenshot("dashboard");
});

test("a breaker_transition event turns the card OPEN live", async () => {
  assert.equal(await card("twilio").getAttribute("data-state"), "CLOSED");
  await page.evaluate(() => {
    const { state, emitChain } = window.__msgops;
    const twilio = state.health.sms_providers.find((p) => p.id === "twilio");
    const at = new Date().toISOString();
    Object.assign(twilio, {
      breaker_state: "OPEN",
      is_healthy: false,
      consecutive_failures: 3,
      open_until: new Date(Date.now() + 60_000).toISOString(),
      open_remaining_ms: 60_000,
      last_error: { kind: "authentication", message: "HTTP 401: Authenticate", provider_code: 20003, at },
    });
    return emitChain({ kind: "breaker_transition", channel: "sms", provider: "twilio", transition: { from: "CLOSED", to: "OPEN", at, reason: "3 consecutive failures" } });
  });
  await page.locator('[data-testid="provider-twilio"][data-state="OPEN"]').waitFor();
  assert.match(await card("twilio").getByTestId("breaker-state").innerText(), /Open/);
  assert.match(await card("twilio").getByTestId("last-error").innerText(), /Authentication failed — Twilio 20003/);
  assert.match(await page.getByTestId("transitions").innerText(), /twilio\s+Closed → Open — 3 consecutive failures/);
  await app.screenshot("dashboard-breaker-open");
});

test("each chain says its status; on-call resets an OPEN breaker from its card and the operation is listed", async () => {
  // The mock's SendGrid is OPEN and SMTP unconfigured: the email chain still has SES.
  assert.equal(await page.getByTestId("chain-status-email").innerText(), "healthy");
  assert.equal(await page.getByTestId("chain-status-sms").innerText(), "healthy");
  // Trial first: OPEN → HALF_OPEN, the next send is the trial.
  await card("sendgrid").getByTestId("control-trial").click();
  await page.locator('[data-testid="provider-sendgrid"][data-state="HALF_OPEN"]').waitFor();
  assert.equal(await card("sendgrid").getByTestId("control-trial").count(), 0, "no trial button unless OPEN");
  // Then a reset: CLOSED, its last error gone, and both operations in the list, newest first.
  await card("sendgrid").getByTestId("control-reset").click();
  await page.locator('[data-testid="provider-sendgrid"][data-state="CLOSED"]').waitFor();
  assert.equal(await card("sendgrid").getByTestId("last-error").count(), 0);
  assert.equal(await card("sendgrid").getByTestId("control-reset").count(), 0, "nothing left to reset");
  assert.deepEqual(
    (await app.calls("control_provider")).map((c) => c.args),
    [
      { provider: "sendgrid", control: "trial" },
      { provider: "sendgrid", control: "reset" },
    ],
  );
  const ops = page.getByTestId("operations").locator("li");
  await ops.nth(1).waitFor();
  assert.match(await ops.nth(0).innerText(), /SendGrid breaker reset.*HALF_OPEN → CLOSED; by ops@support-desk \(app\)/);
  assert.match(await ops.nth(1).innerText(), /SendGrid breaker trial.*OPEN → HALF_OPEN/);
  // Every SMS provider but the Console down: the SMS chain is degraded and says why.
  await page.evaluate(() => {
    const { state, emitChain } = window.__msgops;
    for (const id of ["sns", "twilio"]) {
      Object.assign(state.health.sms_providers.find((p) => p.id === id), { breaker_state: "OPEN", is_healthy: false });
    }
    const at = new Date().toISOString();
    return emitChain({ kind: "breaker_transition", channel: "sms", provider: "twilio", transition: { from: "CLOSED", to: "OPEN", at, reason: "3 consecutive failures" } });
  });
  await page.getByTestId("chain-status-sms").filter({ hasText: "degraded" }).waitFor();
  assert.match(await page.getByTestId("chain-reason-sms").innerText(), /^only Console can deliver \(AWS SNS: breaker open; Twilio: breaker open\)$/);
  await app.screenshot("dashboard-degraded");
});

test("disabling a provider asks the backend and shows it disabled", async () => {
  await card("console").getByTestId("toggle-enabled").click();
  await card("console").getByTestId("breaker-state").filter({ hasText: "Disabled" }).waitFor();
  assert.deepEqual(
    (await app.calls("set_provider_enabled")).map((c) => c.args),
    [{ provider: "console", enabled: false }],
  );
  assert.equal(await card("console").getByTestId("toggle-enabled").innerText(), "Enable Console");
});

test("a test send shows the attempt timeline, and the code typed or pasted back is checked", async () => {
  await page.getByLabel("Channel").selectOption("sms");
  await page.getByTestId("test-send-to").fill("+14165550199");
  await page.getByTestId("test-send-submit").click();
  const result = page.getByTestId("send-result");
  await result.waitFor();
  assert.deepEqual((await app.calls("send_test")).map((c) => c.args), [{ request: { channel: "sms", to: "+14165550199" } }]);
  assert.equal(await result.getAttribute("data-status"), "delivered");
  assert.match(await result.innerText(), /Delivered by twilio/i);
  // The mock's SNS refuses its credentials: the chain fails over to Twilio.
  const attempts = await result.locator(".attempt").allInnerTexts();
  assert.equal(attempts.length, 2);
  assert.match(attempts[0], /(sns|AWS SNS)\s+Authentication failed\s+212 ms/);
  assert.match(attempts[1], /twilio\s+delivered\s+348 ms/i);

  // Typed: each digit moves to the next box; six digits check themselves.
  await page.getByLabel("Digit 1 of 6").click();
  await page.keyboard.type("123456");
  await page.getByTestId("code-check").filter({ hasText: "That is not the code this test sent." }).waitFor();

  // Pasted as the message reads: every box fills at once.
  await page.getByLabel("Digit 1 of 6").evaluate((box) => {
    const data = new DataTransfer();
    data.setData("text/plain", "Your code is 091282");
    box.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
  });
  await page.getByTestId("code-check").filter({ hasText: "Code matches: delivery confirmed." }).waitFor();
  const boxes = await page.locator(".code-box").evaluateAll((els) => els.map((e) => e.value).join(""));
  assert.equal(boxes, "091282");
  await app.screenshot("dashboard-test-send");
});

/** Pastes `text` into a box as Chromium does: a ClipboardEvent carrying a DataTransfer. */
async function paste(box, text) {
  await box.evaluate((el, t) => {
    const data = new DataTransfer();
    data.setData("text/plain", t);
    el.dispatchEvent(new ClipboardEvent("paste", { clipboardData: data, bubbles: true, cancelable: true }));
  }, text);
}

test("pasting whole log lines from the paste table fills the boxes with the code, not the date or the phone number", async () => {
  await page.getByTestId("test-send-to").fill("+14168802544");
  await page.getByTestId("test-send-submit").click();
  await page.getByTestId("send-result").waitFor();
  const boxes = () => page.locator(".code-box").evaluateAll((els) => els.map((e) => e.value).join(""));
  // Every six-digit case of the table; the log lines among them are the point.
  const cases = PASTE_CASES.filter((c) => c.length === 6);
  assert.ok(cases.filter((c) => c.text.includes(" - ") && c.code).length >= 3, "the table has whole log lines with a code");
  for (const c of cases) {
    await paste(page.getByLabel("Digit 1 of 6"), "000000");
    assert.equal(await boxes(), "000000");
    // Into the third box, as anyone might: the boxes fill from the first.
    await paste(page.getByLabel("Digit 3 of 6"), c.text);
    // A text with no code leaves the boxes as they were.
    assert.equal(await boxes(), c.code ?? "000000", `${JSON.stringify(c.text)}: ${c.why}`);
  }
  // The fallback line the backend wrote for this test send is the code it sent.
  await paste(page.getByLabel("Digit 1 of 6"), "2025-10-29 16:34:53,202 - services.otp_service - WARNING - SMS FALLBACK - OTP for +14168802544: 091282");
  await page.getByTestId("code-check").filter({ hasText: "Code matches: delivery confirmed." }).waitFor();
  assert.equal(await boxes(), "091282");
});

test("a provider that refused its key offers the fix: straight to rotating that key", async () => {
  const fix = card("sendgrid").getByTestId("fix-credentials");
  assert.equal(await fix.innerText(), "Rotate the SendGrid key");
  assert.equal(await card("twilio").getByTestId("fix-credentials").count(), 0, "no fix for a provider without a key problem");
  await fix.click();
  assert.equal(await page.getByTestId("nav-credentials").getAttribute("aria-current"), "page");
  await page.locator('form[aria-label="Rotate sendgrid credentials"]').waitFor();
});

test("each card counts today's sends from the history, refreshed by the send_finished event", async () => {
  const counts = async (id) => (await card(id).getByTestId("counts").innerText()).split(" / ").map(Number);
  const [twilioSent, twilioFailed] = await counts("twilio");
  const [snsSent, snsFailed] = await counts("sns");
  await page.getByTestId("test-send-to").fill("+14165550123");
  await page.getByTestId("test-send-submit").click();
  await page.getByTestId("send-result").waitFor();
  // The mock's SNS refuses its key and Twilio delivers.
  await card("twilio").getByTestId("counts").filter({ hasText: `${twilioSent + 1} / ${twilioFailed}` }).waitFor();
  assert.deepEqual(await counts("sns"), [snsSent, snsFailed + 1]);
  assert.match(await card("twilio").locator("dt").allInnerTexts().then((t) => t.join("|")), /Sent \/ failed today/i);
});

test("a card shows its provider's delivered share of the last hour, from the reports, and follows new ones", async () => {
  const rate = card("twilio").getByTestId("delivery-rate");
  assert.equal(await rate.innerText(), "92 % (23 of 25)");
  assert.match(await card("twilio").locator(".facts").innerText(), /Delivered \(1 h\)\s+92 % \(23 of 25\)/i);
  // Providers without reports say nothing about them.
  for (const id of ["console", "sendgrid", "smtp"]) assert.equal(await card(id).getByTestId("delivery-rate").count(), 0, id);
  assert.equal(await card("twilio").locator(".delivery-low").count(), 0);

  // New reports: the carrier lost more of Twilio's messages.
  await page.evaluate(() => {
    const { state, emitDeliveries } = window.__msgops;
    Object.assign(state.health.delivery.providers.find((r) => r.provider === "twilio"), { delivered: 18, failed: 7, pending: 0, rate: 0.72 });
    return emitDeliveries();
  });
  await rate.filter({ hasText: "72 % (18 of 25)" }).waitFor();
  assert.equal(await card("twilio").locator(".delivery-low").count(), 1);
  assert.match(await rate.innerText(), /below 80 %/);
  await app.screenshot("dashboard-delivery-low");
});
