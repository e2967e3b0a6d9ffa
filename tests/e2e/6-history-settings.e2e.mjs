// History and Settings in the real window, after the dashboard and peer tests: the sends they
// made are in the history with their failovers, and settings are checked as they are typed,
// saved to the configuration file and in force on the dashboard without a restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { openApp, eventually, screenshot } from "./session.mjs";

let browser;

before(async () => {
  // Clear the notifications test 5 raised, so the screenshots show the pages alone.
  execFileSync("dunstctl", ["close-all"]);
  browser = await openApp();
  await eventually(async () => (await browser.$('[data-testid="nav-history"]')).isExisting(), "the window");
});
after(async () => {
  await browser?.deleteSession();
});

test("History: the SNS outage shows as six failovers to Twilio, and a send opens to its attempts", async () => {
  await (await browser.$('[data-testid="nav-history"]')).click();
  const routes = await eventually(async () => {
    const r = await browser.$('[data-testid="failover-routes"]');
    return (await r.isExisting()) ? r : null;
  }, "failover routes");
  // Five sends failed at SNS, one skipped it while its breaker was OPEN.
  assert.match(await routes.getText(), /AWS SNS → Twilio: 6/);
  const summary = await (await browser.$('[data-testid="history-summary"]')).getText();
  assert.match(summary, /failed over\s*6/i);

  const outcome = (await browser.$$('form[aria-label="Filter sends"] select'))[2];
  await outcome.selectByAttribute("value", "failed_over");
  await eventually(async () => /of 6\b/.test(await (await browser.$('[data-testid="page-range"]')).getText()), "six failed-over sends");
  const toggle = await browser.$("button.row-toggle");
  await toggle.click();
  const attempts = await eventually(async () => {
    const a = await browser.$("tr.send-attempts");
    return (await a.isExisting()) ? a : null;
  }, "the attempts of the newest send");
  // The newest failover skipped SNS for its breaker and Twilio delivered.
  assert.match(await attempts.getText(), /AWS SNS\s*skipped: breaker open/);
  assert.match(await attempts.getText(), /Twilio\s*delivered/);
  await outcome.selectByAttribute("value", "");
  screenshot("history.png");
});

/** The service's msgops_codes_seen_total, summed over its labels. */
async function codesSeen() {
  const metrics = await (await fetch(`${process.env.MSGOPS_E2E_SERVICE}/metrics`)).text();
  return [...metrics.matchAll(/^msgops_codes_seen_total\{[^}]*\} (\d+)/gm)].reduce((n, m) => n + Number(m[1]), 0);
}

test("Settings: a bad value is flagged as it is typed, a good one is saved and in force", async () => {
  await (await browser.$('[data-testid="nav-settings"]')).click();
  const threshold = await eventually(async () => {
    const t = await browser.$('input[aria-label="Twilio failure threshold"]');
    return (await t.isExisting()) ? t : null;
  }, "the settings form");
  assert.equal(await threshold.getValue(), "3");

  // A directory typed where the first followed log is: flagged as it is typed, then removed.
  await (await browser.$('input[aria-label="Log file 1"]')).setValue(path.dirname(process.env.MSGOPS_E2E_BACKEND_LOG));
  const firstLog = await browser.$('[data-testid="problem-logs.follow.0"]');
  await eventually(async () => /directory/.test(await firstLog.getText().catch(() => "")), "the directory flagged");
  await (await browser.$('button[aria-label="Remove log file 1"]')).click();

  // A custom pattern without its `code` group: the backend's check names the problem.
  await (await browser.$("//button[contains(., 'Add code pattern')]")).click();
  const pattern = await browser.$('input[aria-label="Code pattern 1"]');
  await pattern.setValue("Your code: (\\d{6})");
  await eventually(async () => (await pattern.getAttribute("aria-invalid")) === "true", "pattern flagged");
  const problem = await browser.$('[data-testid="problem-logs.patterns.0"]');
  assert.match(await problem.getText(), /named group `code`/);
  const save = await browser.$("//button[@type='submit' and contains(., 'Save')]");
  assert.equal(await save.isEnabled(), false);
  await pattern.setValue("Your code: (?P<code>\\d{6})");
  await eventually(async () => (await pattern.getAttribute("aria-invalid")) !== "true", "pattern accepted");

  await threshold.setValue("4");
  await eventually(async () => save.isEnabled(), "save enabled");
  screenshot("settings.png");
  const seenBefore = await codesSeen();
  assert.ok(seenBefore > 0, "the service counted the logs' codes");
  await save.click();
  await eventually(async () => /Saved to/.test(await browser.$(".save-notice").getText().catch(() => "")), "saved");

  const config = readFileSync(process.env.MSGOPS_CONFIG, "utf8");
  assert.match(config, /\[twilio\.policy\][^[]*failure_threshold = 4/);
  assert.match(config, /patterns = \[[^\]]*Your code: \(\?P<code>/);
  // The watcher restarted on the remaining log: its codes are read again, the removed log's are gone.
  await (await browser.$('[data-testid="nav-codes"]')).click();
  await eventually(async () => (await (await browser.$('[data-testid="code-list"]')).getText()).includes("135790"), "otp.log codes again");
  assert.ok(!(await (await browser.$('[data-testid="code-list"]')).getText()).includes("091282"));
  // Read again, counted once: the restart adds nothing to the service's count of codes seen.
  assert.equal(await codesSeen(), seenBefore, "codes read again after the restart are not counted again");
  // In force at once: the Twilio card's threshold is now 4.
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  await eventually(async () => / \/ 4$/.test(await (await browser.$('[data-testid="provider-twilio"] [data-testid="failures"]')).getText()), "Twilio threshold 4 on the dashboard");
});
