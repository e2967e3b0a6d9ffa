// Support staff's view: a code the backend writes to its log shows up in Codes within one
// second, searchable by the last digits of the number, and can be copied.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { openApp, eventually, screenshot, stamp } from "./session.mjs";

const backendLog = process.env.MSGOPS_E2E_BACKEND_LOG;
let browser;

before(async () => {
  browser = await openApp();
  await eventually(async () => (await browser.$('[data-testid="nav-codes"]')).isExisting(), "the window");
  await (await browser.$('[data-testid="nav-codes"]')).click();
});
after(async () => {
  await browser?.deleteSession();
});

test("a code appended to the backend log appears in Codes within one second", async () => {
  // Let the follower reach the end of the (empty) file first.
  await new Promise((r) => setTimeout(r, 500));
  const written = Date.now();
  appendFileSync(
    backendLog,
    `${stamp()} - services.otp_service - ERROR - Twilio error: HTTP 401 error: Unable to create record: Authenticate\n` +
      `${stamp()} - services.otp_service - WARNING - SMS FALLBACK - OTP for +14165550123: 091282\n`,
  );
  const row = await eventually(async () => {
    for (const r of await browser.$$('[data-testid="code-row"]')) {
      if ((await r.getText()).includes("091282")) return r;
    }
    return null;
  }, "code 091282 in Codes", 5_000);
  const elapsed = Date.now() - written;
  assert.ok(elapsed <= 1000, `shown after ${elapsed} ms`);
  await eventually(async () => /\+14165550123/.test(await row.getText()), "the recipient on the row", 2_000);
  assert.match(await row.getText(), /expires in \d+:\d\d/);
});

test("support finds it by the last four digits and copies it", async () => {
  await (await browser.$('[data-testid="codes-search"]')).setValue("0123");
  const rows = await browser.$$('[data-testid="code-row"]');
  assert.equal(rows.length, 1);
  await (await rows[0].$("button")).click();
  await eventually(async () => /Copied 091282 for \+14165550123/.test(await (await browser.$('[data-testid="copied"]')).getText()), "copy confirmation");
  // It is on the X clipboard, where the support agent pastes it from.
  const clipboard = execFileSync("xclip", ["-o", "-selection", "clipboard"], { encoding: "utf8" });
  assert.equal(clipboard, "091282");
  screenshot("codes.png");
});

test("the Twilio 401 from the log is on the dashboard's diagnostics", async () => {
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  const diag = await eventually(async () => {
    const d = await browser.$('[data-testid="diagnostics"]');
    return (await d.isExisting()) ? d : null;
  }, "diagnostics");
  assert.match(await diag.getText(), /twilio HTTP 401: .*Authenticate/i);
});

test("the app's background service serves the backend's health JSON and counts the code", async () => {
  const service = process.env.MSGOPS_E2E_SERVICE;
  const health = await fetch(`${service}/api/v1/health/messaging`);
  const body = await health.json();
  assert.deepEqual(
    body.sms_providers.map((p) => [p.name, p.priority]),
    [["AWSSNSProvider", "PRIMARY"], ["TwilioSMSProvider", "SECONDARY"], ["ConsoleSMSProvider", "FALLBACK"]],
  );
  assert.equal(body.sms_providers[2].is_healthy, true);
  // No credentials are stored yet (the dashboard tests import them): only the Console has what
  // it needs, so neither chain is in use, which fails nothing: monitoring sees 200, not the
  // "503 forever" of a chain nobody configured.
  assert.equal(body.chains.sms.status, "unconfigured", body.chains.sms.reason);
  assert.equal(body.chains.email.status, "unconfigured");
  assert.equal(health.status, 200);
  const metrics = await (await fetch(`${service}/metrics`)).text();
  assert.match(metrics, /^msgops_codes_seen_total\{[^}]*\} [1-9]/m);
});
