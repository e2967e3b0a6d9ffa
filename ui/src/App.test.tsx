import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Backend } from "./api/backend";
import type { DeliveryRates } from "./bindings/DeliveryRates";
import type { HealthSnapshot } from "./bindings/HealthSnapshot";
import type { LogClockInfo } from "./bindings/LogClockInfo";
import type { LogEvent } from "./bindings/LogEvent";
import type { LogSnapshot } from "./bindings/LogSnapshot";
import { App } from "./App";

/** Just enough of a backend for the window to start and show each page. */
function fakeBackend(): Backend {
  const never = () => new Promise<never>(() => undefined);
  return {
    healthSnapshot: vi.fn(never),
    appStatus: vi.fn(async () => ({ version: "0.1.0", config_path: "/home/op/.config/msgops/config.toml", config_error: null, console_log: "/tmp/console.log" })),
    keychainHealth: vi.fn(async () => ({ ok: true, message: "" })),
    onChainEvent: vi.fn(async () => () => undefined),
    onDeliveryReports: vi.fn(async () => () => undefined),
    onLogEvent: vi.fn(async () => () => undefined),
    onLogReset: vi.fn(async () => () => undefined),
    logSnapshot: vi.fn(never),
    sendHistory: vi.fn(async () => ({ total: 0, sends: [], deliveries: [] })),
    historySummary: vi.fn(never),
    providerTimeline: vi.fn(never),
    getSettings: vi.fn(never),
    operationsAudit: vi.fn(async () => []),
    connections: vi.fn(async () => ({ active: null, connections: [], status: { state: "local" } })),
    onConnection: vi.fn(async () => () => undefined),
    connectionFingerprint: vi.fn(never),
    addConnection: vi.fn(never),
    removeConnection: vi.fn(never),
    useConnection: vi.fn(never),
    pickFile: vi.fn(async () => null),
    onFileDrop: vi.fn(async () => () => undefined),
    onOpenCodes: vi.fn(async () => () => undefined),
  } as unknown as Backend;
}

describe("App", () => {
  it("has the pages in order and shows History and Settings", async () => {
    const backend = fakeBackend();
    render(<App backend={backend} />);
    const nav = screen.getByRole("navigation", { name: "Pages" });
    expect(within(nav).getAllByRole("button").map((b) => b.textContent)).toEqual(["Dashboard", "Codes", "History", "Credentials", "Settings", "Connections"]);

    await userEvent.click(screen.getByTestId("nav-history"));
    expect(screen.getByTestId("nav-history")).toHaveAttribute("aria-current", "page");
    expect(await screen.findByText("No sends yet — use Test send on the Dashboard.")).toBeInTheDocument();
    expect(screen.getByRole("main")).toHaveClass("single");

    await userEvent.click(screen.getByTestId("nav-settings"));
    expect(screen.getByText("Loading settings…")).toBeInTheDocument();
    expect(backend.getSettings).toHaveBeenCalled();
  });
});

describe("App codes after new settings", () => {
  it("drops what was read when the watcher restarts, then takes the files' codes again", async () => {
    const code = (line: number, value: string) => ({
      kind: "code" as const,
      recipient: "+14165550123",
      candidates: [],
      code: value,
      logged_at: null,
      created_at: null,
      expires_at: null,
      time: "unknown" as const,
      expired: true,
      source: "sms_fallback" as const,
      file: "/var/log/backend.log",
      line,
    });
    let reset: () => void = () => undefined;
    let snapshots = 0;
    const backend = {
      ...fakeBackend(),
      logSnapshot: vi.fn(async () => {
        snapshots += 1;
        // Before the restart the feed held two codes; after it, the new file has one so far.
        return snapshots === 1
          ? { codes: [code(1, "111111"), code(2, "222222")], diagnostics: [], files: ["/var/log/backend.log"], clocks: [] }
          : { codes: [code(1, "333333")], diagnostics: [], files: ["/var/log/otp.log"], clocks: [] };
      }),
      onLogReset: vi.fn(async (handler: () => void) => {
        reset = handler;
        return () => undefined;
      }),
    } as unknown as Backend;
    render(<App backend={backend} />);
    await userEvent.click(screen.getByTestId("nav-codes"));
    // The tab's badge counts the codes held (the list itself is virtualised).
    const tab = screen.getByTestId("nav-codes");
    await waitFor(() => expect(tab).toHaveTextContent("Codes2"));
    expect(screen.getByText(/backend\.log/)).toBeInTheDocument();
    reset();
    await waitFor(() => expect(tab).toHaveTextContent("Codes1"));
    expect(screen.getByText(/otp\.log/)).toBeInTheDocument();
  });
});

describe("App log clocks", () => {
  it("shows the snapshot's clock on the Codes page, replaced by a newer one for the same file, and not as a diagnostic", async () => {
    const file = "/var/log/backend.log";
    const clock = (zone: string, basis: LogClockInfo["basis"], reason: string): LogClockInfo => ({ file, zone, basis, reason });
    let push: (e: LogEvent) => void = () => undefined;
    const backend = {
      ...fakeBackend(),
      logSnapshot: vi.fn(async (): Promise<LogSnapshot> => ({
        codes: [],
        diagnostics: [{ kind: "clock", ...clock("local (America/Toronto)", "assumed", "no timestamp read yet") }],
        files: [file],
        clocks: [clock("local (America/Toronto)", "assumed", "no timestamp read yet")],
      })),
      onLogEvent: vi.fn(async (handler: (e: LogEvent) => void) => {
        push = handler;
        return () => undefined;
      }),
    } as unknown as Backend;
    render(<App backend={backend} />);
    // Not among the dashboard's diagnostics.
    await waitFor(() => expect(backend.logSnapshot).toHaveBeenCalled());
    expect(await screen.findByText("Nothing from the backend logs yet.")).toBeInTheDocument();

    await userEvent.click(screen.getByTestId("nav-codes"));
    expect(await screen.findByTestId("log-clock")).toHaveTextContent("Log times read as local (America/Toronto) — assumed: no timestamp read yet");
    act(() => push({ kind: "clock", ...clock("UTC−05:00", "inferred", "newest line 16:34 vs file modified 21:34 UTC") }));
    expect(screen.getAllByTestId("log-clock")).toHaveLength(1);
    expect(screen.getByTestId("log-clock")).toHaveTextContent("Log times read as UTC−05:00 — inferred: newest line 16:34 vs file modified 21:34 UTC");
  });
});

describe("App delivery reports", () => {
  const n = (v: number) => v;
  const rates = (delivered: number, failed: number): DeliveryRates => ({
    window_secs: n(3600),
    providers: [{ provider: "twilio", delivered: n(delivered), failed: n(failed), pending: n(0), rate: delivered / (delivered + failed) }],
  });
  const snapshot = (delivery?: DeliveryRates): HealthSnapshot => ({
    sms_providers: [
      {
        name: "TwilioSMSProvider",
        priority: "SECONDARY",
        is_healthy: true,
        id: "twilio",
        display_name: "Twilio",
        channel: "sms",
        enabled: true,
        configured: true,
        breaker_state: "CLOSED",
        consecutive_failures: 0,
        failure_threshold: 3,
        open_until: null,
        open_remaining_ms: null,
        last_error: null,
        last_probe: null,
        sent: 25,
        failed: 0,
        cost_usd: 0.2,
        cost_per_message_usd: 0.0079,
        rate_per_second: 10,
        rate_available: 10,
      },
    ],
    email_providers: [],
    chains: {
      sms: { status: "healthy", reason: "can deliver through Twilio", can_deliver: ["twilio"] },
      email: { status: "unconfigured", reason: "no provider with credentials is set up", can_deliver: [] },
    },
    ok: true,
    delivery,
  });

  it("asks for the health snapshot again when delivery reports arrive: the card's delivered share follows", async () => {
    let report: (r: DeliveryRates) => void = () => undefined;
    const snapshots = [snapshot(), snapshot(rates(23, 2))];
    const backend = {
      ...fakeBackend(),
      healthSnapshot: vi.fn(async () => snapshots.shift() ?? snapshot(rates(23, 2))),
      onDeliveryReports: vi.fn(async (handler: (r: DeliveryRates) => void) => {
        report = handler;
        return () => undefined;
      }),
    } as unknown as Backend;
    render(<App backend={backend} />);
    const card = await screen.findByTestId("provider-twilio");
    // No reports yet: no delivered share at all.
    expect(within(card).queryByTestId("delivery-rate")).not.toBeInTheDocument();
    await waitFor(() => expect(backend.onDeliveryReports).toHaveBeenCalled());
    expect(backend.healthSnapshot).toHaveBeenCalledTimes(1);

    act(() => report(rates(23, 2)));
    await waitFor(() => expect(backend.healthSnapshot).toHaveBeenCalledTimes(2));
    expect(await within(card).findByTestId("delivery-rate")).toHaveTextContent("92 % (23 of 25)");
  });
});
