// Keyboard only: every control on the dashboard is reached by Tab and shows where the focus
// is; the virtualised Codes list is walked with Tab past the rows first drawn.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { openApp } from "./harness.mjs";

let app;
let page;
before(async () => {
  app = await openApp({ mock: { codes: 500 } });
  page = app.page;
});
afterEach(() => app.assertClean());
after(() => app?.close());

/** What has the focus now, and whether it can be seen (an outline or a ring of 2px or more). */
const focused = () =>
  page.evaluate(() => {
    const el = document.activeElement;
    const style = getComputedStyle(el);
    const outline = style.outlineStyle !== "none" && parseFloat(style.outlineWidth) >= 2;
    return {
      id: el.dataset.kbd ?? null,
      testid: el.dataset.testid ?? null,
      label: el.getAttribute("aria-label") ?? el.getAttribute("data-testid") ?? el.textContent.trim().slice(0, 40),
      visible: el.matches(":focus-visible") && (outline || style.boxShadow !== "none"),
      posinset: el.closest("[aria-posinset]")?.getAttribute("aria-posinset") ?? null,
    };
  });

test("every dashboard control is reached by Tab, with a visible focus style", async () => {
  // A sent test adds the code entry, so it is checked too.
  await page.getByTestId("test-send-submit").click();
  await page.getByTestId("send-result").waitFor();
  const controls = await page.evaluate(() => {
    const all = document.querySelectorAll("a[href], button, input, select, textarea, [tabindex]:not([tabindex='-1'])");
    const usable = [...all].filter((el) => !el.disabled && el.getClientRects().length > 0);
    usable.forEach((el, i) => (el.dataset.kbd = String(i)));
    return usable.map((el) => el.getAttribute("aria-label") ?? el.getAttribute("data-testid") ?? el.textContent.trim().slice(0, 40));
  });
  assert.ok(controls.length >= 20, `only ${controls.length} controls found`);

  await page.evaluate(() => document.activeElement?.blur());
  const reached = new Map();
  for (let i = 0; i < controls.length + 5 && reached.size < controls.length; i++) {
    await page.keyboard.press("Tab");
    const f = await focused();
    if (f.id === null) continue;
    // A picture of the focus ring, on the first provider's Disable button.
    if (f.testid === "toggle-enabled" && ![...reached.values()].some((r) => r.testid === "toggle-enabled")) await app.screenshot("keyboard-focus");
    reached.set(f.id, f);
  }
  const missed = controls.filter((_, i) => !reached.has(String(i)));
  assert.deepEqual(missed, [], "controls Tab never reached");
  const invisible = [...reached.values()].filter((f) => !f.visible).map((f) => f.label);
  assert.deepEqual(invisible, [], "controls whose focus cannot be seen");
});

test("the Codes list is walked with the keyboard, past the rows first drawn", async () => {
  await page.getByTestId("nav-codes").focus();
  await page.keyboard.press("Enter");
  await page.getByTestId("codes-search").waitFor();
  await page.getByTestId("codes-search").focus();
  await page.keyboard.press("Tab");
  assert.equal((await focused()).testid, "code-scroll");
  await page.keyboard.press("Tab");
  let f = await focused();
  assert.match(f.label, /^Copy code \d{6}$/);
  assert.equal(f.posinset, "1");
  assert.ok(f.visible);
  await page.keyboard.press("Enter");
  await page.getByTestId("copied").filter({ hasText: `Copied ${f.label.slice(-6)}` }).waitFor();

  // 60 more: well past the first window of rows, which are drawn as the focus scrolls down.
  // One frame between presses, as with a person (or key repeat): rows below the focused one
  // are drawn on the scroll event of the next frame.
  for (let i = 0; i < 60; i++) {
    await page.keyboard.press("Tab");
    await page.evaluate(() => new Promise(requestAnimationFrame));
  }
  f = await focused();
  assert.equal(f.posinset, "61");
  assert.match(f.label, /^Copy code \d{6}$/);
  const box = await page.locator(":focus").boundingBox();
  const area = await page.getByTestId("code-scroll").boundingBox();
  assert.ok(box.y >= area.y && box.y + box.height <= area.y + area.height + 1, "the focused row is scrolled into view");
  await app.screenshot("keyboard-codes");
});
