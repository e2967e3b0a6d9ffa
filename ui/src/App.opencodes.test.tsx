// The backend puts the window on the Codes page: a code's notification clicked (that code,
// searched by its number and marked), or the global shortcut (the search focused).
import { act, render, screen, waitFor, within } from "@testing-library/react";
import { describe, expect, it, vi } from "vitest";
import type { Backend } from "./api/backend";
import type { LogSnapshot } from "./bindings/LogSnapshot";
import type { OpenCodes } from "./bindings/OpenCodes";
import { App } from "./App";
import { Codes } from "./components/Codes";

const code = (recipient: string, value: string, line: number) => ({
  recipient,
  candidates: [],
  code: value,
  logged_at: null,
  created_at: new Date().toISOString(),
  expires_at: new Date(Date.now() + 300_000).toISOString(),
  time: "logged" as const,
  expired: false,
  source: "sms_fallback" as const,
  file: "/var/log/backend.log",
  line,
});

function fakeBackend() {
  let open: (o: OpenCodes) => void = () => undefined;
  const never = () => new Promise<never>(() => undefined);
  const backend = {
    healthSnapshot: vi.fn(never),
    appStatus: vi.fn(async () => ({ version: "0.1.0", config_path: "/home/op/.config/msgops/config.toml", config_error: null, console_log: "/tmp/console.log" })),
    keychainHealth: vi.fn(async () => ({ ok: true, message: "" })),
    onChainEvent: vi.fn(async () => () => undefined),
    onDeliveryReports: vi.fn(async () => () => undefined),
    onLogEvent: vi.fn(async () => () => undefined),
    onLogReset: vi.fn(async () => () => undefined),
    logSnapshot: vi.fn(
      async (): Promise<LogSnapshot> => ({
        codes: [code("+14165550123", "111111", 1), code("+14165550199", "222222", 2), code("+14165550123", "333333", 3)],
        diagnostics: [],
        files: ["/var/log/backend.log"],
        clocks: [],
      }),
    ),
    sendHistory: vi.fn(async () => ({ total: 0, sends: [], deliveries: [] })),
    historySummary: vi.fn(never),
    providerTimeline: vi.fn(never),
    getSettings: vi.fn(never),
    operationsAudit: vi.fn(async () => []),
    connections: vi.fn(async () => ({ revision: 0, active: null, connections: [], status: { state: "local" } })),
    onConnection: vi.fn(async () => () => undefined),
    pickFile: vi.fn(async () => null),
    onFileDrop: vi.fn(async () => () => undefined),
    onOpenCodes: vi.fn(async (handler: (o: OpenCodes) => void) => {
      open = handler;
      return () => {
        open = () => undefined;
      };
    }),
  };
  return { backend: backend as unknown as Backend, open: (o: OpenCodes) => act(() => open(o)) };
}

describe("the window opened on the Codes page by the backend", () => {
  it("shows the code whose notification was clicked: its number searched, its row marked", async () => {
    const f = fakeBackend();
    render(<App backend={f.backend} />);
    await waitFor(() => expect(screen.getByTestId("nav-dashboard")).toHaveAttribute("aria-current", "page"));
    await waitFor(() => expect(screen.getByTestId("nav-codes")).toHaveTextContent("3"));
    f.open({ code: "333333", recipient: "+14165550123" });
    await waitFor(() => expect(screen.getByTestId("nav-codes")).toHaveAttribute("aria-current", "page"));
    expect(screen.getByTestId("codes-search")).toHaveValue("+14165550123");
    await waitFor(() => expect(screen.getByTestId("codes-count")).toHaveTextContent("2 matches"));
  });

  it("marks the row of the code asked for, and only it", () => {
    const codes = [code("+14165550123", "111111", 1), code("+14165550199", "222222", 2), code("+14165550123", "333333", 3)];
    const { rerender } = render(<Codes codes={codes} files={["/var/log/backend.log"]} clocks={[]} initialRect={{ width: 900, height: 600 }} />);
    expect(screen.getAllByTestId("code-row").filter((r) => r.dataset.selected === "true")).toHaveLength(0);
    rerender(<Codes codes={codes} files={["/var/log/backend.log"]} clocks={[]} initialRect={{ width: 900, height: 600 }} show={{ code: "333333", recipient: "+14165550123", n: 1 }} />);
    expect(screen.getByTestId("codes-search")).toHaveValue("+14165550123");
    const rows = screen.getAllByTestId("code-row");
    expect(rows).toHaveLength(2);
    const marked = rows.filter((r) => r.dataset.selected === "true");
    expect(marked).toHaveLength(1);
    expect(within(marked[0]).getByText("333333")).toBeInTheDocument();
    expect(marked[0]).toHaveAttribute("aria-current", "true");
  });

  it("the global shortcut opens the Codes page with its search focused", async () => {
    const f = fakeBackend();
    render(<App backend={f.backend} />);
    await waitFor(() => expect(f.backend.onOpenCodes).toHaveBeenCalled());
    f.open({ code: null, recipient: null });
    await waitFor(() => expect(screen.getByTestId("nav-codes")).toHaveAttribute("aria-current", "page"));
    await waitFor(() => expect(screen.getByTestId("codes-search")).toHaveFocus());
    expect(screen.getByTestId("codes-search")).toHaveValue("");
  });
});
