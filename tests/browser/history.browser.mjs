// History: totals, cost chart and failovers over a window of days; the sends table paged,
// filtered and expanded; a finished send appearing live.
import { test, before, beforeEach, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { openApp } from "./harness.mjs";

let app;
let page;
before(async () => {
  app = await openApp({ mock: { sends: 250 } });
  page = app.page;
});
beforeEach(async () => {
  await app.reload();
  await page.getByTestId("nav-history").click();
  await page.getByTestId("page-range").waitFor();
});
afterEach(() => app.assertClean());
after(() => app?.close());

const range = (text) => page.getByTestId("page-range").filter({ hasText: text }).waitFor();
const rows = () => page.locator("tr.send-row");
const sends = () => page.evaluate(() => window.__msgops.state.sends);

test("the summary, the cost chart and the failover routes of the last 30 days", async () => {
  const all = await sends();
  const delivered = all.filter((r) => r.outcome.status === "delivered").length;
  const strip = await page.getByTestId("history-summary").innerText();
  assert.match(strip, /Sends\s+250/i);
  assert.match(strip, new RegExp(`Delivered\\s+${delivered}`, "i"));
  assert.match(strip, new RegExp(`Failed\\s+${250 - delivered}`, "i"));
  assert.match(await page.getByTestId("failover-routes").innerText(), /AWS SNS → Twilio: \d+/);
  const chart = page.locator(".cost-chart");
  await chart.waitFor();
  assert.ok((await chart.boundingBox()).height > 100, "the cost chart has room to draw");
  // The dashboard asks for today (1 day) at start; the History page for its window.
  const windows = (await app.calls("history_summary")).map((c) => c.args.days).filter((d) => d !== 1);
  assert.deepEqual(windows, [30]);
  await app.screenshot("history");

  await page.getByLabel("Window").selectOption("7");
  await page.getByTestId("history-summary").filter({ hasNotText: /Sends\s*250(?!\d)/i }).waitFor();
  assert.deepEqual((await app.calls("history_summary")).at(-1).args, { days: 7 });
});

test("the sends, newest first, a hundred a page", async () => {
  const newest = (await sends()).at(-1);
  await range("1–100 of 250");
  assert.equal(await rows().count(), 100);
  assert.match(await rows().first().innerText(), new RegExp(newest.recipient.replace("+", "\\+")));
  await page.getByRole("button", { name: "Older" }).click();
  await range("101–200 of 250");
  await page.getByRole("button", { name: "Older" }).click();
  await range("201–250 of 250");
  assert.ok(await page.getByRole("button", { name: "Older" }).isDisabled());
  await page.getByRole("button", { name: "Newer" }).click();
  await range("101–200 of 250");
  assert.deepEqual((await app.calls("send_history")).at(-1).args, { filter: { limit: 100, offset: 100 } });
});

test("filters narrow the sends; a row opens on its attempt timeline", async () => {
  await page.getByLabel("Outcome").selectOption("failed");
  await range("1–10 of 10");
  assert.deepEqual((await app.calls("send_history")).at(-1).args, { filter: { outcome: "failed", limit: 100, offset: 0 } });
  for (const text of await rows().allInnerTexts()) assert.match(text, /Failed: every provider failed/);

  await page.getByLabel("Outcome").selectOption("failed_over");
  await page.getByRole("search", { name: "Filter sends" }).getByLabel("Recipient").fill("555 1013");
  await range("1–1 of 1");
  const row = rows().first();
  assert.match(await row.innerText(), /\+14165551013[\s\S]*Delivered by Twilio[\s\S]*failed over/);
  await row.getByRole("button", { name: /Attempts for the send to \+14165551013/ }).click();
  const timeline = page.locator("tr.send-attempts .attempt");
  assert.equal(await timeline.count(), 2);
  assert.match(await timeline.nth(0).innerText(), /AWS SNS\s+Provider unavailable/);
  assert.match(await timeline.nth(1).innerText(), /Twilio\s+delivered/);
  await app.screenshot("history-filtered");
});

test("a send finishing now is on top without reloading the page", async () => {
  await page.evaluate(() => {
    const { state, emitChain } = window.__msgops;
    const record = {
      channel: "sms",
      recipient: "+14165550777",
      started_at: new Date().toISOString(),
      duration_ms: 420,
      outcome: { status: "delivered", provider: "sns", attempts: [{ provider: "sns", outcome: "delivered", latency_ms: 420, error_kind: null, error: null, provider_code: null, cost_usd: 0.00645 }], skipped: [] },
    };
    state.sends.push(record);
    return emitChain({ kind: "send_finished", record });
  });
  await range("1–100 of 251");
  assert.match(await rows().first().innerText(), /\+14165550777[\s\S]*Delivered by AWS SNS/);
  await page.getByTestId("history-summary").filter({ hasText: /Sends\s*251(?!\d)/i }).waitFor();
});

test("the sends of a msgops serve are marked and picked out by origin; a provider's receipt finds its send", async () => {
  const all = await sends();
  const fromService = all.filter((r) => r.origin?.kind === "service");
  await page.getByLabel("Origin").selectOption("service");
  await range(`1–${fromService.length} of ${fromService.length}`);
  assert.deepEqual((await app.calls("send_history")).at(-1).args, { filter: { origin: "service", limit: 100, offset: 0 } });
  for (const text of await rows().allInnerTexts()) assert.match(text, /service/);
  await page.getByLabel("Origin").selectOption("");
  await range("1–100 of 250");

  const target = fromService.find((r) => r.outcome.status === "delivered" && r.outcome.attempts.length === 2);
  const receipt = target.outcome.attempts.find((a) => a.provider_message_id).provider_message_id;
  await page.getByRole("search", { name: "Filter sends" }).getByLabel("Recipient or receipt").fill(receipt.toUpperCase());
  await range("1–1 of 1");
  const row = rows().first();
  assert.match(await row.innerText(), new RegExp(target.recipient.replace("+", "\\+")));
  await row.getByRole("button", { name: /Attempts for the send to/ }).click();
  const expanded = await page.locator("tr.send-attempts").innerText();
  assert.match(expanded, new RegExp(`receipt\\s+${receipt}`));
  assert.match(expanded, /Sent by msgops serve on ops-box \(process 4242\)/);
  await app.screenshot("history-service-receipt");
});

/** The row of the send whose attempt carries `receipt`, and that send. */
async function rowOfReceipt(receipt) {
  const send = (await sends()).find((r) => r.outcome.attempts.some((a) => a.provider_message_id === receipt));
  assert.ok(send, `a seeded send has the receipt ${receipt}`);
  const toggle = page.getByRole("button", { name: new RegExp(`Attempts for the send to ${send.recipient.replace("+", "\\+")} `) });
  return { send, toggle, row: rows().filter({ has: toggle }) };
}

test("where delivery ended is in the row; opened, the provider's reports with the code in plain words", async () => {
  const reports = await page.evaluate(() => window.__msgops.state.deliveries);
  const twilio = reports.find((r) => r.provider === "twilio").provider_message_id;
  const ses = reports.find((r) => r.provider === "ses").provider_message_id;
  await range("1–100 of 250");
  // Only the two messages with reports say anything more.
  assert.deepEqual((await page.getByTestId("delivery-badge").allInnerTexts()).map((t) => t.replace("Provider report:", "").trim()).sort(), ["delivered", "⚠ undelivered 30003"]);

  const { send, toggle, row } = await rowOfReceipt(twilio);
  assert.match(await row.innerText(), /Delivered by Twilio[\s\S]*undelivered 30003/);
  assert.equal(await row.getByTestId("delivery-badge").getAttribute("data-fate"), "failed");
  assert.match(await (await rowOfReceipt(ses)).row.getByTestId("delivery-badge").innerText(), /delivered/);

  await toggle.click();
  const expanded = page.locator("tr.send-attempts");
  const accepted = new Date(Date.parse(send.started_at) + send.duration_ms);
  const hhmmss = [accepted.getHours(), accepted.getMinutes(), accepted.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
  assert.match(await expanded.innerText(), new RegExp(`Accepted by Twilio at ${hhmmss} \\(receipt ${twilio}\\)`));
  const items = expanded.getByRole("list", { name: "Delivery reports" }).getByRole("listitem");
  // Twilio's retried callback is shown once.
  assert.equal(await items.count(), 3);
  assert.match(await items.nth(0).innerText(), /^\d\d:\d\d:\d\d\s+queued at the provider$/);
  assert.match(await items.nth(1).innerText(), /sent to the carrier/);
  assert.match(await items.nth(2).innerText(), /not delivered by the carrier\s+error 30003: the phone is unreachable: switched off or out of coverage/);
  assert.ok(await items.nth(2).evaluate((li) => li.classList.contains("delivery-failed")));
  assert.ok((await items.nth(2).locator("time").getAttribute("datetime")).endsWith("Z"));
  await app.screenshot("history-delivery");
});

test("delivery reports arriving now show on their send without reloading the page", async () => {
  await range("1–100 of 250");
  const target = (await sends()).findLast((r) => r.outcome.status === "delivered" && r.outcome.provider === "sns");
  const receipt = target.outcome.attempts.find((a) => a.provider === "sns" && a.outcome === "delivered").provider_message_id;
  const { row } = await rowOfReceipt(receipt);
  assert.equal(await row.getByTestId("delivery-badge").count(), 0);
  const pages = (await app.calls("send_history")).length;
  await page.evaluate((id) => {
    const at = new Date().toISOString();
    return window.__msgops.emitDeliveries([
      { provider: "sns", provider_message_id: id, status: "delivered", error_code: null, detail: "Message has been accepted by phone", occurred_at: at, received_at: at, source: "cloudwatch_logs", event_id: `cw-${id}` },
    ]);
  }, receipt);
  await row.getByTestId("delivery-badge").filter({ hasText: "delivered" }).waitFor();
  assert.equal((await app.calls("send_history")).length, pages + 1);
});
