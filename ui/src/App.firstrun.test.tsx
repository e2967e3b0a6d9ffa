import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Backend, FileDrop } from "./api/backend";
import type { FallbackCode } from "./bindings/FallbackCode";
import type { HealthSnapshot } from "./bindings/HealthSnapshot";
import type { LogEvent } from "./bindings/LogEvent";
import type { ProviderHealth } from "./bindings/ProviderHealth";
import type { ProviderKind } from "./bindings/ProviderKind";
import type { Settings } from "./bindings/Settings";
import type { TestSendRequest } from "./bindings/TestSendRequest";
import { App } from "./App";
import { GUIDE_DISMISSED_KEY } from "./components/GuidedStart";
import { SHORTCUTS } from "./shortcuts";

const CONSOLE_LOG = "/home/op/.local/share/msgops/console-sms.log";

function provider(id: ProviderKind, channel: "sms" | "email", configured: boolean): ProviderHealth {
  return {
    name: id,
    priority: "PRIMARY",
    is_healthy: configured,
    id,
    display_name: id,
    channel,
    enabled: true,
    configured,
    breaker_state: "CLOSED",
    consecutive_failures: 0,
    failure_threshold: 3,
    open_until: null,
    open_remaining_ms: null,
    last_error: null,
    last_probe: null,
    sent: 0,
    failed: 0,
    cost_usd: 0,
    cost_per_message_usd: 0,
    rate_per_second: 0,
    rate_available: null,
  };
}

function health(configured: boolean): HealthSnapshot {
  const chain = { status: "unconfigured" as const, reason: "" };
  return {
    ok: true,
    chains: { sms: chain, email: chain },
    sms_providers: [provider("sns", "sms", configured), provider("twilio", "sms", false), provider("console", "sms", true)],
    email_providers: [provider("ses", "email", configured), provider("sendgrid", "email", false), provider("smtp", "email", false)],
  } as unknown as HealthSnapshot;
}

const settingsWith = (follow: string[]): Settings => ({
  logs: { follow, code_lifetime_secs: 600, patterns: [], timezone: "auto", code_length: 6 },
  providers: [],
});

const codeEvent = (code: string, to: string): LogEvent & FallbackCode => ({
  kind: "code",
  recipient: to,
  candidates: [],
  code,
  logged_at: null,
  created_at: new Date().toISOString(),
  expires_at: new Date(Date.now() + 600_000).toISOString(),
  time: "logged",
  expired: false,
  source: "console",
  file: CONSOLE_LOG,
  line: 1,
});

/**
 * A first start: nothing configured, only the Console's own log followed. `picks` is what the
 * native file dialog answers, in order. `log` and `drop` play the backend's events.
 */
function fakeBackend({ configured = false, follow = [] as string[], picks = [] as (string | null)[] } = {}) {
  let logHandler: (e: LogEvent) => void = () => undefined;
  let dropHandler: (d: FileDrop) => void = () => undefined;
  let settings = settingsWith(follow);
  const never = () => new Promise<never>(() => undefined);
  const backend = {
    healthSnapshot: vi.fn(async () => health(configured)),
    appStatus: vi.fn(async () => ({ version: "0.1.0", config_path: "/home/op/.config/msgops/config.toml", config_error: null, console_log: CONSOLE_LOG })),
    keychainHealth: vi.fn(async () => ({ ok: true, message: "", store: "Secret Service", code: null })),
    credentialStatuses: vi.fn(async () => [
      { provider: "aws", fields: [], state: "missing", problem: null },
      { provider: "twilio", fields: [], state: "missing", problem: null },
    ]),
    credentialAudit: vi.fn(async () => []),
    onChainEvent: vi.fn(async () => () => undefined),
    onDeliveryReports: vi.fn(async () => () => undefined),
    onLogEvent: vi.fn(async (h: (e: LogEvent) => void) => {
      logHandler = h;
      return () => undefined;
    }),
    onLogReset: vi.fn(async () => () => undefined),
    logSnapshot: vi.fn(async () => ({ codes: [], diagnostics: [], files: [...settings.logs.follow, CONSOLE_LOG], clocks: [] })),
    sendHistory: vi.fn(async () => ({ total: 0, sends: [], deliveries: [] })),
    historySummary: vi.fn(never),
    getSettings: vi.fn(async () => structuredClone(settings)),
    checkSettings: vi.fn(async () => []),
    saveSettings: vi.fn(async (s: Settings) => {
      settings = s;
      return { settings: s, warnings: [] };
    }),
    operationsAudit: vi.fn(async () => []),
    connections: vi.fn(async () => ({ revision: 1, active: null, connections: [], status: { state: "local" } })),
    onConnection: vi.fn(async () => () => undefined),
    onOpenCodes: vi.fn(async () => () => undefined),
    desktopSettings: vi.fn(async () => ({ close_to_tray: true, global_shortcut: null, start_at_login: false, start_at_login_problem: null })),
    previewEnvImport: vi.fn(async (path: string) => ({
      file: path,
      secrets: [{ kind: "twilio_auth_token", provider: "twilio", env_var: "TWILIO_AUTH_TOKEN", line: 2, masked: "••••••••0d42", keychain: "missing" }],
      settings: [],
      imported_settings: {},
      blank: [],
      duplicates: [],
      unknown: [],
      malformed: [],
      keychain_error: null,
    })),
    applyEnvImport: vi.fn(async () => ({ stored: ["twilio_auth_token"], unchanged: [], kept_existing: [], rewritten: true, removed_lines: [2], settings: {} })),
    sendTest: vi.fn(async (request: TestSendRequest) => ({
      record: {
        channel: "sms",
        recipient: request.to,
        started_at: new Date().toISOString(),
        duration_ms: 3,
        outcome: { status: "delivered", provider: "console", attempts: [], skipped: [] },
      },
      code: "482913",
    })),
    providerTimeline: vi.fn(never),
    pickFile: vi.fn(async () => picks.shift() ?? null),
    onFileDrop: vi.fn(async (h: (d: FileDrop) => void) => {
      dropHandler = h;
      return () => undefined;
    }),
  };
  return {
    ...backend,
    backend: backend as unknown as Backend,
    log: (e: LogEvent) => act(() => logHandler(e)),
    drop: (paths: string[]) =>
      act(() => {
        dropHandler({ kind: "hover" });
        dropHandler({ kind: "drop", paths });
      }),
  };
}

beforeEach(() => window.localStorage.clear());
afterEach(() => window.localStorage.clear());

describe("the keyboard shortcuts overlay", () => {
  it("opens with ?, lists every shortcut, traps the focus and closes with Esc, giving the focus back", async () => {
    const f = fakeBackend({ configured: true, follow: ["/var/log/app.log"] });
    render(<App backend={f.backend} />);
    const codesTab = screen.getByTestId("nav-codes");
    codesTab.focus();
    await userEvent.keyboard("?");
    const dialog = await screen.findByRole("dialog", { name: "Keyboard shortcuts" });
    expect(dialog).toHaveAttribute("aria-modal", "true");
    // The page behind is inert while it is open.
    expect(document.querySelector(".app")).toHaveAttribute("inert");
    const rows = within(dialog).getAllByTestId("shortcut");
    expect(rows).toHaveLength(SHORTCUTS.flatMap((g) => g.shortcuts).length);
    const text = dialog.textContent ?? "";
    for (const words of ["Search the Codes", "Go to Dashboard", "Go to Codes", "Go to History", "Go to Credentials", "Go to Settings", "Go to Connections", "Paste a code", "Backspace", "Copy button"]) {
      expect(text).toContain(words);
    }
    // Tab goes round the dialog's controls and never leaves it.
    const close = within(dialog).getByRole("button", { name: "Close (Esc)" });
    for (let i = 0; i < 4; i++) {
      await userEvent.tab();
      expect(dialog.contains(document.activeElement)).toBe(true);
    }
    expect(document.activeElement).toBe(close);
    await userEvent.tab({ shift: true });
    expect(dialog.contains(document.activeElement)).toBe(true);

    await userEvent.keyboard("{Escape}");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(document.activeElement).toBe(codesTab);
    expect(document.querySelector(".app")).not.toHaveAttribute("inert");
  });

  it("is also the header's ? button", async () => {
    const f = fakeBackend({ configured: true, follow: ["/var/log/app.log"] });
    render(<App backend={f.backend} />);
    await userEvent.click(screen.getByTestId("help-button"));
    expect(await screen.findByRole("dialog", { name: "Keyboard shortcuts" })).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Close (Esc)" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("g then a letter switches pages, / searches the codes, and typing in a field is never a shortcut", async () => {
    const f = fakeBackend({ configured: true, follow: ["/var/log/app.log"] });
    render(<App backend={f.backend} />);
    await userEvent.keyboard("gh");
    expect(screen.getByTestId("nav-history")).toHaveAttribute("aria-current", "page");
    await userEvent.keyboard("gk");
    expect(screen.getByTestId("nav-credentials")).toHaveAttribute("aria-current", "page");
    await userEvent.keyboard("gn");
    expect(screen.getByTestId("nav-connections")).toHaveAttribute("aria-current", "page");
    await userEvent.keyboard("/");
    expect(screen.getByTestId("nav-codes")).toHaveAttribute("aria-current", "page");
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("codes-search")));
    // In the search box, ? / and g d are text.
    await userEvent.keyboard("?/gd");
    expect(screen.getByTestId("codes-search")).toHaveValue("?/gd");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(screen.getByTestId("nav-codes")).toHaveAttribute("aria-current", "page");
    // d alone, without g first, does nothing.
    await userEvent.click(screen.getByRole("heading", { name: "Fallback codes" }));
    await userEvent.keyboard("d");
    expect(screen.getByTestId("nav-codes")).toHaveAttribute("aria-current", "page");
    await userEvent.keyboard("gd");
    expect(screen.getByTestId("nav-dashboard")).toHaveAttribute("aria-current", "page");
  });
});

describe("empty states say what to do next, with a button that does it", () => {
  it("the unconfigured dashboard offers the guided start, a .env import, a log and a test send", async () => {
    window.localStorage.setItem(GUIDE_DISMISSED_KEY, "1");
    const f = fakeBackend({ picks: ["/srv/backend/.env"] });
    render(<App backend={f.backend} />);
    const empty = await screen.findByTestId("dashboard-empty");
    expect(empty).toHaveTextContent("Nothing is configured yet");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();

    await userEvent.click(within(empty).getByRole("button", { name: "Send a test" }));
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("test-send-to")));

    await userEvent.click(within(empty).getByRole("button", { name: "Import a .env…" }));
    expect(f.pickFile).toHaveBeenCalledWith("env");
    // The Credentials page previews what the picked .env would store.
    expect(await screen.findByTestId("import-preview")).toHaveTextContent("TWILIO_AUTH_TOKEN = ••••••••0d42");
    expect(screen.getByTestId("nav-credentials")).toHaveAttribute("aria-current", "page");
    expect(screen.getByTestId("import-path")).toHaveValue("/srv/backend/.env");
    expect(f.applyEnvImport).not.toHaveBeenCalled();
    // And the Credentials page itself, with nothing stored, says so with its own button.
    expect(screen.getByTestId("credentials-empty")).toHaveTextContent("No provider key is in the keychain yet");

    await userEvent.click(screen.getByTestId("nav-dashboard"));
    await userEvent.click(await screen.findByRole("button", { name: "Open the guided start" }));
    expect(await screen.findByRole("dialog", { name: "Guided start" })).toBeInTheDocument();
  });

  it("Codes with no backend log follows one picked in the file dialog, then offers a Console test whose code arrives", async () => {
    window.localStorage.setItem(GUIDE_DISMISSED_KEY, "1");
    const f = fakeBackend({ picks: ["/var/log/app/backend.log"] });
    render(<App backend={f.backend} />);
    await userEvent.click(screen.getByTestId("nav-codes"));
    const noLog = await screen.findByTestId("codes-no-log");
    expect(noLog).toHaveTextContent("No backend log is followed yet");
    await userEvent.click(within(noLog).getByRole("button", { name: "Follow a log…" }));
    await waitFor(() => expect(f.saveSettings).toHaveBeenCalledTimes(1));
    expect(f.pickFile).toHaveBeenCalledWith("log");
    expect(f.saveSettings.mock.calls[0][0].logs.follow).toEqual(["/var/log/app/backend.log"]);
    expect(await screen.findByTestId("app-notice")).toHaveTextContent("Following /var/log/app/backend.log now.");

    const empty = screen.getByTestId("codes-empty");
    expect(empty).toHaveTextContent("No codes yet");
    await userEvent.click(within(empty).getByRole("button", { name: "Send a test through the Console" }));
    expect(f.sendTest).toHaveBeenCalledWith({ channel: "sms", to: "+14165550123", provider: "console" });
    expect(await screen.findByTestId("copied")).toHaveTextContent("Sent: the Console wrote code 482913");
    f.log(codeEvent("482913", "+14165550123"));
    // (jsdom draws no row of the virtual list: the count says it is there.)
    await waitFor(() => expect(screen.getByTestId("codes-count")).toHaveTextContent("1 code"));
    expect(screen.queryByTestId("codes-empty")).not.toBeInTheDocument();
  });

  it("History with no send takes the operator to the test send", async () => {
    window.localStorage.setItem(GUIDE_DISMISSED_KEY, "1");
    const f = fakeBackend({ configured: true, follow: ["/var/log/app.log"] });
    render(<App backend={f.backend} />);
    await userEvent.click(screen.getByTestId("nav-history"));
    await userEvent.click(await screen.findByTestId("sends-empty-test"));
    expect(screen.getByTestId("nav-dashboard")).toHaveAttribute("aria-current", "page");
    await waitFor(() => expect(document.activeElement).toBe(screen.getByTestId("test-send-to")));
  });

  it("Connections with none saved puts the focus on the new connection's name", async () => {
    const f = fakeBackend({ configured: true, follow: ["/var/log/app.log"] });
    render(<App backend={f.backend} />);
    await userEvent.click(screen.getByTestId("nav-connections"));
    await userEvent.click(await screen.findByTestId("connections-empty-add"));
    expect(document.activeElement).toBe(screen.getByTestId("connection-name"));
  });
});

describe("the guided start", () => {
  it("shows on a first start with nothing configured and walks log, .env, test and code", async () => {
    const f = fakeBackend({ picks: ["/var/log/app/backend.log", "/srv/backend/.env"] });
    render(<App backend={f.backend} />);
    const guide = await screen.findByRole("dialog", { name: "Guided start" });
    const step = (name: string) => within(guide).getByTestId(`guide-step-${name}`);
    expect(step("log")).toHaveAttribute("aria-current", "step");

    // 1. The log, picked in the native dialog, followed.
    await userEvent.click(within(step("log")).getByRole("button", { name: "Browse for the backend's log" }));
    expect(within(step("log")).getByTestId("guide-log-path")).toHaveValue("/var/log/app/backend.log");
    await userEvent.click(within(step("log")).getByRole("button", { name: "Follow this log" }));
    expect(await within(step("log")).findByTestId("guide-log-done")).toHaveTextContent("Following /var/log/app/backend.log now.");
    expect(f.saveSettings.mock.calls[0][0].logs.follow).toEqual(["/var/log/app/backend.log"]);
    expect(step("env")).toHaveAttribute("aria-current", "step");

    // 2. The .env: previewed (masked) as soon as it is picked, then imported.
    await userEvent.click(within(step("env")).getByRole("button", { name: "Browse for the backend's .env" }));
    const preview = await within(step("env")).findByTestId("guide-env-preview");
    expect(preview).toHaveTextContent("line 2: TWILIO_AUTH_TOKEN = ••••••••0d42");
    expect(f.previewEnvImport).toHaveBeenCalledWith("/srv/backend/.env");
    await userEvent.click(within(preview).getByRole("button", { name: "Import into the keychain" }));
    expect(f.applyEnvImport).toHaveBeenCalledWith({ path: "/srv/backend/.env", rewrite: true, replace_existing: false });
    expect(await within(step("env")).findByTestId("guide-env-done")).toHaveTextContent("Imported: 1 stored, 0 unchanged; .env rewritten without 1 secret line(s).");

    // 3. A test through the Console.
    await userEvent.clear(within(step("test")).getByTestId("guide-test-to"));
    await userEvent.type(within(step("test")).getByTestId("guide-test-to"), "+14165550177");
    await userEvent.click(within(step("test")).getByRole("button", { name: "Send a test" }));
    expect(f.sendTest).toHaveBeenCalledWith({ channel: "sms", to: "+14165550177", provider: "console" });
    expect(await within(step("test")).findByTestId("guide-test-done")).toHaveTextContent("code 482913 for +14165550177");

    // 4. Its code, as the log watcher reads it from the Console's log.
    expect(within(step("code")).getByTestId("guide-code-waiting")).toHaveTextContent("Waiting for code 482913");
    f.log(codeEvent("482913", "+14165550177"));
    expect(await within(step("code")).findByTestId("guide-code-done")).toHaveTextContent("Code 482913 for +14165550177 arrived from console-sms.log");

    await userEvent.click(within(step("code")).getByRole("button", { name: "Open the Codes page" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(screen.getByTestId("nav-codes")).toHaveAttribute("aria-current", "page");
    expect(screen.getByTestId("codes-count")).toHaveTextContent("1 code");
    expect(window.localStorage.getItem(GUIDE_DISMISSED_KEY)).toBe("1");
  });

  it("does not show again once closed, nor when something is configured, and Settings shows it again", async () => {
    window.localStorage.setItem(GUIDE_DISMISSED_KEY, "1");
    const first = render(<App backend={fakeBackend().backend} />);
    await screen.findByTestId("dashboard-empty");
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    first.unmount();

    window.localStorage.clear();
    const f = fakeBackend({ configured: true });
    render(<App backend={f.backend} />);
    await screen.findAllByTestId(/^provider-/);
    await waitFor(() => expect(f.logSnapshot).toHaveBeenCalled());
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(screen.queryByTestId("dashboard-empty")).not.toBeInTheDocument();

    await userEvent.click(screen.getByTestId("nav-settings"));
    await userEvent.click(await screen.findByRole("button", { name: "Show the guided start" }));
    const guide = await screen.findByRole("dialog", { name: "Guided start" });
    await userEvent.keyboard("{Escape}");
    expect(guide).not.toBeInTheDocument();
    expect(window.localStorage.getItem(GUIDE_DISMISSED_KEY)).toBe("1");
  });

  it("takes a log or a .env dropped on the window into its step", async () => {
    const f = fakeBackend();
    render(<App backend={f.backend} />);
    const guide = await screen.findByRole("dialog", { name: "Guided start" });
    await waitFor(() => expect(f.onFileDrop).toHaveBeenCalled());
    f.drop(["/srv/backend/.env.production"]);
    expect(await within(guide).findByTestId("guide-env-preview")).toHaveTextContent("TWILIO_AUTH_TOKEN");
    expect(within(guide).getByTestId("guide-env-path")).toHaveValue("/srv/backend/.env.production");
    f.drop(["/var/log/app/worker.log"]);
    expect(within(guide).getByTestId("guide-log-path")).toHaveValue("/var/log/app/worker.log");
    expect(f.saveSettings).not.toHaveBeenCalled();
  });
});

describe("files dropped on the window", () => {
  it("a .env is previewed on Credentials, a log joins the files to follow on Settings, to save", async () => {
    window.localStorage.setItem(GUIDE_DISMISSED_KEY, "1");
    const f = fakeBackend({ configured: true, follow: ["/var/log/app.log"] });
    render(<App backend={f.backend} />);
    await waitFor(() => expect(f.onFileDrop).toHaveBeenCalled());
    f.drop(["/srv/backend/.env"]);
    expect(await screen.findByTestId("import-preview")).toHaveTextContent("TWILIO_AUTH_TOKEN");
    expect(screen.getByTestId("nav-credentials")).toHaveAttribute("aria-current", "page");

    f.drop(["/var/log/app/worker.log"]);
    expect(screen.getByTestId("nav-settings")).toHaveAttribute("aria-current", "page");
    expect(await screen.findByLabelText("Log file 2")).toHaveValue("/var/log/app/worker.log");
    expect(screen.getByLabelText("Log file 1")).toHaveValue("/var/log/app.log");
    expect(f.saveSettings).not.toHaveBeenCalled();
    // Each path field has its Browse… button.
    expect(screen.getByRole("button", { name: "Browse for log file 2" })).toBeInTheDocument();
  });

  it("shows where to drop while files are dragged over the window", async () => {
    const f = fakeBackend({ configured: true, follow: ["/var/log/app.log"] });
    render(<App backend={f.backend} />);
    await waitFor(() => expect(f.onFileDrop).toHaveBeenCalled());
    const handler = f.onFileDrop.mock.calls[0][0];
    act(() => handler({ kind: "hover" }));
    expect(screen.getByTestId("drop-overlay")).toHaveTextContent("Drop a .env to preview its import, or a log file to follow it");
    act(() => handler({ kind: "cancel" }));
    expect(screen.queryByTestId("drop-overlay")).not.toBeInTheDocument();
  });
});
