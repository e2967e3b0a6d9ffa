import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Backend } from "./api/backend";
import type { ConnectionsView } from "./bindings/ConnectionsView";
import type { HealthSnapshot } from "./bindings/HealthSnapshot";
import type { LogSnapshot } from "./bindings/LogSnapshot";
import { App } from "./App";

const prod = { name: "prod", url: "https://backend-1.example.com:8443", fingerprint: "AB:CD:EF:01:23:45", has_token: true };
const view = (active: string | null, status: ConnectionsView["status"]): ConnectionsView => ({ revision: 0, active, connections: [prod], status });
const LOCAL = view(null, { state: "local" });
const CONNECTING = view("prod", { state: "connecting" });
const CONNECTED = view("prod", { state: "connected", since: "2025-10-29T16:34:53Z" });

function health(sent: number): HealthSnapshot {
  return {
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
        sent,
        failed: 1,
        cost_usd: 0.05,
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
  };
}

const code = (value: string) => ({
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
  line: Number(value.slice(-2)),
});

/** A backend with one saved connection, prod; `push` plays the backend's connection events. */
function fakeBackend() {
  let push: (v: ConnectionsView) => void = () => undefined;
  let on = LOCAL;
  const never = () => new Promise<never>(() => undefined);
  const backend = {
    // This computer's Twilio sent 3; prod's, 7.
    healthSnapshot: vi.fn(async () => health(on.active === null ? 3 : 7)),
    appStatus: vi.fn(async () => ({ version: "0.1.0", config_path: "/home/op/.config/msgops/config.toml", config_error: null, console_log: "/tmp/console.log" })),
    keychainHealth: vi.fn(async () => ({ ok: true, message: "", store: "Secret Service" })),
    credentialStatuses: vi.fn(async () => []),
    credentialAudit: vi.fn(async () => []),
    onChainEvent: vi.fn(async () => () => undefined),
    onDeliveryReports: vi.fn(async () => () => undefined),
    onLogEvent: vi.fn(async () => () => undefined),
    onLogReset: vi.fn(async () => () => undefined),
    // This computer's log has one code; prod's has two.
    logSnapshot: vi.fn(async (): Promise<LogSnapshot> => ({
      codes: on.active === null ? [code("111111")] : [code("222222"), code("333333")],
      diagnostics: [],
      files: ["/var/log/backend.log"],
      clocks: [],
    })),
    sendHistory: vi.fn(async () => ({ total: 0, sends: [], deliveries: [] })),
    historySummary: vi.fn(never),
    providerTimeline: vi.fn(never),
    getSettings: vi.fn(never),
    operationsAudit: vi.fn(async () => []),
    setProviderEnabled: vi.fn(async () => health(on.active === null ? 3 : 7)),
    sendTest: vi.fn(never),
    controlProvider: vi.fn(async () => ({ provider: "twilio", control: "probe", transition: null, state: "CLOSED", probe: null })),
    connections: vi.fn(async () => on),
    onConnection: vi.fn(async (handler: (v: ConnectionsView) => void) => {
      push = handler;
      return () => undefined;
    }),
    useConnection: vi.fn(async (name: string | null) => (on = name === null ? LOCAL : CONNECTING)),
    pickFile: vi.fn(async () => null),
    onFileDrop: vi.fn(async () => () => undefined),
    onOpenCodes: vi.fn(async () => () => undefined),
  };
  return {
    ...backend,
    backend: backend as unknown as Backend,
    push: (v: ConnectionsView) => {
      on = v;
      act(() => push(v));
    },
  };
}

describe("App on a remote connection", () => {
  it("switches from the header, says where it is, shows the remote's health, history, test send and switches, and switches back", async () => {
    const f = fakeBackend();
    render(<App backend={f.backend} />);
    const status = screen.getByTestId("connection-status");
    const switcher = screen.getByTestId("connection-switcher");
    await within(switcher).findByRole("option", { name: "prod" });
    expect(status).toHaveTextContent("This computer");
    // On this computer: test sends and toggles.
    const card = await screen.findByTestId("provider-twilio");
    expect(within(card).getByTestId("toggle-enabled")).toBeInTheDocument();
    expect(screen.getByTestId("test-send-submit")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("nav-codes")).toHaveTextContent("Codes1"));
    expect(f.healthSnapshot).toHaveBeenCalledTimes(1);

    expect(within(card).getByTestId("counts")).toHaveTextContent("3 / 1");

    await userEvent.selectOptions(switcher, "prod");
    expect(f.useConnection).toHaveBeenCalledWith("prod");
    await waitFor(() => expect(status).toHaveTextContent("Connecting to prod…"));
    expect(switcher).toHaveValue("prod");
    expect(document.title).toBe("msgops — prod");
    // Everything on the dashboard is read again, from prod.
    await waitFor(() => expect(screen.getByTestId("nav-codes")).toHaveTextContent("Codes2"));
    expect(f.healthSnapshot).toHaveBeenCalledTimes(2);
    await waitFor(() => expect(within(screen.getByTestId("provider-twilio")).getByTestId("counts")).toHaveTextContent("7 / 1"));

    // Its events followed: the health once more, and the codes (what was read while
    // connecting may have failed).
    f.push(CONNECTED);
    expect(status).toHaveTextContent("prod — connected to backend-1.example.com:8443");
    await waitFor(() => expect(f.healthSnapshot).toHaveBeenCalledTimes(3));
    expect(f.logSnapshot).toHaveBeenCalledTimes(3);
    const remoteCard = await screen.findByTestId("provider-twilio");
    await waitFor(() => expect(screen.getByTestId("nav-codes")).toHaveTextContent("Codes2"));
    // Remote: the switches and the test send are the remote service's; a test goes through its
    // whole chain.
    await userEvent.click(within(remoteCard).getByTestId("toggle-enabled"));
    expect(f.setProviderEnabled).toHaveBeenCalledWith("twilio", false);
    expect(screen.getByRole("heading", { name: "Test send on prod" })).toBeInTheDocument();
    const through = screen.getByTestId("test-send-provider");
    expect(within(through).getAllByRole("option").map((o) => o.textContent)).toEqual(["the whole chain"]);
    await userEvent.click(screen.getByTestId("test-send-submit"));
    expect(f.sendTest).toHaveBeenCalledWith({ channel: "sms", to: "+14165550123" });
    // The remote service's own counters, not this computer's history of today.
    expect(within(remoteCard).getByTestId("counts")).toHaveTextContent("7 / 1");
    await userEvent.click(within(remoteCard).getByTestId("control-probe"));
    expect(f.controlProvider).toHaveBeenCalledWith("twilio", "probe");
    expect(screen.getByRole("heading", { name: "This computer's on-call operations" })).toBeInTheDocument();

    // The history is prod's; the pages that only know this computer say so.
    await userEvent.click(screen.getByTestId("nav-history"));
    expect(await screen.findByRole("heading", { name: "Sends and cost on prod" })).toBeInTheDocument();
    expect(screen.getByRole("heading", { name: "Sends on prod" })).toBeInTheDocument();
    expect(screen.queryByTestId("local-only-note")).not.toBeInTheDocument();
    await userEvent.click(screen.getByTestId("nav-credentials"));
    expect(screen.getByTestId("local-only-note")).toHaveTextContent("The window is on prod, but this page shows this computer's credentials, not prod's.");
    expect(screen.getByRole("heading", { name: "This computer's credentials" })).toBeInTheDocument();
    await userEvent.click(screen.getByTestId("nav-codes"));
    expect(screen.queryByTestId("local-only-note")).not.toBeInTheDocument();
    // The header says it on every page.
    expect(status).toHaveTextContent("prod — connected");

    // Lost: said with the reason and the retry; the same service connected again: health read again.
    const asked = f.healthSnapshot.mock.calls.length;
    f.push(view("prod", { state: "disconnected", reason: "connection reset by peer", retry_in_ms: 2000 }));
    expect(status).toHaveTextContent("prod — disconnected: connection reset by peer, retrying in 2 s");
    f.push(view("prod", { state: "connected", since: "2025-10-29T16:40:00Z" }));
    await waitFor(() => expect(f.healthSnapshot).toHaveBeenCalledTimes(asked + 1));
    // Its events are replayed across the gap: the codes are not read again.
    expect(f.logSnapshot).toHaveBeenCalledTimes(3);

    // Back to this computer.
    await userEvent.click(screen.getByTestId("nav-dashboard"));
    await userEvent.selectOptions(switcher, "This computer");
    expect(f.useConnection).toHaveBeenLastCalledWith(null);
    await waitFor(() => expect(status).toHaveTextContent("This computer"));
    expect(document.title).toBe("msgops");
    expect(await screen.findByTestId("test-send-submit")).toBeInTheDocument();
    expect(within(await screen.findByTestId("provider-twilio")).getByTestId("toggle-enabled")).toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("nav-codes")).toHaveTextContent("Codes1"));
    expect(f.healthSnapshot).toHaveBeenCalledTimes(asked + 2);
    expect(f.logSnapshot).toHaveBeenCalledTimes(4);
    expect(within(screen.getByTestId("provider-twilio")).getByTestId("counts")).toHaveTextContent("3 / 1");
  });

  it("a switch the backend refuses is shown in the header's banner", async () => {
    const f = fakeBackend();
    f.useConnection.mockRejectedValueOnce({ code: "NotFound", message: "no connection prod" });
    render(<App backend={f.backend} />);
    const switcher = screen.getByTestId("connection-switcher");
    await within(switcher).findByRole("option", { name: "prod" });
    await userEvent.selectOptions(switcher, "prod");
    expect(await screen.findByTestId("connection-switch-error")).toHaveTextContent("no connection prod");
    await waitFor(() => expect(switcher).toHaveValue(""));
    expect(screen.getByTestId("connection-status")).toHaveTextContent("This computer");
  });

  it("opened while a remote connection is lost: says so instead of loading forever, and loads once connected", async () => {
    const f = fakeBackend();
    const lost = view("prod", { state: "disconnected", reason: "connection refused", retry_in_ms: 5000 });
    f.connections.mockResolvedValue(lost);
    f.healthSnapshot.mockRejectedValueOnce({ code: "RemoteUnreachable", message: "prod is not connected" });
    render(<App backend={f.backend} />);
    expect(await screen.findByTestId("health-waiting")).toHaveTextContent("No provider health from prod yet: connection refused.");
    expect(screen.getByTestId("health-error")).toHaveTextContent("Provider health from prod not read: prod is not connected");
    f.push(CONNECTED);
    expect(await screen.findByTestId("provider-twilio")).toBeInTheDocument();
    expect(screen.queryByTestId("health-error")).not.toBeInTheDocument();
    await waitFor(() => expect(screen.getByTestId("nav-codes")).toHaveTextContent("Codes2"));
  });
});
