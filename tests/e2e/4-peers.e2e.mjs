// The on-call engineer's incident, replayed against real peers: AWS keys imported into the
// keychain, a test SMS delivered by SNS (moto's server), then moto stopped — each send fails
// at SNS and is delivered by Twilio (Prism serving Twilio's own OpenAPI description), and the
// SNS card turns OPEN on the fifth failure, pushed live.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { openApp, eventually, screenshot } from "./session.mjs";

// Obviously fake AWS keys (moto accepts any); never the shape of a real access key id.
const KEY_ID = "AKIDE2EEXAMPLE000001";
const SECRET = "e2eSecretAccessKeyEXAMPLE000000000000000";
const RECIPIENT = "+14165550142";
const envFile = path.join(path.dirname(process.env.MSGOPS_E2E_BACKEND_LOG), "aws.env");
let browser;

async function card(id) {
  return browser.$(`[data-testid="provider-${id}"]`);
}
async function field(id, testid) {
  return (await (await card(id)).$(`[data-testid="${testid}"]`)).getText();
}
/** "sent / failed" of a provider card. */
async function counts(id) {
  const [sent, failed] = (await field(id, "counts")).match(/(\d+) \/ (\d+)/).slice(1).map(Number);
  return { sent, failed };
}
async function sendResultText() {
  return (await browser.$('[data-testid="send-result"]')).getText();
}
async function motoSms() {
  const data = await (await fetch(`${process.env.MSGOPS_E2E_MOTO}/moto-api/data.json`)).json();
  return data.sns?.SmsMessage ?? [];
}

before(async () => {
  writeFileSync(envFile, `AWS_ACCESS_KEY_ID=${KEY_ID}\nAWS_SECRET_ACCESS_KEY=${SECRET}\nAWS_REGION=us-east-1\n`);
  browser = await openApp();
  await eventually(async () => (await browser.$('[data-testid="nav-credentials"]')).isExisting(), "the window");
});
after(async () => {
  await browser?.deleteSession();
});

test("AWS keys imported into the keychain put SNS (moto) in the SMS chain", async () => {
  await (await browser.$('[data-testid="nav-credentials"]')).click();
  await (await browser.$('[data-testid="import-path"]')).setValue(envFile);
  await (await browser.$('[data-testid="import-preview-button"]')).click();
  await eventually(async () => (await browser.$('[data-testid="import-preview"]')).isExisting(), "the preview");
  await (await browser.$('[data-testid="import-apply"]')).click();
  await eventually(async () => /stored/.test(await (await browser.$('[data-testid="cred-aws"]')).getText()), "aws stored");
  assert.ok(!(await browser.getPageSource()).includes(SECRET), "a secret reached the window");
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  await eventually(async () => /sending normally/.test(await (await card("sns")).getText()), "sns configured");
});

test("a test SMS is delivered by SNS and the code that reached moto checks out", async () => {
  await (await browser.$('[data-testid="test-send-to"]')).setValue(RECIPIENT);
  await (await browser.$('[data-testid="test-send-submit"]')).click();
  await eventually(async () => /Delivered by AWS SNS/.test(await sendResultText()), "delivered by SNS");
  const sms = await eventually(async () => (await motoSms()).find((m) => m.phone_number === RECIPIENT), "the SMS in moto");
  const code = sms.message.match(/code is (\d{6})/)[1];
  await (await browser.$('input[aria-label="Digit 1 of 6"]')).setValue(code);
  await eventually(async () => /Code matches/.test(await (await browser.$('[data-testid="code-check"]')).getText()), "the code check");
  assert.deepEqual(await counts("sns"), { sent: 1, failed: 0 });
});

test("moto stopped: SNS fails five times, Twilio (Prism) delivers each, SNS turns OPEN on the fifth", async () => {
  process.kill(Number(process.env.MSGOPS_E2E_MOTO_PID), "SIGTERM");
  await eventually(async () => {
    try {
      await fetch(process.env.MSGOPS_E2E_MOTO);
      return false;
    } catch {
      return true;
    }
  }, "moto stopped");
  for (let failure = 1; failure <= 5; failure++) {
    const before = await counts("twilio");
    await (await browser.$('[data-testid="test-send-submit"]')).click();
    await eventually(async () => (await counts("twilio")).sent === before.sent + 1, `send ${failure} delivered by Twilio`);
    const text = await sendResultText();
    assert.match(text, /Delivered by Twilio/);
    assert.match(text, /AWS SNS/, "the SNS attempt is on the timeline");
    await eventually(async () => (await field("sns", "failures")).startsWith(`${failure} / 5`), `SNS failures ${failure} / 5`);
    const state = await (await card("sns")).getAttribute("data-state");
    assert.equal(state, failure < 5 ? "CLOSED" : "OPEN", `SNS after failure ${failure}`);
  }
  assert.match(await (await card("sns")).getText(), /✕ Open/);
  assert.match(await field("sns", "last-error"), /could not reach the service: Connection refused/);
  assert.match(await (await browser.$('[data-testid="transitions"]')).getText(), /sns Closed → Open/);
  screenshot("dashboard-failover.png");

  // With the breaker OPEN, SNS is skipped without a call and Twilio delivers at once.
  const before = await counts("twilio");
  await (await browser.$('[data-testid="test-send-submit"]')).click();
  await eventually(async () => (await counts("twilio")).sent === before.sent + 1, "delivered by Twilio");
  assert.match(await sendResultText(), /AWS SNS\s*skipped: breaker open/i);
  assert.deepEqual(await counts("sns"), { sent: 1, failed: 5 });
});
