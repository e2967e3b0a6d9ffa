// Starts a WebDriver session on the real msgops-console window through tauri-driver
// (which drives WebKitWebDriver). The run.sh wrapper provides Xvfb, D-Bus and tauri-driver.
import { remote } from "webdriverio";
import { mkdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import path from "node:path";

export const artifacts = process.env.MSGOPS_E2E_ARTIFACTS ?? path.resolve("test-artifacts");
mkdirSync(artifacts, { recursive: true });

export async function openApp() {
  const application = process.env.MSGOPS_E2E_APP;
  if (!application) throw new Error("MSGOPS_E2E_APP must point at the built msgops-console binary");
  return remote({
    hostname: "127.0.0.1",
    port: Number(process.env.TAURI_DRIVER_PORT ?? 4444),
    logLevel: "warn",
    capabilities: {
      browserName: "wry",
      "wdio:enforceWebDriverClassic": true,
      "tauri:options": { application },
    },
  });
}

/** Waits until `fn` returns a truthy value, or fails with `what`. */
export async function eventually(fn, what, timeoutMs = 10_000) {
  const start = Date.now();
  let last;
  while (Date.now() - start < timeoutMs) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what} (last: ${last})`);
}

/**
 * Saves a PNG of the whole X display. WebKitWebDriver's own screenshot command hangs under Xvfb,
 * so the picture is taken from the X server (ImageMagick's `import`).
 */
export function screenshot(name) {
  const file = path.join(artifacts, name);
  execFileSync("import", ["-display", process.env.DISPLAY, "-window", "root", file]);
  return file;
}

/** The backend's log timestamp for `d`, local time: `2025-10-29 16:34:53,202`. */
export function stamp(d = new Date()) {
  const p = (n, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())},${p(d.getMilliseconds(), 3)}`;
}
