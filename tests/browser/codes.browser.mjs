// Codes with 100,000 entries: newest first, a small window of rows in the DOM, search by the
// last four digits, a code for one of two waiting requests found by either's digits, the log's
// clock, copy through the clipboard plugin, live codes on top, scrolling to the end.
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

test("a code for one of two waiting requests says so in words and is found by either number's last four digits", async () => {
  const uncertain = await codeAt(-3);
  assert.equal(uncertain.recipient, null);
  assert.deepEqual(uncertain.candidates, ["+1 416 555 0198", "+1 647 555 0289"]);
  for (const digits of ["0198", "0289"]) {
    await search(digits);
    await page.getByTestId("codes-count").filter({ hasText: /^1 match$/ }).waitFor();
    const row = rows().first();
    assert.equal(await rows().count(), 1);
    assert.match(await row.innerText(), new RegExp(`${uncertain.code}[\\s\\S]*uncertain\\s+for one of \\+1 416 555 0198, \\+1 647 555 0289[\\s\\S]*expires in`, "i"));
    assert.equal(await row.locator(".code-recipient").getAttribute("data-uncertain"), "true");
  }
  // Marked apart from a certain recipient, not by colour alone: the word is there, in its own style.
  const mark = rows().first().locator(".uncertain-label");
  assert.equal(await mark.textContent(), "uncertain");
  await rows().first().getByRole("button", { name: `Copy code ${uncertain.code}` }).click();
  await page.getByTestId("copied").filter({ hasText: `Copied ${uncertain.code} for one of +1 416 555 0198, +1 647 555 0289` }).waitFor();
  await app.screenshot("codes-uncertain");
  // The end of one number and the start of the next are not one number.
  await search("01981647");
  await page.getByTestId("codes-count").filter({ hasText: /^0 matches$/ }).waitFor();
  await search("");
});

test("the log's clock is shown, and a newer one replaces it live", async () => {
  const clock = page.getByTestId("log-clock");
  assert.match(await clock.innerText(), /^Log times read as UTC\S* — inferred: newest line \d\d:\d\d vs file modified \d\d:\d\d UTC$/);
  await page.evaluate(() =>
    window.__msgops.emitLog({
      kind: "clock",
      file: "/srv/backend/logs/app.log",
      zone: "UTC\u221205:00",
      basis: "inferred",
      reason: "newest line 16:34 vs file modified 21:34 UTC",
    }),
  );
  await clock.filter({ hasText: "Log times read as UTC\u221205:00 — inferred: newest line 16:34 vs file modified 21:34 UTC" }).waitFor();
  assert.equal(await clock.count(), 1);
  // A code with no timestamp of its own, read from the past, is marked approximate.
  const approximate = await codeAt(-5);
  assert.equal(approximate.time, "approximate");
  const when = rows().nth(4).getByTestId("code-when");
  assert.match(await when.innerText(), /^≈ \d\d:\d\d:\d\d\s+no timestamp on its line; the last one before it$/);
});

test("a code written to the log now appears at the top", async () => {
  await page.evaluate(() => {
    const { emitLog, localTime } = window.__msgops;
    const now = Date.now();
    return emitLog({
      kind: "code",
      recipient: "+14165550123",
      candidates: [],
      code: "424242",
      logged_at: localTime(now),
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + 600_000).toISOString(),
      time: "logged",
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
    await emitLog({
      kind: "code",
      recipient: "+14165550124",
      candidates: [],
      code: "135790",
      logged_at: localTime(now),
      created_at: new Date(now).toISOString(),
      expires_at: new Date(now + 600_000).toISOString(),
      time: "logged",
      expired: false,
      source: "sms_fallback",
      file: "/srv/backend/logs/app.log",
      line: 1_000_001,
    });
    while (!document.querySelector('[data-testid="code-row"]').textContent.includes("135790")) await new Promise(requestAnimationFrame);
    await new Promise((r) => requestAnimationFrame(() => setTimeout(r, 0)));
    return performance.now() - start;
  });
  console.log(`codes live: a new code on top of ${(await codeCount()) - 1} drawn in ${live.toFixed(1)} ms`);
});
