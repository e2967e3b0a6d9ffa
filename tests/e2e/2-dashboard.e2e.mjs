// The dashboard in the real window: six providers in chain order with their breaker states,
// a test send delivered by the Console provider into the log, and a breaker transition pushed
// live to the window when the Console provider starts failing.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, mkdirSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { openApp, eventually, screenshot } from "./session.mjs";

const consoleLog = process.env.MSGOPS_E2E_CONSOLE_LOG;
let browser;

before(async () => {
  browser = await openApp();
});
after(async () => {
  await browser?.deleteSession();
});

async function cardState(id) {
  const card = await browser.$(`[data-testid="provider-${id}"]`);
  return card.getAttribute("data-state");
}

test("lists both chains, six providers in priority order, with their states", async () => {
  const cards = await eventually(async () => {
    const found = await browser.$$('[data-testid^="provider-"]');
    return found.length === 6 ? found : null;
  }, "six provider cards");
  const ids = [];
  for (const c of cards) ids.push((await c.getAttribute("data-testid")).replace("provider-", ""));
  assert.deepEqual(ids, ["sns", "twilio", "console", "ses", "sendgrid", "smtp"]);
  for (const id of ids) assert.equal(await cardState(id), "CLOSED", id);
  const twilio = await browser.$('[data-testid="provider-twilio"]');
  assert.match(await twilio.getText(), /Not configured/);
  assert.match(await twilio.getText(), /0 \/ 3/);
  const sns = await browser.$('[data-testid="provider-sns"]');
  assert.match(await sns.getText(), /0 \/ 5/);
  screenshot("dashboard.png");
});

test("a second launch hands over to the running window and exits", async () => {
  const second = spawnSync(process.env.MSGOPS_E2E_APP, [], { timeout: 20_000, encoding: "utf8" });
  assert.equal(second.error, undefined, "the second instance kept running");
  assert.equal(second.status, 0);
  // The first window still answers.
  assert.equal(await (await browser.$('[data-testid="provider-sns"]')).isExisting(), true);
});

test("an on-call engineer disables a provider: it leaves the chain and the choice is saved", async () => {
  const ses = await browser.$('[data-testid="provider-ses"]');
  await (await ses.$('[data-testid="toggle-enabled"]')).click();
  await eventually(async () => /○ Disabled/.test(await ses.getText()), "SES shown as disabled");
  const config = readFileSync(process.env.MSGOPS_CONFIG, "utf8");
  assert.match(config, /\[ses\.policy\]\s*\nenabled = false/);
  await (await ses.$('[data-testid="toggle-enabled"]')).click();
  await eventually(async () => !/○ Disabled/.test(await ses.getText()), "SES enabled again");
});

test("a test SMS is delivered by the Console provider into its own log, and the code is on the Codes page with no configuration", async () => {
  await (await browser.$('[data-testid="test-send-to"]')).setValue("+14165550123");
  await (await browser.$('[data-testid="test-send-submit"]')).click();
  const result = await eventually(async () => {
    const r = await browser.$('[data-testid="send-result"]');
    return (await r.isExisting()) ? r : null;
  }, "the send result");
  assert.equal(await result.getAttribute("data-status"), "delivered");
  assert.match(await result.getText(), /Delivered by Console/);
  assert.match(await result.getText(), /AWS SNS\s*skipped: not configured/);
  const log = readFileSync(consoleLog, "utf8");
  assert.match(log, /- WARNING - SMS FALLBACK - OTP for \+14165550123: \d{6}\n$/);
  // The operator types back the code the customer received (autofill puts it in one box).
  const sent = log.match(/OTP for \+14165550123: (\d{6})\n$/)[1];
  await (await browser.$('input[aria-label="Digit 1 of 6"]')).setValue(sent);
  await eventually(async () => /Code matches/.test(await (await browser.$('[data-testid="code-check"]')).getText()), "the code check");
  // The card's counters were pushed by the send event.
  await eventually(async () => /1 \/ 0/.test(await (await browser.$('[data-testid="provider-console"] [data-testid="counts"]')).getText()), "console sent count 1");
  // Nothing in [logs] follow names the Console provider's log, yet its code is on the Codes page.
  const follow = readFileSync(process.env.MSGOPS_CONFIG, "utf8").match(/^follow = \[[^\]]*\]/m)?.[0] ?? "";
  assert.match(follow, /backend\.log/);
  assert.doesNotMatch(follow, /console-sms\.log/);
  await (await browser.$('[data-testid="nav-codes"]')).click();
  const row = await eventually(async () => {
    for (const r of await browser.$$('[data-testid="code-row"]')) {
      if ((await r.getText()).includes(sent)) return r;
    }
    return null;
  }, `code ${sent} on the Codes page`);
  assert.match(await row.getText(), /\+14165550123/);
  assert.match(await row.getText(), /expires in (9|10):\d\d/);
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
});

test("a breaker opening is pushed to the window as it happens", async () => {
  // Make the Console provider fail: its log path becomes a directory.
  rmSync(consoleLog);
  mkdirSync(consoleLog);
  await (await browser.$('[data-testid="test-send-submit"]')).click();
  await eventually(async () => (await cardState("console")) === "OPEN", "console card OPEN");
  const card = await browser.$('[data-testid="provider-console"]');
  assert.match(await card.getText(), /Provider unavailable/);
  const transitions = await browser.$('[data-testid="transitions"]');
  assert.match(await transitions.getText(), /console Closed → Open/);
  screenshot("dashboard-open.png");
});

test("once the cause is fixed, on-call resets the breaker from its card: CLOSED at once, and on record", async () => {
  // The cause fixed: the Console log is a file again.
  rmSync(consoleLog, { recursive: true, force: true });
  const card = await browser.$('[data-testid="provider-console"]');
  await (await card.$('[data-testid="control-reset"]')).click();
  await eventually(async () => (await cardState("console")) === "CLOSED", "console card CLOSED");
  const operations = await eventually(async () => {
    const list = await browser.$('[data-testid="operations"]');
    return (await list.isExisting()) ? list : null;
  }, "the on-call operations list");
  assert.match(await operations.getText(), /Console breaker reset.*OPEN → CLOSED; by .*\(app\)/);
  const record = JSON.parse(readFileSync(`${process.env.MSGOPS_DATA_DIR}/operations.jsonl`, "utf8").trim().split("\n").pop());
  assert.equal(record.operation, "breaker_reset");
  assert.equal(record.provider, "console");
  assert.equal(record.actor.via, "app");
  // The next send is delivered by the Console without waiting out a cool-down.
  await (await browser.$('[data-testid="test-send-submit"]')).click();
  await eventually(async () => readFileSync(consoleLog, "utf8").includes("OTP"), "a code in the Console log");
});
