// Quitting drains the embedded service as `msgops serve` does: SIGTERM to the real app (as a
// session manager or systemd sends it) goes through the same path as the tray's Quit — no new
// sends, the service drains and stops, then the process exits. Last, because it ends the app.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { openApp, eventually } from "./session.mjs";

const service = process.env.MSGOPS_E2E_SERVICE;
const logs = path.join(process.env.MSGOPS_DATA_DIR, "logs");
let browser;

before(async () => {
  browser = await openApp();
  await eventually(async () => (await browser.$('[data-testid="nav-codes"]')).isExisting(), "the window");
});
after(async () => {
  // The app is gone: the session cannot be ended cleanly, only forgotten.
  await browser?.deleteSession().catch(() => undefined);
});

const appLog = () =>
  existsSync(logs)
    ? readdirSync(logs)
        .filter((f) => f.startsWith("msgops.log"))
        .map((f) => readFileSync(path.join(logs, f), "utf8"))
        .join("")
    : "";

test("SIGTERM drains the embedded service, then the app exits", async () => {
  const health = await eventually(async () => (await fetch(`${service}/api/v1/health/messaging`)).status, "the service");
  assert.ok([200, 503].includes(health));
  const pids = execFileSync("pgrep", ["-f", process.env.MSGOPS_E2E_APP], { encoding: "utf8" }).trim().split("\n").map(Number);
  assert.equal(pids.length, 1, `one app process: ${pids}`);
  const [pid] = pids;
  const before = appLog();
  execFileSync("kill", ["-TERM", String(pid)]);
  await eventually(() => !existsSync(`/proc/${pid}`), "the app to exit", 20_000);
  const said = appLog().slice(before.length);
  assert.match(said, /signal received: quitting/);
  assert.match(said, /quitting: draining the service/);
  assert.match(said, /shutting down: finishing requests and sends under way/);
  assert.match(said, /service drained and stopped/);
  // Drained in that order: the service stopped before the process went.
  assert.ok(said.indexOf("quitting: draining") < said.indexOf("service drained and stopped"));
  await assert.rejects(fetch(`${service}/api/v1/health/messaging`), "the service no longer answers");
});
