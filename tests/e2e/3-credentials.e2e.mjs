// The admin's view: a plaintext .env imported into the real Secret Service (gnome-keyring in
// this test's private D-Bus session), shown masked only, the .env rewritten without its
// secrets, and Twilio joining the SMS chain without a restart.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { openApp, eventually, screenshot } from "./session.mjs";

const SID = "ACe2e0000000000000000000000000beef";
const TOKEN = "e2e00000000000000000000000f00d42";
const envFile = path.join(path.dirname(process.env.MSGOPS_E2E_BACKEND_LOG), "backend.env");
let browser;

before(async () => {
  writeFileSync(
    envFile,
    [
      "# backend settings",
      "DATABASE_URL=postgres://app@localhost/app",
      `TWILIO_ACCOUNT_SID=${SID}`,
      `export TWILIO_AUTH_TOKEN="${TOKEN}"`,
      "TWILIO_PHONE_NUMBER=+14165550100",
      "",
    ].join("\n"),
  );
  browser = await openApp();
  await eventually(async () => (await browser.$('[data-testid="nav-credentials"]')).isExisting(), "the window");
  await (await browser.$('[data-testid="nav-credentials"]')).click();
});
after(async () => {
  await browser?.deleteSession();
});

test("the keychain is reachable and said so", async () => {
  const health = await eventually(async () => {
    const h = await browser.$('[data-testid="keychain-health"]');
    return (await h.isExisting()) ? h : null;
  }, "keychain health");
  assert.match(await health.getText(), /Keychain ready/);
});

test("a .env is previewed with masked values, imported, and rewritten without its secrets", async () => {
  await (await browser.$('[data-testid="import-path"]')).setValue(envFile);
  await (await browser.$('[data-testid="import-preview-button"]')).click();
  const preview = await eventually(async () => {
    const p = await browser.$('[data-testid="import-preview"]');
    return (await p.isExisting()) ? p : null;
  }, "the import preview");
  const shown = await preview.getText();
  assert.match(shown, /2 secret\(s\)/);
  assert.match(shown, /TWILIO_AUTH_TOKEN = ••••••••0d42/);
  const page = await browser.getPageSource();
  assert.ok(!page.includes(TOKEN) && !page.includes(SID), "a secret reached the window");

  await (await browser.$('[data-testid="import-apply"]')).click();
  await eventually(async () => {
    const m = await browser.$('[data-testid="creds-message"]');
    return (await m.isExisting()) && /Imported: 2 stored/.test(await m.getText());
  }, "the import result");
  const rewritten = readFileSync(envFile, "utf8");
  assert.ok(!rewritten.includes(TOKEN) && !rewritten.includes(SID), "secrets left in the .env");
  assert.match(rewritten, /^DATABASE_URL=postgres:\/\/app@localhost\/app$/m);
  assert.match(rewritten, /^# TWILIO_AUTH_TOKEN .*keychain/m);
  const card = await browser.$('[data-testid="cred-twilio"]');
  await eventually(async () => /stored/.test(await card.getText()), "twilio stored");
  assert.ok(!(await browser.getPageSource()).includes(TOKEN));
  screenshot("credentials.png");
});

test("Twilio joins the SMS chain without a restart", async () => {
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  const card = await browser.$('[data-testid="provider-twilio"]');
  await eventually(async () => /sending normally/.test(await card.getText()), "twilio configured on the dashboard");
});

test("a rotation from the CLI, in another process, is in force in the running window within 2 s", async () => {
  const NEW = "e2e11111111111111111111111f00d43";
  const msgops = path.join(path.dirname(process.env.MSGOPS_E2E_APP), "msgops");
  const logs = path.join(process.env.MSGOPS_DATA_DIR, "logs");
  const appLog = () =>
    readdirSync(logs)
      .filter((f) => f.startsWith("msgops.log"))
      .map((f) => readFileSync(path.join(logs, f), "utf8"))
      .join("");
  const before = appLog().length;
  // Validated by Twilio (Prism) first, then stored: the CLI's own process, not the window's.
  const rotated = spawnSync(msgops, ["creds", "rotate", "twilio"], { input: `TWILIO_AUTH_TOKEN=${NEW}\n`, encoding: "utf8" });
  assert.equal(rotated.status, 0, rotated.stdout + rotated.stderr);
  const done = Date.now();
  await eventually(
    () => /credentials=Twilio[^\n]*credentials changed in the keychain: providers reinstalled|credentials changed in the keychain: providers reinstalled[^\n]*credentials=Twilio/.test(appLog().slice(before)),
    "the window's process to reinstall Twilio",
    2_000,
  );
  const took = Date.now() - done;
  console.log(`the CLI's rotation in force in the window's process after ${took} ms`);
  // The Credentials page shows the new key (masked: its last 4 characters at most).
  await (await browser.$('[data-testid="nav-credentials"]')).click();
  const card = await browser.$('[data-testid="cred-twilio"]');
  await eventually(async () => (await card.getText()).includes(NEW.slice(-4)), "the new Twilio token, masked");
  assert.ok(!(await card.getText()).includes(NEW.slice(0, 8)), "never more than the last characters");

  // The window's next Twilio send uses the new key (the proxy in front of Prism says which).
  const keys = async () => (await (await fetch(`${process.env.MSGOPS_E2E_TWILIO}/__keys`)).json()).filter((k) => k.method === "POST" && k.path.endsWith("/Messages.json"));
  const sendsBefore = (await keys()).length;
  await (await browser.$('[data-testid="nav-dashboard"]')).click();
  await (await browser.$('[data-testid="test-send-to"]')).setValue("+14165550177");
  await (await browser.$('[data-testid="test-send-provider"]')).selectByAttribute("value", "twilio");
  await (await browser.$('[data-testid="test-send-submit"]')).click();
  await eventually(async () => (await keys()).length > sendsBefore, "the window's Twilio send");
  const sent = (await keys()).slice(sendsBefore);
  assert.equal(sent.length, 1);
  assert.ok(sent[0].token === NEW, "the window's send used the new token");
  await (await browser.$('[data-testid="test-send-provider"]')).selectByAttribute("value", "");

  // Removed by the CLI: Twilio leaves the window's chain within 2 s.
  const twilioCard = async () => (await browser.$('[data-testid="provider-twilio"]')).getText();
  const removed = spawnSync(msgops, ["creds", "remove", "twilio", "--yes"], { encoding: "utf8" });
  assert.equal(removed.status, 0, removed.stdout + removed.stderr);
  await eventually(async () => /Not configured/.test(await twilioCard()), "Twilio out of the window's chain", 2_000);

  // Imported by the CLI from a .env: back in the window's chain within 2 s, on that key.
  const again = path.join(path.dirname(envFile), "again.env");
  writeFileSync(again, `TWILIO_ACCOUNT_SID=${SID}\nTWILIO_AUTH_TOKEN=${NEW}\n`);
  const imported = spawnSync(msgops, ["creds", "import", again, "--yes"], { encoding: "utf8" });
  assert.equal(imported.status, 0, imported.stdout + imported.stderr);
  await eventually(async () => /sending normally/.test(await twilioCard()), "Twilio back in the window's chain", 2_000);
});
