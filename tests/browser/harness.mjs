// Opens the built UI (ui/dist) in Debian's Chromium through playwright-core, with the fake
// backend from mock/ injected before the app loads. Everything stays on loopback: ui/dist is
// served from 127.0.0.1 on a random port and every other request is aborted.
import { chromium } from "playwright-core";
import { build } from "esbuild";
import { createServer } from "node:http";
import { mkdirSync, readFileSync, existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const dist = path.join(root, "ui/dist");
export const artifacts = process.env.MSGOPS_BROWSER_ARTIFACTS ?? path.join(root, "test-artifacts/browser");
const chromiumPath = process.env.MSGOPS_CHROMIUM ?? "/usr/bin/chromium";

const TYPES = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".png": "image/png", ".ico": "image/x-icon", ".json": "application/json" };

/** Serves ui/dist on 127.0.0.1:<random>; unknown paths get index.html, like the app's own asset protocol. */
function serveDist() {
  if (!existsSync(path.join(dist, "index.html"))) throw new Error(`${dist} is not built: run tests/browser/run.sh or npm --prefix ui run build`);
  const server = createServer((req, res) => {
    const urlPath = decodeURIComponent(new URL(req.url, "http://127.0.0.1").pathname);
    let file = path.join(dist, path.normalize(urlPath));
    if (!file.startsWith(dist + path.sep) || !existsSync(file) || urlPath === "/") file = path.join(dist, "index.html");
    res.writeHead(200, { "content-type": TYPES[path.extname(file)] ?? "application/octet-stream", "cache-control": "no-store" });
    res.end(readFileSync(file));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

let mockBundle;
/** mock/backend.ts and the UI's own @tauri-apps/api, as one script for addInitScript. */
async function bundleMock() {
  mockBundle ??= build({
    entryPoints: [path.join(here, "mock/backend.ts")],
    bundle: true,
    format: "iife",
    target: "es2022",
    write: false,
    logLevel: "error",
    nodePaths: [path.join(root, "ui/node_modules")],
  }).then((r) => r.outputFiles[0].text);
  return mockBundle;
}

/**
 * Starts Chromium and opens the app on the dashboard. `mock` is passed to the fake backend
 * (see Options in mock/backend.ts). Returns helpers the tests share.
 */
export async function openApp({ mock = {}, viewport = { width: 1280, height: 820 }, timezoneId } = {}) {
  const [server, script] = await Promise.all([serveDist(), bundleMock()]);
  const origin = `http://127.0.0.1:${server.address().port}`;
  const browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-dev-shm-usage",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-default-apps",
      "--disable-sync",
      "--no-first-run",
      "--metrics-recording-only",
      "--disable-features=Translate,OptimizationHints,MediaRouter",
    ],
  });
  // `timezoneId`: this computer's zone as the page sees it (the machine's own when absent).
  const context = await browser.newContext({ viewport, reducedMotion: "reduce", locale: "en-US", ...(timezoneId ? { timezoneId } : {}) });
  await context.route("**/*", (route) => (route.request().url().startsWith(origin + "/") ? route.continue() : route.abort()));
  const page = await context.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => m.type() === "error" && problems.push(`console error: ${m.text()}`));
  await page.addInitScript((options) => {
    window.__msgopsOptions = options;
  }, mock);
  await page.addInitScript({ content: script });
  // As in the app (tauri.conf.json `freezePrototype`): a library that patches built-in
  // prototypes fails here as it would in the window.
  await page.addInitScript({ content: "Object.freeze(Object.prototype);" });
  await page.goto(origin + "/");
  await page.getByTestId("nav-dashboard").waitFor();

  return {
    page,
    /** Loads the app again, which starts the fake backend afresh. */
    async reload() {
      await page.reload();
      await page.getByTestId("nav-dashboard").waitFor();
    },
    /** Commands the UI invoked, with arguments; `cmd` narrows to one command. */
    calls: (cmd) => page.evaluate((c) => window.__msgops.calls.filter((x) => !c || x.cmd === c), cmd),
    /** Fails when the UI called a command the mock does not know, or the page logged an error. */
    async assertClean() {
      const unmocked = await page.evaluate(() => window.__msgops.unmocked);
      if (unmocked.length > 0) throw new Error(`the UI invoked unmocked command(s): ${unmocked.join(", ")}`);
      if (problems.length > 0) throw new Error(problems.join("\n"));
    },
    async screenshot(name) {
      mkdirSync(artifacts, { recursive: true });
      const file = path.join(artifacts, `${name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      return file;
    },
    async close() {
      await browser.close();
      await new Promise((r) => server.close(r));
    },
  };
}
