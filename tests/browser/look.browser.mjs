// Look and feel: every page in both themes passes axe-core's WCAG 2 A/AA rules (contrast
// included) with no serious or critical violation, and the layout holds from a 900 px window
// (the window's minimum width) to a 4K screen: nothing scrolls sideways, nothing stretches
// without end.
import { test, before, after, afterEach } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { openApp } from "./harness.mjs";

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

const PAGES = ["dashboard", "codes", "history", "credentials", "settings", "connections"];

let app;
let page;
before(async () => {
  app = await openApp();
  page = app.page;
});
afterEach(() => app.assertClean());
after(() => app?.close());

/** Opens a page and waits until its data is drawn (not its loading line). */
async function open(name) {
  await page.getByTestId(`nav-${name}`).click();
  const ready = {
    dashboard: () => page.getByTestId("provider-sns").waitFor(),
    codes: () => page.getByTestId("code-row").first().waitFor(),
    history: () => page.getByTestId("history-summary").waitFor(),
    credentials: () => page.getByTestId("cred-smtp").waitFor(),
    settings: () => page.getByRole("button", { name: "Save" }).waitFor(),
    connections: () => page.getByTestId("connection-name").waitFor(),
  };
  await ready[name]();
  // The cost chart draws on the next frames.
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
}

/** axe-core on the page as it is: the WCAG 2.0/2.1 A and AA rules. Serious and critical only. */
async function axe() {
  if (!(await page.evaluate(() => "axe" in window))) await page.addScriptTag({ content: axeSource });
  const results = await page.evaluate(async () => {
    // eslint-disable-next-line no-undef
    const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact,
      help: v.help,
      nodes: v.nodes.map((n) => `${n.target.join(" ")}: ${n.failureSummary?.split("\n").slice(1).join(" ").trim()}`).slice(0, 6),
    }));
  });
  return results.filter((v) => v.impact === "serious" || v.impact === "critical");
}

const describe = (violations) => violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.join("\n    ")}`).join("\n");

for (const scheme of ["light", "dark"]) {
  test(`every page, the shortcuts and the guided start pass axe in the ${scheme} theme`, async () => {
    await app.reload();
    await page.emulateMedia({ colorScheme: scheme, reducedMotion: "reduce" });
    const found = {};
    for (const name of PAGES) {
      await open(name);
      const v = await axe();
      if (v.length > 0) found[name] = describe(v);
    }
    await page.getByTestId("nav-dashboard").click();
    await page.keyboard.press("?");
    await page.getByTestId("keyboard-help").waitFor();
    let v = await axe();
    if (v.length > 0) found["shortcuts"] = describe(v);
    await app.screenshot(`shortcuts-${scheme}`);
    await page.keyboard.press("Escape");
    await page.getByTestId("nav-settings").click();
    await page.getByTestId("show-guided-start").click();
    await page.getByTestId("guided-start").waitFor();
    v = await axe();
    if (v.length > 0) found["guided start"] = describe(v);
    await app.screenshot(`guided-start-${scheme}`);
    await page.keyboard.press("Escape");
    assert.deepEqual(found, {}, `axe found serious or critical violations in the ${scheme} theme:\n${Object.entries(found).map(([p, d]) => `${p}:\n  ${d}`).join("\n")}`);
  });
}

test("an unconfigured first start passes axe in both themes, its empty states included", async () => {
  const fresh = await openApp({ mock: { fresh: true } });
  try {
    const p = fresh.page;
    const found = {};
    for (const scheme of ["light", "dark"]) {
      await p.emulateMedia({ colorScheme: scheme, reducedMotion: "reduce" });
      // Closed once, the guided start stays closed: a first start again.
      await p.evaluate(() => localStorage.clear());
      await fresh.reload();
      await p.getByTestId("guided-start").waitFor();
      await p.addScriptTag({ content: axeSource });
      const run = () =>
        p.evaluate(async () => {
          const r = await window.axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] }, resultTypes: ["violations"] });
          return r.violations.filter((v) => v.impact === "serious" || v.impact === "critical").map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
        });
      const guide = await run();
      if (guide.length > 0) found[`${scheme} guided start`] = guide;
      await p.keyboard.press("Escape");
      for (const name of PAGES) {
        await p.getByTestId(`nav-${name}`).click();
        await p.waitForTimeout(150);
        const v = await run();
        if (v.length > 0) found[`${scheme} ${name}`] = v;
      }
      await p.getByTestId("nav-dashboard").click();
      await p.getByTestId("dashboard-empty").waitFor();
      await fresh.screenshot(`first-start-dashboard-${scheme}`);
    }
    assert.deepEqual(found, {});
    await fresh.assertClean();
  } finally {
    await fresh.close();
  }
});

/** Whether anything makes the page wider than the window, and what does when it does. */
const overflow = () =>
  page.evaluate(() => {
    const width = window.innerWidth;
    const wide = [...document.querySelectorAll("body *")]
      .filter((el) => el.getBoundingClientRect().right > width + 1 && getComputedStyle(el).position !== "fixed")
      .filter((el) => !el.closest(".code-scroll, .visually-hidden"))
      .slice(0, 5)
      .map((el) => `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} right=${Math.round(el.getBoundingClientRect().right)}`);
    return { scrollWidth: document.documentElement.scrollWidth, width, wide };
  });

test("at 900×700, the window's smallest, no page scrolls sideways", async () => {
  await page.setViewportSize({ width: 900, height: 700 });
  await app.reload();
  const wide = {};
  for (const name of PAGES) {
    await open(name);
    const o = await overflow();
    if (o.scrollWidth > o.width) wide[name] = o;
    await app.screenshot(`layout-900-${name}`);
  }
  assert.deepEqual(wide, {}, "pages wider than a 900 px window");
});

test("at 3840×2160 (4K), nothing scrolls sideways and the content keeps a readable width", async () => {
  await page.setViewportSize({ width: 3840, height: 2160 });
  await app.reload();
  const problems = {};
  for (const name of PAGES) {
    await open(name);
    const o = await overflow();
    const main = await page.locator("main").boundingBox();
    const says = [];
    if (o.scrollWidth > o.width) says.push(`scrolls sideways: ${JSON.stringify(o)}`);
    if (main.width > 1800) says.push(`main is ${main.width}px wide`);
    // Centred: as much room on either side.
    if (Math.abs(main.x - (3840 - main.x - main.width)) > 2) says.push(`main is not centred (x=${main.x}, width=${main.width})`);
    if (says.length > 0) problems[name] = says;
    if (name === "dashboard" || name === "codes") await app.screenshot(`layout-4k-${name}`);
  }
  // The provider cards do not stretch across the screen either.
  await open("dashboard");
  const card = await page.getByTestId("provider-sns").boundingBox();
  assert.ok(card.width < 900, `a provider card is ${card.width}px wide`);
  assert.deepEqual(problems, {});
  await page.setViewportSize({ width: 1280, height: 820 });
});
