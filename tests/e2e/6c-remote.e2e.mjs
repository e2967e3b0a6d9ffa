// The console away from the backend host: the window connects to a `msgops serve` started here
// on loopback with a self-signed certificate — its fingerprint shown, compared with what the
// service printed, and pinned — and shows that service's codes live; a breaker reset from the
// window takes effect on the service; a test send from the window goes through the service and is
// in the window's History (the service's), and a provider switched off from the window is off on
// the service; the service restarted, the window reconnects and shows
// the code written while it was down; a service presenting another certificate is refused.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { execFileSync, spawn } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { openApp, eventually, screenshot, stamp } from "./session.mjs";

const msgops = path.join(path.dirname(process.env.MSGOPS_E2E_APP), "msgops");
const ADMIN = "e2e-remote-admin-token-000000000000000000";
const port = 6800 + Math.floor(Math.random() * 400);
const url = `https://127.0.0.1:${port}`;
const work = mkdtempSync(path.join(os.tmpdir(), "msgops-remote-"));
const remoteLog = path.join(work, "backend.log");
let browser;
let serve;

function env(dataDir) {
  return {
    ...process.env,
    MSGOPS_DATA_DIR: dataDir,
    MSGOPS_CONFIG: path.join(work, "config.toml"),
    MSGOPS_API_TOKEN: ADMIN,
  };
}

/** Starts `msgops serve` over TLS on `port` with its own data directory; resolves to its fingerprint. */
function startServe(dataDir) {
  const child = spawn(
    msgops,
    ["serve", "--emulated", "--emulate-failure", "sns", "--tls-self-signed", "--listen", `127.0.0.1:${port}`, "--log", remoteLog],
    { env: env(dataDir), stdio: ["ignore", "ignore", "pipe"] },
  );
  return new Promise((resolve, reject) => {
    let said = "";
    const timer = setTimeout(() => reject(new Error(`msgops serve did not start: ${said}`)), 60_000);
    child.stderr.on("data", (chunk) => {
      said += chunk;
      const fp = /TLS certificate SHA-256 fingerprint ([0-9A-F:]+)/.exec(said);
      if (fp && said.includes("listening on https://")) {
        clearTimeout(timer);
        resolve({ child, fingerprint: fp[1] });
      }
    });
    child.on("exit", (code) => reject(new Error(`msgops serve exited ${code}: ${said}`)));
  });
}

async function stopServe() {
  if (!serve) return;
  const { child } = serve;
  serve = undefined;
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  await exited;
}

/** curl against the remote service, trusting its kept certificate. */
function curl(dataDir, args) {
  return execFileSync("curl", ["-sS", "--cacert", path.join(dataDir, "tls", "cert.pem"), "-H", `Authorization: Bearer ${ADMIN}`, ...args], { encoding: "utf8" });
}

const dirA = path.join(work, "service-a");
const dirB = path.join(work, "service-b");

before(async () => {
  writeFileSync(path.join(work, "config.toml"), "[logs]\npoll_interval_ms = 100\n");
  // What the service's backend logged before anyone connected: its diagnostics are shown too.
  writeFileSync(remoteLog, `${stamp()} - services.otp_service - ERROR - Twilio error: HTTP 401 error: Unable to create record: Authenticate\n`);
  serve = await startServe(dirA);
  browser = await openApp();
  await eventually(async () => (await browser.$('[data-testid="nav-connections"]')).isExisting(), "the window", 30_000);
});
after(async () => {
  await browser?.deleteSession();
  await stopServe();
  rmSync(work, { recursive: true, force: true });
});

test("a remote service is added with its fingerprint compared and pinned, and its codes are shown live", async () => {
  const desk = execFileSync(msgops, ["token", "create", "desk", "--scope", "codes,operate"], { env: env(dirA), encoding: "utf8" }).trim();
  await (await browser.$('[data-testid="nav-connections"]')).click();
  await (await browser.$('[data-testid="connection-name"]')).setValue("backend-eu");
  await (await browser.$('[data-testid="connection-url"]')).setValue(url);
  await (await browser.$('[data-testid="connection-token"]')).setValue(desk);
  await (await browser.$('[data-testid="connection-check"]')).click();
  const shown = await eventually(async () => {
    const f = await browser.$('[data-testid="connection-fingerprint"]');
    return (await f.isExisting()) && (await f.getText()).includes(":") ? f : null;
  }, "the certificate's fingerprint", 15_000);
  // What the support agent compares: the window's fingerprint is the one the service printed.
  assert.ok((await shown.getText()).includes(serve.fingerprint), `${await shown.getText()} vs ${serve.fingerprint}`);
  await (await browser.$('[data-testid="connection-pin"]')).click();
  await (await browser.$('[data-testid="connection-add"]')).click();
  const status = await browser.$('[data-testid="connection-status"]');
  try {
    await eventually(async () => {
      const said = await status.getText();
      if (/backend-eu/.test(said) && /connected/i.test(said) && !/disconnected/i.test(said)) return true;
      const error = await browser.$('[data-testid="connection-error"]');
      throw new Error(`status: ${said}; error: ${(await error.isExisting()) ? await error.getText() : "none"}`);
    }, "connected to backend-eu", 20_000);
  } catch (e) {
    screenshot("remote-not-connected.png");
    throw e;
  }
  assert.ok(!(await browser.getPageSource()).includes(desk), "the token reached the web view");

  await (await browser.$('[data-testid="nav-codes"]')).click();
  await new Promise((r) => setTimeout(r, 500));
  const written = Date.now();
  appendFileSync(remoteLog, `${stamp()} - services.otp_service - WARNING - SMS FALLBACK - OTP for +14165550199: 314159\n`);
  await eventually(async () => {
    for (const r of await browser.$$('[data-testid="code-row"]')) {
      if ((await r.getText()).includes("314159")) return r;
    }
    return null;
  }, "the remote service's code in Codes", 10_000);
  console.log(`# remote code shown after ${Date.now() - written} ms`);
  screenshot("remote-codes.png");
});

test("a breaker reset from the window takes effect on the service", async () => {
  // SNS fails on the service (emulated): five sends open its breaker there.
  for (let i = 0; i < 5; i++) {
    curl(dirA, ["-X", "POST", "-H", "content-type: application/json", "-d", JSON.stringify({ to: `+1416555020${i}`, body: "Your code is 271828", code: "271828" }), `${url}/api/v1/messages/sms`]);
  }
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  // The service's diagnostics, read over the connection.
  const diag = await eventually(async () => {
    const d = await browser.$('[data-testid="diagnostics"]');
    return (await d.isExisting()) && /twilio HTTP 401: .*Authenticate/i.test(await d.getText()) ? d : null;
  }, "the remote service's diagnostics", 10_000);
  assert.ok(diag);
  // A diagnostic the service's watcher reads now reaches the Dashboard without a reload.
  appendFileSync(remoteLog, `${stamp()} - worker3 - ERROR - SendGrid error: HTTP Error 401: Unauthorized\n`);
  await eventually(async () => /sendgrid HTTP 401: .*Unauthorized/i.test(await (await browser.$('[data-testid="diagnostics"]')).getText()), "a new remote diagnostic, live", 10_000);
  const card = await browser.$('[data-testid="provider-sns"]');
  await eventually(async () => (await card.getAttribute("data-state")) === "OPEN", "SNS OPEN on the remote card", 15_000);
  await (await card.$('[data-testid="control-reset"]')).click();
  await eventually(() => {
    const health = JSON.parse(curl(dirA, [`${url}/api/v1/health/messaging`]));
    return health.sms_providers.find((p) => p.id === "sns").breaker_state === "CLOSED";
  }, "SNS CLOSED on the service", 10_000);
  await eventually(async () => (await card.getAttribute("data-state")) === "CLOSED", "SNS CLOSED on the card", 10_000);
});

test("a test send from the window goes through the service and is in its History; a provider switched off from the window is off there", async () => {
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  await eventually(async () => /Test send on backend-eu/.test(await (await browser.$("#test-send-title")).getText()), "the remote test send", 10_000);
  const to = await browser.$('[data-testid="test-send-to"]');
  await to.clearValue();
  await to.setValue("+14165550177");
  await (await browser.$('[data-testid="test-send-submit"]')).click();
  const result = await eventually(async () => {
    const r = await browser.$('[data-testid="send-result"]');
    return (await r.isExisting()) ? r : null;
  }, "the remote test send's result", 15_000);
  assert.equal(await result.getAttribute("data-status"), "delivered", await result.getText());
  // On the service: the send is its own, in its history.
  const listed = await eventually(() => {
    const page = JSON.parse(curl(dirA, [`${url}/api/v1/sends?recipient=4165550177`]));
    return page.total >= 1 ? page : null;
  }, "the test send in the service's history", 10_000);
  assert.equal(listed.sends[0].origin.kind, "service");

  // The window's History is the service's.
  await (await browser.$('[data-testid="nav-history"]')).click();
  await eventually(async () => {
    const heading = await browser.$("#sends-title");
    if (!(await heading.isExisting()) || !/Sends on backend-eu/.test(await heading.getText())) return null;
    for (const row of await browser.$$("tr.send-row")) {
      if ((await row.getText()).replace(/[^0-9]/g, "").includes("4165550177")) return row;
    }
    return null;
  }, "the remote send in the window's History", 15_000);
  screenshot("remote-history.png");

  // Twilio switched off from the window: off on the service, and remembered in its configuration.
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  const twilio = await browser.$('[data-testid="provider-twilio"]');
  await (await twilio.$('[data-testid="toggle-enabled"]')).click();
  await eventually(() => {
    const health = JSON.parse(curl(dirA, [`${url}/api/v1/health/messaging`]));
    return health.sms_providers.find((p) => p.id === "twilio").enabled === false;
  }, "Twilio disabled on the service", 10_000);
  await eventually(async () => /Enable Twilio/.test(await (await twilio.$('[data-testid="toggle-enabled"]')).getText()), "the card says it is off", 10_000);
  await (await twilio.$('[data-testid="toggle-enabled"]')).click();
  await eventually(() => {
    const health = JSON.parse(curl(dirA, [`${url}/api/v1/health/messaging`]));
    return health.sms_providers.find((p) => p.id === "twilio").enabled === true;
  }, "Twilio enabled again on the service", 10_000);
});

test("the service restarted: the window reconnects and shows the code written while it was down", async () => {
  await (await browser.$('[data-testid="nav-codes"]')).click();
  await stopServe();
  const status = await browser.$('[data-testid="connection-status"]');
  await eventually(async () => /disconnected/i.test(await status.getText()), "disconnected shown", 20_000);
  appendFileSync(remoteLog, `${stamp()} - services.otp_service - WARNING - SMS FALLBACK - OTP for +14165550198: 161803\n`);
  serve = await startServe(dirA);
  await eventually(async () => /connected/i.test(await status.getText()) && !/disconnected/i.test(await status.getText()), "reconnected", 30_000);
  await eventually(async () => {
    for (const r of await browser.$$('[data-testid="code-row"]')) {
      if ((await r.getText()).includes("161803")) return r;
    }
    return null;
  }, "the code written while the service was down", 15_000);
});

test("a service presenting another certificate is refused with a clear message", async () => {
  await stopServe();
  serve = await startServe(dirB);
  const status = await browser.$('[data-testid="connection-status"]');
  await eventually(async () => /certificate changed/i.test(await status.getText()), "the changed certificate refused", 30_000);
  screenshot("remote-certificate-changed.png");
  await stopServe();
});
