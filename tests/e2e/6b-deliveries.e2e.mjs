// Delivery truth in the real window: a test send through Twilio (Prism), then Twilio's
// StatusCallback saying it never arrived (undelivered 30003), signed by Twilio's own Python
// library with the auth token in the keychain and posted to the app's embedded service. The
// History page shows the send's timeline with the error in plain words, and the dashboard's
// Twilio card its delivered share — without a reload.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { openApp, eventually, screenshot } from "./session.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const msgops = path.join(path.dirname(process.env.MSGOPS_E2E_APP), "msgops");
const service = process.env.MSGOPS_E2E_SERVICE;
// run.sh's `[service] public_url`: what Twilio is told to call, behind a TLS-terminating proxy.
const CALLBACK_URL = "https://ops.example.test/api/v1/webhooks/twilio";
const TOKEN = "e2e66666666666666666666666f00d66";
const RECIPIENT = "+14165550166";
let browser;

/** Twilio's RequestValidator.compute_signature (the `twilio` package), as Twilio signs. */
function twilioSignature(token, url, params) {
  const signed = spawnSync(path.join(root, ".venv/bin/python"), [path.join(root, "crates/webhooks/tests/twilio_peer.py")], {
    input: JSON.stringify({ ops: [{ op: "sign", token, url, params }] }),
    encoding: "utf8",
  });
  assert.equal(signed.status, 0, signed.stderr);
  return JSON.parse(signed.stdout).results[0].signature;
}

async function postCallback(params, signature) {
  const response = await fetch(`${service}/api/v1/webhooks/twilio`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", "x-twilio-signature": signature },
    body: new URLSearchParams(params).toString(),
  });
  return { status: response.status, body: await response.json() };
}

/** The Twilio message SID of the newest send to `to` in the shared history database, as
 * `msgops history` (another process) reads it. */
function sidOfLastSendTo(to) {
  const listed = spawnSync(msgops, ["history", "--json", "--recipient", to, "--limit", "50"], { encoding: "utf8" });
  assert.equal(listed.status, 0, listed.stdout + listed.stderr);
  for (const send of JSON.parse(listed.stdout).sends) {
    if (send.recipient !== to) continue;
    const twilio = send.outcome.attempts.find((a) => a.provider === "twilio" && a.provider_message_id);
    if (twilio) return twilio.provider_message_id;
  }
  return null;
}

before(async () => {
  // Clear the notifications earlier tests raised, so the screenshot shows the page alone.
  execFileSync("dunstctl", ["close-all"]);
  // Twilio keys this test knows, put in the keychain the way an admin does.
  const env = path.join(path.dirname(process.env.MSGOPS_E2E_BACKEND_LOG), "deliveries.env");
  writeFileSync(env, `TWILIO_ACCOUNT_SID=ACe2e0000000000000000000000000beef\nTWILIO_AUTH_TOKEN=${TOKEN}\n`);
  const imported = spawnSync(msgops, ["creds", "import", env, "--yes", "--replace-existing"], { encoding: "utf8" });
  assert.equal(imported.status, 0, imported.stdout + imported.stderr);
  browser = await openApp();
  await eventually(async () => (await browser.$('[data-testid="nav-dashboard"]')).isExisting(), "the window", 30_000);
  const card = await browser.$('[data-testid="provider-twilio"]');
  await eventually(async () => /sending normally/.test(await card.getText()), "Twilio in the SMS chain", 15_000);
});
after(async () => {
  await browser?.deleteSession();
});

test("an undelivered callback for a send is verified, shown on its History row with its meaning, and counted on the card", async () => {
  // A test send through Twilio only.
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  await (await browser.$('[data-testid="test-send-provider"]')).selectByAttribute("value", "twilio");
  await (await browser.$('[data-testid="test-send-to"]')).setValue(RECIPIENT);
  await (await browser.$('[data-testid="test-send-submit"]')).click();
  const sid = await eventually(() => sidOfLastSendTo(RECIPIENT), "the send's Twilio SID in the history", 20_000);
  assert.match(sid, /^SM/);

  const params = [
    ["AccountSid", "ACe2e0000000000000000000000000beef"],
    ["ApiVersion", "2010-04-01"],
    ["ErrorCode", "30003"],
    ["From", "+14165550100"],
    ["MessageSid", sid],
    ["MessageStatus", "undelivered"],
    ["SmsSid", sid],
    ["SmsStatus", "undelivered"],
    ["To", RECIPIENT],
  ];
  // A forgery first (the token of another account): refused, nothing shown.
  const forged = await postCallback(params, twilioSignature("e2e0000000000000000000000000bad0", CALLBACK_URL, params));
  assert.equal(forged.status, 403);
  assert.equal(forged.body.code, "webhook_rejected");
  const accepted = await postCallback(params, twilioSignature(TOKEN, CALLBACK_URL, params));
  assert.equal(accepted.status, 200, JSON.stringify(accepted.body));
  assert.equal(accepted.body.new, 1);

  // The dashboard card hears of it (no reload): nothing of Twilio's reported delivered.
  const rate = await eventually(async () => {
    const r = await browser.$('[data-testid="provider-twilio"] [data-testid="delivery-rate"]');
    return (await r.isExisting()) ? r : null;
  }, "the delivery rate on the Twilio card", 15_000);
  assert.match(await rate.getText(), /0 %/);

  await (await browser.$('[data-testid="nav-history"]')).click();
  const search = await eventually(async () => {
    const s = await browser.$('input[type="search"]');
    return (await s.isExisting()) ? s : null;
  }, "the history search");
  // By the recipient: Prism answers every send with its example's SID, so the earlier tests'
  // Twilio sends carry the same receipt (real SIDs are unique).
  await search.setValue(RECIPIENT);
  const row = await eventually(async () => {
    const rows = await browser.$$("tr.send-row");
    const texts = [];
    for (const r of rows) texts.push(await r.getText());
    if (texts.length === 1 && /undelivered 30003/.test(texts[0])) return rows[0];
    throw new Error(`rows: ${JSON.stringify(texts)}`);
  }, "the send's row with its delivery", 15_000);
  await (await row.$("button.row-toggle")).click();
  const timeline = await eventually(async () => {
    const t = await browser.$('ol[aria-label="Delivery reports"]');
    return (await t.isExisting()) ? t : null;
  }, "the delivery timeline");
  const text = await timeline.getText();
  assert.match(text, /not delivered by the carrier/);
  assert.match(text, /30003/);
  assert.match(text, /the phone is unreachable/);
  assert.ok(!(await browser.getPageSource()).includes(TOKEN), "a key reached the window");
  screenshot("history-delivery.png");
  await search.clearValue();

  // And on the command line, from the same file.
  const listed = spawnSync(msgops, ["deliveries", "--json", "--provider", "twilio"], { encoding: "utf8" });
  assert.equal(listed.status, 0, listed.stderr);
  const report = listed.stdout.trim().split("\n").map((l) => JSON.parse(l)).find((r) => r.provider_message_id === sid);
  assert.equal(report.status, "undelivered");
  assert.equal(report.meaning, "the phone is unreachable: switched off or out of coverage");
  assert.ok(report.send, "matched to its send");
});
