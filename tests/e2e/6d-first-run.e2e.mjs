// The guided start in the real window: the backend's log and its .env each chosen in the real
// GTK file dialog (a separate X window, driven with xdotool: Ctrl+L, the path, Return), the log
// followed, the .env previewed masked and imported into the keychain (gnome-keyring), a test
// sent through the Console, and its code read from the Console's log onto the Codes page.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import path from "node:path";
import { openApp, eventually, screenshot } from "./session.mjs";

// The Twilio key 3-credentials.e2e.mjs leaves in the keychain: run after it, nothing changes.
const SID = "ACe2e0000000000000000000000000beef";
const TOKEN = "e2e11111111111111111111111f00d43";
const logs = path.dirname(process.env.MSGOPS_E2E_BACKEND_LOG);
const firstLog = path.join(logs, "first-run.log");
const envFile = path.join(logs, "first-run.env");
let browser;

const $ = (testid) => browser.$(`[data-testid="${testid}"]`);
const text = async (testid) => {
  const el = await $(testid);
  return (await el.isExisting()) ? el.getText() : "";
};

const visible = (title) => spawnSync("xdotool", ["search", "--onlyvisible", "--name", title], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
const pause = (ms) => execFileSync("sleep", [String(ms / 1000)]);

/**
 * Answers the GTK file dialog titled `title` with `file`, as a person would: the dialog is a
 * window of its own (no window manager under Xvfb, so it is given the focus by hand), Ctrl+L
 * opens its location field, the path is typed and Return opens it. A dialog not yet ready for
 * keys when first shown is answered again.
 */
function chooseInFileDialog(title, file) {
  execFileSync("timeout", ["20", "xdotool", "search", "--sync", "--onlyvisible", "--name", title]);
  for (let attempt = 0; attempt < 3; attempt++) {
    pause(1000);
    const ids = visible(title);
    if (ids.length === 0) return;
    execFileSync("xdotool", ["windowfocus", "--sync", ids[ids.length - 1]]);
    if (attempt === 0) screenshot("first-run-file-dialog.png");
    execFileSync("xdotool", ["key", "--clearmodifiers", "ctrl+l"]);
    pause(300);
    execFileSync("xdotool", ["key", "--clearmodifiers", "ctrl+a"]);
    execFileSync("xdotool", ["type", "--delay", "20", file]);
    execFileSync("xdotool", ["key", "Return"]);
    for (let i = 0; i < 20 && visible(title).length > 0; i++) pause(100);
  }
  if (visible(title).length > 0) throw new Error(`the file dialog "${title}" did not take ${file}`);
}

before(async () => {
  writeFileSync(firstLog, "");
  writeFileSync(envFile, ["# the backend's settings", "DATABASE_URL=postgres://app@localhost/app", `TWILIO_ACCOUNT_SID=${SID}`, `TWILIO_AUTH_TOKEN=${TOKEN}`, ""].join("\n"));
  browser = await openApp();
  await eventually(async () => (await $("nav-settings")).isExisting(), "the window");
});
after(async () => {
  await browser?.deleteSession();
});

test("the guided start opens from Settings; ? lists the shortcuts and Esc closes them", async () => {
  // Logs are configured here, so it did not open by itself.
  assert.equal(await (await $("guided-start")).isExisting(), false);
  await (await $("nav-dashboard")).click();
  await browser.keys("?");
  await eventually(async () => /Go to Codes/.test(await text("keyboard-help")), "the shortcuts list");
  await browser.keys("Escape");
  await eventually(async () => !(await (await $("keyboard-help")).isExisting()), "the shortcuts list closed");

  await (await $("nav-settings")).click();
  await (await eventually(async () => ((await (await $("show-guided-start")).isExisting()) ? $("show-guided-start") : null), "Show the guided start")).click();
  await eventually(async () => (await $("guided-start")).isExisting(), "the guided start");
});

test("1. the backend's log, chosen in the GTK file dialog, is followed", async () => {
  await (await $("guide-log-browse")).click();
  chooseInFileDialog("Choose the backend's log", firstLog);
  await eventually(async () => (await (await $("guide-log-path")).getValue()) === firstLog, "the chosen path in the field");
  await (await $("guide-log-follow")).click();
  await eventually(async () => (await text("guide-log-done")).includes(`Following ${firstLog} now.`), "the log followed");
  assert.ok(readFileSync(process.env.MSGOPS_CONFIG, "utf8").includes(firstLog), "saved in the configuration file");
});

test("2. its .env, chosen in the GTK file dialog, is previewed masked and imported into the keychain", async () => {
  await (await $("guide-env-browse")).click();
  chooseInFileDialog("Choose the backend's .env", envFile);
  const preview = await eventually(async () => ((await (await $("guide-env-preview")).isExisting()) ? $("guide-env-preview") : null), "the import preview");
  const shown = await preview.getText();
  assert.match(shown, /2 secret\(s\)/);
  assert.match(shown, /TWILIO_AUTH_TOKEN = ••••••••0d43/);
  assert.ok(!(await browser.getPageSource()).includes(TOKEN), "a secret reached the window");
  screenshot("first-run-env-preview.png");
  await (await $("guide-env-import")).click();
  const done = await eventually(async () => /^Imported: \d stored, \d unchanged.*/.exec(await text("guide-env-done"))?.[0], "the import");
  // A key the keychain holds with another value (an earlier spec rotated it) is kept there,
  // and its line stays in the .env; any other is out of the file.
  if (!/kept as the keychain had them/.test(done)) assert.ok(!readFileSync(envFile, "utf8").includes(TOKEN), `the .env still holds the token (${done})`);
});

test("3 and 4. a test through the Console, and its code on the Codes page", async () => {
  await (await $("guide-test-to")).setValue("+14165550166");
  await (await $("guide-test-send")).click();
  const sent = await eventually(async () => /code (\d{6}) for \+14165550166/.exec(await text("guide-test-done")), "the test delivered by the Console");
  const code = sent[1];
  assert.ok(readFileSync(process.env.MSGOPS_E2E_CONSOLE_LOG, "utf8").includes(code), "the code in the Console's log");
  await eventually(async () => (await text("guide-code-done")).includes(`Code ${code} for +14165550166 arrived from console-sms.log`), "the code read from the log");
  screenshot("first-run-done.png");
  await (await $("guide-open-codes")).click();
  await eventually(async () => !(await (await $("guided-start")).isExisting()), "the guided start closed");
  assert.equal(await (await $("nav-codes")).getAttribute("aria-current"), "page");
  const row = await eventually(async () => {
    for (const r of await browser.$$('[data-testid="code-row"]')) if ((await r.getText()).includes(code)) return r;
    return null;
  }, "the Console's code on the Codes page");
  assert.match(await row.getText(), /\+14165550166/);
  assert.match(await text("codes-zone"), /^Times in /);
  screenshot("first-run-codes.png");
});
