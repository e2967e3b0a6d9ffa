// A first start with nothing configured: the guided start shows by itself and walks the backend's
// log, its .env, a test send through the Console and its code arriving on the Codes page; files
// chosen in the native dialog (the mocked `plugin:dialog|open`) or dropped on the window (Tauri's
// drag-drop events). Then the keyboard: the shortcuts overlay keeps the focus, `/` and `g`.
// And the Codes page says which zone its times are in.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { openApp } from "./harness.mjs";

let app;
let page;
before(async () => {
  app = await openApp({ mock: { fresh: true }, timezoneId: "Europe/Berlin" });
  page = app.page;
});
afterEach(() => app.assertClean());
after(() => app?.close());

const picks = (paths) => page.evaluate((p) => window.__msgops.state.picks.push(...p), paths);
const step = (name) => page.getByTestId(`guide-step-${name}`);

test("the guided start: log, .env, a test through the Console, and its code on the Codes page", async () => {
  const guide = page.getByRole("dialog", { name: "Guided start" });
  await guide.waitFor();
  await app.screenshot("first-run-guide");

  // 1. The log, from the native file dialog, followed: the settings are saved with it.
  await picks(["/srv/backend/logs/app.log"]);
  await step("log").getByRole("button", { name: "Browse for the backend's log" }).click();
  assert.equal(await page.getByTestId("guide-log-path").inputValue(), "/srv/backend/logs/app.log");
  await step("log").getByRole("button", { name: "Follow this log" }).click();
  await page.getByTestId("guide-log-done").filter({ hasText: "Following /srv/backend/logs/app.log now." }).waitFor();
  const saved = await app.calls("save_settings");
  assert.deepEqual(saved.at(-1).args.settings.logs.follow, ["/srv/backend/logs/app.log"]);
  assert.equal((await app.calls("plugin:dialog|open")).length, 1);

  // 2. The .env, dropped on the window: previewed masked, then imported into the keychain.
  await page.evaluate(() => window.__msgops.dropFiles(["/srv/backend/.env"]));
  const preview = page.getByTestId("guide-env-preview");
  await preview.waitFor();
  assert.match(await preview.innerText(), /line 7: SENDGRID_API_KEY = ••••••••0001/);
  assert.equal(await page.getByTestId("guide-env-path").inputValue(), "/srv/backend/.env");
  await preview.getByRole("button", { name: "Import into the keychain" }).click();
  await page.getByTestId("guide-env-done").filter({ hasText: "Imported: 1 stored" }).waitFor();

  // 3 and 4. A test through the Console; its code read from the Console's log.
  await page.getByTestId("guide-test-send").click();
  await page.getByTestId("guide-test-done").filter({ hasText: "code 091282 for +14165550123" }).waitFor();
  assert.deepEqual((await app.calls("send_test")).at(-1).args, { request: { channel: "sms", to: "+14165550123", provider: "console" } });
  await page.getByTestId("guide-code-done").filter({ hasText: "Code 091282 for +14165550123 arrived from console-sms.log" }).waitFor();
  await app.screenshot("first-run-guide-done");
  await step("code").getByRole("button", { name: "Open the Codes page" }).click();
  await guide.waitFor({ state: "detached" });
  assert.equal(await page.getByTestId("nav-codes").getAttribute("aria-current"), "page");
  const row = page.getByTestId("code-row").first();
  assert.match(await row.innerText(), /091282[\s\S]*\+14165550123/);

  // Closed, it stays closed: not shown at the next start.
  await page.reload();
  await page.getByTestId("dashboard-empty").waitFor();
  await page.waitForTimeout(200);
  assert.equal(await guide.count(), 0);
});

test("the unconfigured pages say what to do next, with a button that does it", async () => {
  await app.reload();
  await page.getByTestId("dashboard-empty").waitFor();
  // Import a .env… from the dashboard: the file dialog, then the preview on Credentials.
  await picks(["/srv/backend/.env"]);
  await page.getByTestId("dashboard-empty-import").click();
  await page.getByTestId("import-preview").waitFor();
  assert.equal(await page.getByTestId("import-path").inputValue(), "/srv/backend/.env");
  await page.getByTestId("credentials-empty").waitFor();

  // Codes: no backend log, then no code: follow one; send a test through the Console.
  await page.getByTestId("nav-codes").click();
  await page.getByTestId("codes-no-log").waitFor();
  await picks(["/srv/backend/logs/worker.log"]);
  await page.getByTestId("codes-follow-log").click();
  await page.getByTestId("app-notice").filter({ hasText: "Following /srv/backend/logs/worker.log now." }).waitFor();
  await page.getByTestId("codes-no-log").waitFor({ state: "detached" });
  await page.getByTestId("codes-send-test").click();
  await page.getByTestId("code-row").filter({ hasText: "091282" }).waitFor();
  await page.getByTestId("codes-empty").waitFor({ state: "detached" });

  // History: there is a send now; before it, the empty state took the operator to the test send.
  await app.reload();
  await page.getByTestId("nav-history").click();
  await page.getByTestId("sends-empty-test").click();
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "test-send-to");

  await page.getByTestId("nav-connections").click();
  await page.getByTestId("connections-empty-add").click();
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "connection-name");

  // A cancelled file dialog changes nothing.
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("dashboard-empty-follow").click();
  assert.equal((await app.calls("save_settings")).length, 0);
});

test("a log dropped on the window joins the files to follow on Settings, to save; dragging over shows where", async () => {
  await app.reload();
  await page.evaluate(() => window.__msgops.dropFiles(["/srv/backend/logs/app.log"], "hover"));
  await page.getByTestId("drop-overlay").filter({ hasText: "Drop a .env to preview its import, or a log file to follow it" }).waitFor();
  await app.screenshot("drop-overlay");
  await page.evaluate(() => window.__msgops.dropFiles(["/srv/backend/logs/app.log"], "leave"));
  await page.getByTestId("drop-overlay").waitFor({ state: "detached" });
  await page.evaluate(() => window.__msgops.dropFiles(["/srv/backend/logs/app.log"]));
  await page.getByLabel("Log file 1", { exact: true }).waitFor();
  assert.equal(await page.getByTestId("nav-settings").getAttribute("aria-current"), "page");
  assert.equal(await page.getByLabel("Log file 1", { exact: true }).inputValue(), "/srv/backend/logs/app.log");
  await page.getByRole("button", { name: "Save", exact: true }).click();
  await page.getByText("Saved to").waitFor();
  // Every path field has its Browse… button.
  await picks(["/srv/backend/logs/worker.log"]);
  await page.getByRole("button", { name: "Browse for log file 1" }).click();
  assert.equal(await page.getByLabel("Log file 1", { exact: true }).inputValue(), "/srv/backend/logs/worker.log");
});

test("the shortcuts overlay opens with ?, keeps the focus inside and closes with Esc; / and g switch", async () => {
  await app.reload();
  await page.getByTestId("nav-codes").focus();
  await page.keyboard.press("?");
  const help = page.getByRole("dialog", { name: "Keyboard shortcuts" });
  await help.waitFor();
  for (let i = 0; i < 5; i++) {
    await page.keyboard.press(i % 2 ? "Shift+Tab" : "Tab");
    assert.ok(await help.evaluate((d) => d.contains(document.activeElement)), "the focus left the overlay");
  }
  // The page behind cannot be clicked into.
  assert.equal(await page.evaluate(() => document.querySelector(".app").inert), true);
  await page.keyboard.press("Escape");
  await help.waitFor({ state: "detached" });
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "nav-codes");

  await page.keyboard.press("g");
  await page.keyboard.press("h");
  assert.equal(await page.getByTestId("nav-history").getAttribute("aria-current"), "page");
  await page.keyboard.press("/");
  await page.getByTestId("codes-search").waitFor();
  assert.equal(await page.evaluate(() => document.activeElement?.dataset.testid), "codes-search");
  await page.keyboard.type("g?");
  assert.equal(await page.getByTestId("codes-search").inputValue(), "g?");
  assert.equal(await help.count(), 0);
});

test("the Codes page says the zone of its times, and converts from a log written in another", async () => {
  await app.reload();
  await page.getByTestId("nav-codes").click();
  const zone = page.getByTestId("codes-zone");
  // The browser is in Berlin; the fresh start follows no log with a known clock yet.
  assert.match(await zone.innerText(), /^Times in Europe\/Berlin \(UTC\+0[12]:00\): this computer's zone\.$/);
  await page.evaluate(() =>
    window.__msgops.emitLog({ kind: "clock", file: "/home/ops/.local/share/msgops/console-sms.log", zone: "America/Toronto", basis: "configured", reason: "logs.timezone = America/Toronto" }),
  );
  await zone.filter({ hasText: "converted from the log's America/Toronto (UTC\u221205:00)" }).or(zone.filter({ hasText: "America/Toronto (UTC\u221204:00)" })).waitFor();
  assert.equal(await zone.getAttribute("data-converted"), "true");
  await app.screenshot("codes-zone");
});
