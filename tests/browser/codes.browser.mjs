// Codes with 100,000 entries: newest first, a small window of rows in the DOM, search by the
// last four digits, copy through the clipboard plugin, live codes on top, scrolling to the end.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { openApp } from "./harness.mjs";

const TOTAL = 100_000;
let app;
let page;
before(async () => {
  app = await openApp({ mock: { codes: TOTAL } });
  page = app.page;
  await page.getByTestId("nav-codes").click();
  await page.getByTestId("codes-count").filter({ hasText: "100,000 codes" }).waitFor();
});
afterEach(() => app.assertClean());
after(() => app?.close());

const rows = () => page.getByTestId("code-row");
const search = (text) => page.getByTestId("codes-search").fill(text);
/** The fake backend's code at `index` (oldest first). */
const codeAt = (index) => page.evaluate((i) => window.__msgops.state.codes.at(i), index);
const codeCount = () => page.evaluate(() => window.__msgops.state.codes.length);

test("the newest code is first and only a window of rows is in the DOM", async () => {
  const newest = await codeAt(-1);
  const first = rows().first();
  assert.match(await first.innerText(), new RegExp(`${newest.code}[\\s\\S]*${newest.recipient.replace("+", "\\+")}`));
  assert.equal(await first.getAttribute("aria-posinset"), "1");
  assert.equal(await first.getAttribute("aria-setsize"), String(TOTAL));
  assert.equal(await first.getAttribute("data-expired"), "false");
  const inDom = await rows().count();
  assert.ok(inDom > 5 && inDom < 60, `${inDom} rows in the DOM`);
  assert.equal(await page.getByTestId("nav-codes").locator(".count").innerText(), "100000");
  await app.screenshot("codes");
});

test("Copy puts the code on the clipboard through the plugin and says so", async () => {
  const newest = await codeAt(-1);
  await rows().first().getByRole("button", { name: `Copy code ${newest.code}` }).click();
  await page.getByTestId("copied").filter({ hasText: `Copied ${newest.code} for ${newest.recipient}` }).waitFor();
  const copies = await app.calls("plugin:clipboard-manager|write_text");
  assert.deepEqual(copies.map((c) => c.args.text), [newest.code]);
});

test("the last four digits of an old recipient find it, expired and not copyable", async () => {
  const old = await codeAt(7);
  assert.equal(old.recipient, "+44 20 7946 0958");
  await search("0958");
  await page.getByTestId("codes-count").filter({ hasText: /^1 match$/ }).waitFor();
  assert.equal(await rows().count(), 1);
  const row = rows().first();
  assert.match(await row.innerText(), new RegExp(`${old.code}[\\s\\S]*\\+44 20 7946 0958[\\s\\S]*Expired`));
  assert.equal(await row.getAttribute("data-expired"), "true");
  assert.ok(await row.getByRole("button").isDisabled());
  await app.screenshot("codes-search");
  // Spaces, dashes and parentheses in the query are ignored, like in the number.
  await search("(7946) 0958");
  await page.getByTestId("codes-count").filter({ hasText: /^1 match$/ }).waitFor();
  await search("");
});

test("a code written to the log now appears at the top", async () => {
  await page.evaluate(() => {
    const { emitLog, localTime } = window.__msgops;
    const now = Date.now();
    return emitLog({
      kind: "code",
      recipient: "+14165550123",
      code: "424242",
      created_at: localTime(now),
      expires_at: localTime(now + 600_000),
      expired: false,
      source: "sms_fallback",
      file: "/srv/backend/logs/app.log",
      line: 999_999,
    });
  });
  await page.getByTestId("codes-count").filter({ hasText: "100,001 codes" }).waitFor();
  const first = rows().first();
  assert.match(await first.innerText(), /424242[\s\S]*\+14165550123[\s\S]*expires in (9:5\d|10:00)/);
});

test("scrolling to the end shows the oldest code", async () => {
  const oldest = await codeAt(0);
  const list = page.getByTestId("code-scroll");
  await list.evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
  const last = page.locator(`[data-testid="code-row"][aria-posinset="${await codeCount()}"]`);
  await last.waitFor();
  assert.match(await last.innerText(), new RegExp(oldest.code));
  // It is inside the visible part of the scrolling area, not just in the DOM.
  const [box, area] = await Promise.all([last.boundingBox(), list.boundingBox()]);
  assert.ok(box.y >= area.y && box.y + box.height <= area.y + area.height + 1, `row at ${box.y}+${box.height}, area ${area.y}+${area.height}`);
  assert.ok((await rows().count()) < 60);
  await app.screenshot("codes-end");
});

test("figures: filtering 100,000 codes on a keystroke, and a live code, until the frame is drawn", async () => {
  await page.getByTestId("code-scroll").evaluate((el) => el.scrollTo({ top: 0 }));
  // Measured in the page: from the input event to the next animation frame after React has
  // put the new matches on screen. Printed, not asserted.
  const times = await page.evaluate(async () => {
    const input = document.querySelector('[data-testid="codes-search"]');
    const setValue = Object.getOwnPropertyDescriptor(HTMLInputElement.prototype, "value").set;
    const frame = () => new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    const out = [];
    for (const query of ["0", "09", "095", "0958", "095", "09", "0", ""]) {
      await frame();
      const start = performance.now();
      setValue.call(input, query);
      input.dispatchEvent(new Event("input", { bubbles: true }));
      await frame();
      out.push({ query, ms: performance.now() - start, count: document.querySelector('[data-testid="codes-count"]').textContent });
    }
    return out;
  });
  for (const t of times) console.log(`codes filter: "${t.query}" -> ${t.count} in ${t.ms.toFixed(1)} ms`);
  assert.equal(times[3].count, "1 match");
  assert.equal(times.at(-1).count, `${(await codeCount()).toLocaleString("en-US")} codes`);

  // And a live code arriving on top of them, from the event to the drawn frame.
  const live = await page.evaluate(async () => {
    const { emitLog, localTime } = window.__msgops;
    const now = Date.now();
    const start = performance.now();
    await emitLog({ kind: "code", recipient: "+14165550124", code: "135790", created_at: localTime(now), expires_at: localTime(now + 600_000), expired: false, source: "sms_fallback", file: "/srv/backend/logs/app.log", line: 1_000_001 });
    while (!document.querySelector('[data-testid="code-row"]').textContent.includes("135790")) await new Promise(requestAnimationFrame);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - start;
  });
  console.log(`codes live: a new code on top of ${(await codeCount()) - 1} drawn in ${live.toFixed(1)} ms`);
});
