// Settings: the values in force, problems next to their field as you type, Save only once
// they are fixed, warnings that do not block, and the dashboard taking the new values.
import { test, before, beforeEach, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { openApp } from "./harness.mjs";

let app;
let page;
before(async () => {
  app = await openApp();
  page = app.page;
});
beforeEach(async () => {
  await app.reload();
  await page.getByTestId("nav-settings").click();
  await field("Log file 1").waitFor();
});
afterEach(() => app.assertClean());
after(() => app?.close());

const field = (label) => page.getByLabel(label, { exact: true });
const saveButton = () => page.getByRole("button", { name: "Save", exact: true });
const status = (text) => page.locator("#save-status").filter({ hasText: text }).waitFor();
const problem = (name) => page.getByTestId(`problem-${name}`);
/** Waits until the backend has answered the latest draft. */
const checked = () => page.locator("#save-status").filter({ hasNotText: "Checking…" }).waitFor({ state: "attached" });

test("the settings in force are shown, and there is nothing to save", async () => {
  assert.equal(await field("Log file 1").inputValue(), "/srv/backend/logs/app.log");
  assert.equal(await field("Code lifetime").inputValue(), "10");
  assert.equal(await field("Code lifetime unit").inputValue(), "minutes");
  assert.equal(await field("Log time zone").inputValue(), "auto");
  assert.equal(await field("Code length").inputValue(), "6");
  assert.equal(await field("Twilio failure threshold").inputValue(), "3");
  assert.equal(await field("AWS SNS rate per second").inputValue(), "20");
  await status("No changes to save.");
  assert.ok(await saveButton().isDisabled());
  await app.screenshot("settings");
});

test("problems show next to their field as you type; once fixed, Save stores the draft and the dashboard takes it", async () => {
  await field("Twilio failure threshold").fill("5000");
  await problem("providers.twilio.failure_threshold").filter({ hasText: "must be 1000 or less" }).waitFor();
  assert.equal(await field("Twilio failure threshold").getAttribute("aria-invalid"), "true");
  await status("Fix the error marked above to save.");
  assert.ok(await saveButton().isDisabled());
  const asked = (await app.calls("check_settings")).at(-1).args.settings;
  assert.equal(asked.providers.find((p) => p.id === "twilio").failure_threshold, 5000);

  await page.getByRole("button", { name: "Add log file" }).click();
  await field("Log file 2").fill("logs/worker.log");
  await problem("logs.follow.1").filter({ hasText: "is relative: give the full path" }).waitFor();
  await app.screenshot("settings-problems");

  // Fixed; what remains is a warning, which does not block saving.
  await field("Twilio failure threshold").fill("5");
  await field("Log file 2").fill("/srv/backend/logs/new.log");
  await problem("logs.follow.1").filter({ hasText: "does not exist yet" }).waitFor();
  await checked();
  assert.equal(await problem("providers.twilio.failure_threshold").count(), 0);
  assert.ok(await saveButton().isEnabled());

  await saveButton().click();
  const notice = page.getByRole("status").filter({ hasText: "Saved to /home/ops/.config/msgops/config.toml." });
  await notice.waitFor();
  assert.match(await notice.innerText(), /Log file 2: does not exist yet/);
  const saved = (await app.calls("save_settings")).map((c) => c.args.settings);
  assert.equal(saved.length, 1);
  assert.deepEqual(saved[0].logs, {
    follow: ["/srv/backend/logs/app.log", "/srv/backend/logs/new.log"],
    code_lifetime_secs: 600,
    patterns: [],
    timezone: "auto",
    code_length: 6,
  });
  assert.equal(saved[0].providers.find((p) => p.id === "twilio").failure_threshold, 5);
  await status("No changes to save.");
  await app.screenshot("settings-saved");

  // New log settings restart the watcher: the window reads the log snapshot again.
  await page.waitForFunction(() => window.__msgops.calls.filter((c) => c.cmd === "log_snapshot").length === 2);
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("provider-twilio").getByTestId("failures").filter({ hasText: "0 / 5" }).waitFor();
});

test("the log time zone and the code length are checked by the backend and saved", async () => {
  await field("Log time zone").fill("Mars/Olympus");
  await problem("logs.timezone").filter({ hasText: "unknown time zone `Mars/Olympus`" }).waitFor();
  assert.equal(await field("Log time zone").getAttribute("aria-invalid"), "true");
  await field("Code length").fill("11");
  await problem("logs.code_length").filter({ hasText: "must be between 4 and 10 digits, not 11" }).waitFor();
  await status("Fix 2 errors marked above to save.");
  await app.screenshot("settings-clock");

  await field("Log time zone").fill("America/Toronto");
  await field("Code length").fill("8");
  await problem("logs.timezone").waitFor({ state: "detached" });
  await problem("logs.code_length").waitFor({ state: "detached" });
  await checked();
  assert.equal(await field("Log time zone").getAttribute("aria-invalid"), "false");
  await saveButton().click();
  await page.getByRole("status").filter({ hasText: "Saved to" }).waitFor();
  const [saved] = (await app.calls("save_settings")).map((c) => c.args.settings);
  assert.equal(saved.logs.timezone, "America/Toronto");
  assert.equal(saved.logs.code_length, 8);
});

test("Discard changes goes back to the settings in force", async () => {
  await field("Code lifetime").fill("15");
  await checked();
  assert.ok(await saveButton().isEnabled());
  await page.getByRole("button", { name: "Discard changes" }).click();
  assert.equal(await field("Code lifetime").inputValue(), "10");
  await status("No changes to save.");
  assert.deepEqual(await app.calls("save_settings"), []);
});
