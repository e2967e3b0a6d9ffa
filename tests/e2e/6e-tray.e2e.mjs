// All-day life: closing the real window (a WM_DELETE_WINDOW, as a close button sends) keeps
// msgops running in the tray, said once; a code written meanwhile raises a notification through
// the session's dunst with "Copy code", a second code for the same number replaces it, the tray
// menu holds it, "Copy code" chosen in dunst's context menu puts it on the X clipboard, and the
// notification clicked (dunst's default action) brings the window back on that code. A second
// launch brings it back too, and the global shortcut, once set, opens the Codes search.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { execFileSync, spawnSync } from "node:child_process";
import path from "node:path";
import { openApp, eventually, screenshot, stamp } from "./session.mjs";

// A second followed log: the dashboard tests turned the first into a directory.
const backendLog = process.env.MSGOPS_E2E_OTP_LOG;
const record = process.env.MSGOPS_E2E_NOTIFICATIONS;
const service = process.env.MSGOPS_E2E_SERVICE;
const logs = path.join(process.env.MSGOPS_DATA_DIR, "logs");
const NOTE = "msgops is still running in the tray; Quit from its menu.";
let browser;

const $ = (testid) => browser.$(`[data-testid="${testid}"]`);
const pause = (ms) => new Promise((r) => setTimeout(r, ms));
const windows = () => spawnSync("xdotool", ["search", "--name", "^msgops$"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
const visible = () => spawnSync("xdotool", ["search", "--onlyvisible", "--name", "^msgops$"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
const recorded = () => readFileSync(record, "utf8");
const count = (text, what) => text.split(what).length - 1;
const dunst = (...args) => execFileSync("dunstctl", args, { encoding: "utf8" }).trim();
const displayed = () => Number(dunst("count", "displayed"));
const clipboard = () => spawnSync("xclip", ["-o", "-selection", "clipboard"], { encoding: "utf8", timeout: 5000 }).stdout;
const appLog = () =>
  existsSync(logs)
    ? readdirSync(logs)
        .filter((f) => f.startsWith("msgops.log"))
        .map((f) => readFileSync(path.join(logs, f), "utf8"))
        .join("")
    : "";
const invoke = (cmd, args = {}) => browser.execute((c, a) => window.__TAURI_INTERNALS__.invoke(c, a), cmd, args);

function appendCode(recipient, code) {
  appendFileSync(backendLog, `${stamp()} - services.otp_service - WARNING - SMS FALLBACK - OTP for ${recipient}: ${code}\n`);
}

/** The window manager's close button: WM_DELETE_WINDOW to each of the app's X windows. */
function closeWindow() {
  execFileSync("python3", [path.join(import.meta.dirname, "x-close.py"), ...windows()]);
}

/** The Notify calls dbus-monitor saw since `from` (an offset in its record), as text blocks. */
function notifyCalls(from) {
  return recorded()
    .slice(from)
    .split(/\n(?=method call|method return|signal|error)/)
    .filter((b) => b.includes("member=Notify"));
}

/** The id dunst gave the latest code notification since `since` (the app logs it as shown). */
function notificationId(since) {
  const said = appLog().slice(since);
  const lines = said.split("\n").filter((l) => l.includes("code notification shown"));
  return lines.length === 0 ? null : lines.map((l) => Number(/id=(\d+)/.exec(l)?.[1])).pop();
}

before(async () => {
  browser = await openApp();
  await eventually(async () => (await $("nav-codes")).isExisting(), "the window");
  // Others' notifications out of the way: dunst's context menu and "action 0" see ours alone.
  dunst("close-all");
});
after(async () => {
  await browser?.deleteSession();
});

test("closing the window keeps msgops running in the tray, and says so once", async () => {
  const from = recorded().length;
  assert.ok(visible().length > 0, "the window is up");
  closeWindow();
  await eventually(() => visible().length === 0, "the window hidden");
  const note = await eventually(() => notifyCalls(from).find((b) => b.includes(NOTE)), "the note", 5_000);
  assert.match(note, /string "msgops is still running"/);
  // Still running: the embedded service answers, the log is followed.
  const health = await fetch(`${service}/api/v1/health/messaging`);
  assert.ok([200, 503].includes(health.status));
  assert.match(appLog(), /window closed: still running in the tray/);
  screenshot("tray-window-closed.png");
});

test("a code while the window is closed: a notification with Copy code, replaced by the next code for that number", async () => {
  const from = recorded().length;
  const since = appLog().length;
  const before = displayed();
  appendCode("+14165550184", "482913");
  const first = await eventually(() => notifyCalls(from).find((b) => b.includes("482913")), "the Notify call", 5_000);
  assert.match(first, /string "New fallback code"\n\s*string "482913 for …0184 — expires \d\d:\d\d"/);
  assert.match(first, /string "default"\n\s*string "Show in msgops"\n\s*string "copy"\n\s*string "Copy code"/);
  assert.match(first, /string "msgops"\n\s*uint32 0\n/, "a new notification");
  assert.ok(!first.includes("+14165550184"), "the full number is not put on the desktop");
  const id = await eventually(() => notificationId(since), "its id in the app's log", 5_000);
  await eventually(() => displayed() === before + 1, "dunst showing it", 5_000);

  appendCode("+14165550184", "590271");
  const second = await eventually(() => notifyCalls(from).find((b) => b.includes("590271")), "the second Notify call", 5_000);
  assert.match(second, new RegExp(`string "msgops"\\n\\s*uint32 ${id}\\n`), `replaces notification ${id}`);
  await pause(500);
  assert.equal(displayed(), before + 1, "replaced, not stacked");
  assert.match(appLog().slice(since), new RegExp(`code notification shown.*id=${id}.*replaced=true`));
});

test("the tray menu holds the latest code with the window closed", async () => {
  const [label, enabled] = await invoke("debug_tray_latest");
  assert.equal(label, "Copy latest code 590271 for …0184");
  assert.equal(enabled, true);
});

test("Copy code, chosen in dunst's context menu, puts the code on the clipboard", async () => {
  writeFileSync(process.env.MSGOPS_E2E_DUNST_PICK, "Copy code");
  dunst("context");
  await eventually(() => clipboard() === "590271", "590271 on the X clipboard", 5_000);
  assert.equal(visible().length, 0, "copying does not bring the window up");
});

test("the notification clicked brings the window back on its code", async () => {
  // Its notification alone on screen, at position 0 for `dunstctl action`.
  dunst("close-all");
  const from = recorded().length;
  appendCode("+14165550195", "736450");
  await eventually(() => notifyCalls(from).find((b) => b.includes("736450")), "the Notify call", 5_000);
  await eventually(() => displayed() === 1, "dunst showing it", 5_000);
  // Its default action, as a click on its body.
  dunst("action", "0");
  await eventually(() => visible().length > 0, "the window shown again", 5_000);
  await eventually(async () => (await (await $("nav-codes")).getAttribute("aria-current")) === "page", "the Codes page");
  await eventually(async () => (await (await $("codes-search")).getValue()) === "+14165550195", "searched by its number");
  await eventually(async () => {
    const marked = await browser.$('[data-testid="code-row"][data-selected="true"]');
    return (await marked.isExisting()) && (await marked.getText()).includes("736450");
  }, "its row marked");
  screenshot("tray-opened-on-code.png");
});

test("closed again, nothing more is said; a second launch brings the window back", async () => {
  const from = recorded().length;
  closeWindow();
  await eventually(() => visible().length === 0, "the window hidden");
  await pause(1000);
  assert.equal(count(recorded().slice(from), NOTE), 0, "the note is said once");
  const second = spawnSync(process.env.MSGOPS_E2E_APP, [], { timeout: 20_000, encoding: "utf8" });
  assert.equal(second.status, 0, `the second launch hands over and exits: ${second.stderr}`);
  await eventually(() => visible().length > 0, "the window shown again", 5_000);
});

test("the global shortcut, once set, opens the Codes search from anywhere", async () => {
  await (await $("nav-dashboard")).click();
  const saved = await invoke("save_desktop_settings", { draft: { close_to_tray: true, global_shortcut: "CommandOrControl+Alt+K" } });
  assert.equal(saved.global_shortcut, "CommandOrControl+Alt+K");
  assert.match(readFileSync(process.env.MSGOPS_CONFIG, "utf8"), /\[desktop\][^[]*global_shortcut = "CommandOrControl\+Alt\+K"/);
  closeWindow();
  await eventually(() => visible().length === 0, "the window hidden");
  execFileSync("xdotool", ["key", "--clearmodifiers", "ctrl+alt+k"]);
  await eventually(() => visible().length > 0, "the window shown by the shortcut", 5_000);
  await eventually(async () => (await (await $("nav-codes")).getAttribute("aria-current")) === "page", "the Codes page");
  // Off again: the next specs start as before.
  await invoke("save_desktop_settings", { draft: { close_to_tray: true, global_shortcut: null } });
});
