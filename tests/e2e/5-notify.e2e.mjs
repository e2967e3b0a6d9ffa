// A new fallback code while the window is not in front raises a desktop notification through
// the session's real notification server (dunst); while the window is in front, it does not.
// What the server was asked is read from a dbus-monitor record of this private session bus.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { openApp, eventually, stamp } from "./session.mjs";

// A second followed log: the dashboard tests turned the first into a directory.
const backendLog = process.env.MSGOPS_E2E_OTP_LOG;
const record = process.env.MSGOPS_E2E_NOTIFICATIONS;
let browser;

function appendCode(recipient, code) {
  appendFileSync(backendLog, `${stamp()} - services.otp_service - WARNING - SMS FALLBACK - OTP for ${recipient}: ${code}\n`);
}
const notifyCalls = () => readFileSync(record, "utf8").split("member=Notify").length - 1;
const windows = () => execFileSync("xdotool", ["search", "--name", "^msgops$"], { encoding: "utf8" }).trim().split("\n");

before(async () => {
  browser = await openApp();
  await eventually(async () => (await browser.$('[data-testid="nav-codes"]')).isExisting(), "the window");
});
after(async () => {
  for (const w of windows()) execFileSync("xdotool", ["windowmap", w]);
  await browser?.deleteSession();
});

test("no notification while the window is in front", async () => {
  const before = notifyCalls();
  appendCode("+14165550161", "246810");
  await (await browser.$('[data-testid="nav-codes"]')).click();
  await eventually(async () => (await (await browser.$('[data-testid="code-list"]')).getText()).includes("246810"), "the code in Codes");
  await new Promise((r) => setTimeout(r, 500));
  assert.equal(notifyCalls(), before);
});

test("a notification with the code and the recipient's last digits when the window is hidden", async () => {
  for (const w of windows()) execFileSync("xdotool", ["windowunmap", w]);
  await new Promise((r) => setTimeout(r, 500));
  appendCode("+14165550173", "135790");
  const text = await eventually(() => {
    const t = readFileSync(record, "utf8");
    return t.includes("135790") ? t : null;
  }, "a Notify call", 5_000);
  assert.match(text, /string "New fallback code"\n\s*string "135790 for …0173 — expires \d\d:\d\d"/);
  assert.ok(!text.includes("+14165550173"), "the full number is not put on the desktop");
});
