// Credentials: masked statuses, .env import (preview, then store), rotation validated by the
// provider, removal after confirmation, and the audit trail of all of it.
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
  await page.getByTestId("nav-credentials").click();
  await page.getByTestId("cred-smtp").waitFor();
});
afterEach(() => app.assertClean());
after(() => app?.close());

const card = (provider) => page.getByTestId(`cred-${provider}`);
const message = (text) => page.getByTestId("creds-message").filter({ hasText: text }).waitFor();
/** Every secret value the fake keychain holds, in full. */
const storedSecrets = () => page.evaluate(() => Object.values(window.__msgops.state.secrets));

async function assertNoSecretShown() {
  const text = await page.locator("body").innerText();
  const html = await page.content();
  for (const secret of await storedSecrets()) {
    assert.ok(!text.includes(secret) && !html.includes(secret), "a stored secret is on the page in full");
  }
}

test("statuses show masked values only", async () => {
  await page.getByTestId("keychain-health").filter({ hasText: "Keychain ready: Secret Service (OS keyring)" }).waitFor();
  const states = await page.locator(".cred-card .state-badge").allInnerTexts();
  assert.deepEqual(states, ["stored", "partial", "missing", "stored"]);
  assert.match(await card("aws").innerText(), /AWS access key ID\s+••••••••0001/);
  assert.match(await card("twilio").innerText(), /Twilio auth token\s+not stored/);
  await assertNoSecretShown();
  await app.screenshot("credentials");
});

test(".env import: preview with masked values, then store in the keychain", async () => {
  await page.getByTestId("import-path").fill("/srv/backend/.env");
  await page.getByTestId("import-preview-button").click();
  const preview = page.getByTestId("import-preview");
  await preview.waitFor();
  const text = await preview.innerText();
  assert.match(text, /2 secret\(s\), 1 setting\(s\), 1 unknown and 1 malformed line\(s\) in \/srv\/backend\/\.env/);
  assert.match(text, /line 7: SENDGRID_API_KEY = ••••••••0001/);
  assert.match(text, /line 11: no '=' on this line/);
  assert.deepEqual((await app.calls("preview_env_import")).map((c) => c.args), [{ path: "/srv/backend/.env" }]);
  await app.screenshot("credentials-import-preview");

  await page.getByTestId("import-apply").click();
  await message("Imported: 1 stored, 1 unchanged; .env rewritten without 2 secret line(s).");
  assert.deepEqual((await app.calls("apply_env_import")).map((c) => c.args), [
    { request: { path: "/srv/backend/.env", rewrite: true, replace_existing: false } },
  ]);
  await card("sendgrid").locator(".state-badge").filter({ hasText: "stored" }).waitFor();
  assert.equal(await preview.count(), 0);
  await assertNoSecretShown();
});

test("a missing .env is said, not previewed", async () => {
  await page.getByTestId("import-path").fill("/srv/backend/missing.conf");
  await page.getByTestId("import-preview-button").click();
  await page.getByRole("alert").filter({ hasText: "cannot read /srv/backend/missing.conf" }).waitFor();
});

test("rotate: a refused key is said, a good one is validated and stored", async () => {
  await card("twilio").getByRole("button", { name: "Rotate" }).click();
  const form = page.getByRole("form", { name: "Rotate twilio credentials" });
  await form.getByLabel("New Twilio account SID").fill("ACEXAMPLE00000000000000000000002");
  await form.getByLabel("New Twilio auth token").fill("EXAMPLE-WRONG-auth-token-000");
  await form.getByRole("button", { name: "Validate and store" }).click();
  await form.getByRole("alert").filter({ hasText: "twilio refused the new credentials: HTTP 401, Twilio error 20003" }).waitFor();

  await form.getByLabel("New Twilio auth token").fill("EXAMPLE-good-auth-token-0002");
  await form.getByRole("button", { name: "Validate and store" }).click();
  await message("twilio: 2 value(s) validated with the provider and stored.");
  const rotations = (await app.calls("rotate_credentials")).map((c) => c.args.request);
  assert.equal(rotations.length, 2);
  assert.deepEqual(rotations[1], {
    provider: "twilio",
    values: { twilio_account_sid: "ACEXAMPLE00000000000000000000002", twilio_auth_token: "EXAMPLE-good-auth-token-0002" },
  });
  assert.equal(await form.count(), 0);
  await card("twilio").locator(".state-badge").filter({ hasText: "stored" }).waitFor();
  assert.match(await card("twilio").innerText(), /Twilio auth token\s+••••••••0002/);
  await assertNoSecretShown();
  // Both attempts are in the audit trail, newest first.
  const audit = await page.locator(".audit li").allInnerTexts();
  assert.match(audit[0], /twilio rotate: success/);
  assert.match(audit[1], /twilio validation_failed: failure/);
  await app.screenshot("credentials-rotated");
});

test("remove asks first: cancelled does nothing, confirmed deletes", async () => {
  const dialogs = [];
  const answer = (accept) =>
    page.once("dialog", (dialog) => {
      dialogs.push(dialog.message());
      return accept ? dialog.accept() : dialog.dismiss();
    });

  answer(false);
  await card("smtp").getByRole("button", { name: "Remove" }).click();
  assert.equal(dialogs.length, 1);
  assert.match(dialogs[0], /Delete every smtp secret from the OS keychain\?/);
  assert.deepEqual(await app.calls("remove_credentials"), []);

  answer(true);
  await card("smtp").getByRole("button", { name: "Remove" }).click();
  await message("smtp: 1 secret(s) deleted from the keychain.");
  assert.deepEqual((await app.calls("remove_credentials")).map((c) => c.args), [{ provider: "smtp" }]);
  await card("smtp").locator(".state-badge").filter({ hasText: "missing" }).waitFor();
  assert.match((await page.locator(".audit li").allInnerTexts())[0], /smtp remove: success/);
});

test("the audit trail shows what happened before, newest first", async () => {
  const audit = await page.locator(".audit li").allInnerTexts();
  assert.equal(audit.length, 2);
  assert.match(audit[0], /twilio validation_failed: failure HTTP 401, Twilio error 20003: Authenticate/);
  assert.match(audit[1], /aws import: success stored aws_access_key_id/);
});

test("a stored key the provider refused is invalid, with what the provider said", async () => {
  // SendGrid's last call was refused (401); store a key for it in the fake keychain.
  await page.evaluate(() => {
    window.__msgops.state.secrets.sendgrid_api_key = "EXAMPLE-sendgrid-key-000000000001";
  });
  await page.getByTestId("nav-dashboard").click();
  await page.getByTestId("nav-credentials").click();
  await card("sendgrid").filter({ hasText: "invalid" }).waitFor();
  assert.match(await card("sendgrid").innerText(), /SendGrid refused it: HTTP 401: The provided authorization grant is invalid/);
  await assertNoSecretShown();
  await app.screenshot("credentials-invalid");

  // A new key the provider accepts replaces the provider: the refusal is history.
  await card("sendgrid").getByRole("button", { name: "Rotate" }).click();
  const form = card("sendgrid").locator("form.rotate-form");
  await form.getByLabel("New SendGrid API key").fill("EXAMPLE-sendgrid-key-000000000002");
  await form.getByRole("button", { name: "Validate and store" }).click();
  await card("sendgrid").locator(".state-badge").filter({ hasText: /^stored$/ }).waitFor();
  assert.equal(await card("sendgrid").locator(".cred-problem").count(), 0);
});
