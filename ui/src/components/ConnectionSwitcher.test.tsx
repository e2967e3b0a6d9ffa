import { act, render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { ConnectionsView } from "../bindings/ConnectionsView";
import type { RemoteStatus } from "../bindings/RemoteStatus";
import { ConnectionSwitcher, connectionStatusText } from "./ConnectionSwitcher";

const connections: ConnectionsView["connections"] = [
  { name: "prod", url: "https://backend-1.example.com:8443", fingerprint: "AB:CD:EF:01:23", has_token: true },
  { name: "staging", url: "http://127.0.0.1:8787", fingerprint: null, has_token: true },
];
const view = (active: string | null, status: RemoteStatus): ConnectionsView => ({ revision: 0, active, connections, status });

describe("connectionStatusText", () => {
  it("says which connection and how it is doing, in words", () => {
    expect(connectionStatusText(null)).toBe("This computer");
    expect(connectionStatusText(view(null, { state: "local" }))).toBe("This computer");
    expect(connectionStatusText(view("prod", { state: "connecting" }))).toBe("Connecting to prod…");
    expect(connectionStatusText(view("prod", { state: "connected", since: "2025-10-29T16:34:53Z" }))).toBe("prod — connected to backend-1.example.com:8443");
    expect(connectionStatusText(view("staging", { state: "connected", since: "2025-10-29T16:34:53Z" }))).toBe("staging — connected to 127.0.0.1:8787");
    expect(connectionStatusText(view("prod", { state: "disconnected", reason: "connection refused", retry_in_ms: 4200 }))).toBe(
      "prod — disconnected: connection refused, retrying in 5 s",
    );
    expect(connectionStatusText(view("prod", { state: "disconnected", reason: "connection refused", retry_in_ms: 4200 }), 0)).toBe(
      "prod — disconnected: connection refused, retrying now",
    );
  });
});

describe("ConnectionSwitcher", () => {
  afterEach(() => vi.useRealTimers());

  it("lists This computer and every remote by name; one choice switches", async () => {
    const onUse = vi.fn(async () => undefined);
    render(<ConnectionSwitcher view={view(null, { state: "local" })} onUse={onUse} />);
    const select = screen.getByTestId("connection-switcher");
    expect(screen.getByLabelText("Connection")).toBe(select);
    expect([...select.querySelectorAll("option")].map((o) => o.textContent)).toEqual(["This computer", "prod", "staging"]);
    expect(select).toHaveValue("");
    expect(screen.getByTestId("connection-status")).toHaveTextContent("This computer");

    await userEvent.selectOptions(select, "prod");
    expect(onUse).toHaveBeenCalledWith("prod");
    await userEvent.selectOptions(select, "This computer");
    expect(onUse).toHaveBeenLastCalledWith(null);
  });

  it("follows the states it is given: connecting, connected with the host, disconnected counting down to the retry", () => {
    vi.useFakeTimers();
    const onUse = vi.fn(async () => undefined);
    const { rerender } = render(<ConnectionSwitcher view={view("prod", { state: "connecting" })} onUse={onUse} />);
    const status = screen.getByTestId("connection-status");
    expect(screen.getByTestId("connection-switcher")).toHaveValue("prod");
    expect(status).toHaveTextContent("Connecting to prod…");
    expect(status).toHaveAttribute("data-state", "connecting");

    rerender(<ConnectionSwitcher view={view("prod", { state: "connected", since: "2025-10-29T16:34:53Z" })} onUse={onUse} />);
    expect(status).toHaveTextContent("prod — connected to backend-1.example.com:8443");
    expect(status).toHaveAttribute("title", expect.stringMatching(/^Connected since /));

    rerender(<ConnectionSwitcher view={view("prod", { state: "disconnected", reason: "TLS handshake failed", retry_in_ms: 3000 })} onUse={onUse} />);
    expect(status).toHaveTextContent("prod — disconnected: TLS handshake failed, retrying in 3 s");
    act(() => vi.advanceTimersByTime(1100));
    expect(status).toHaveTextContent("retrying in 2 s");
    act(() => vi.advanceTimersByTime(2000));
    expect(status).toHaveTextContent("prod — disconnected: TLS handshake failed, retrying now");
    // The live region says the change once, not every second of the countdown.
    expect(screen.getByRole("status")).toHaveTextContent("prod — disconnected: TLS handshake failed, retrying in 3 s");
  });
});
