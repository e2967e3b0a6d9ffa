import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { ProviderDeliveryRate } from "../bindings/ProviderDeliveryRate";
import type { ProviderHealth } from "../bindings/ProviderHealth";
import { ProviderCard } from "./ProviderCard";

const NOW = Date.parse("2026-11-23T12:00:00Z");

function twilio(overrides: Partial<ProviderHealth> = {}): ProviderHealth {
  return {
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
    sent: 12,
    failed: 1,
    cost_usd: 0.09,
    cost_per_message_usd: 0.0075,
    rate_per_second: 5,
    rate_available: 4,
    ...overrides,
  };
}

/** A delivery-rate row as it crosses the IPC. */
function rateRow(delivered: number, failed: number, pending: number, rate: number | null): ProviderDeliveryRate {
  return { provider: "twilio", delivered, failed, pending, rate };
}

describe("ProviderCard", () => {
  it("shows the delivered share of the last hour from the reports, and nothing without a row", () => {
    const { rerender } = render(<ProviderCard provider={twilio()} now={() => NOW} delivery={rateRow(23, 2, 1, 23 / 25)} deliveryWindowSecs={3600} />);
    const fact = screen.getByTestId("delivery-rate");
    expect(fact).toHaveTextContent(/^92 % \(23 of 25\)$/);
    expect(fact.closest("div")).toHaveTextContent(/^Delivered \(1 h\)/);
    expect(fact.closest("div")).not.toHaveClass("delivery-low");
    expect(fact).toHaveAttribute("title", "Over the last 1 h, from the provider's delivery reports: 23 delivered, 2 not delivered, 1 still pending");
    rerender(<ProviderCard provider={twilio()} now={() => NOW} />);
    expect(screen.queryByTestId("delivery-rate")).not.toBeInTheDocument();
    expect(screen.queryByText(/Delivered \(/)).not.toBeInTheDocument();
  });

  it("warns, in words too, when less than 80 % of the messages arrived", () => {
    const { rerender } = render(<ProviderCard provider={twilio()} now={() => NOW} delivery={rateRow(18, 7, 0, 0.72)} />);
    const fact = screen.getByTestId("delivery-rate");
    expect(fact).toHaveTextContent("⚠ 72 % (18 of 25) — below 80 %");
    expect(fact.closest("div")).toHaveClass("delivery-low");
    // 80 % itself is not below.
    rerender(<ProviderCard provider={twilio()} now={() => NOW} delivery={rateRow(20, 5, 0, 0.8)} />);
    expect(screen.getByTestId("delivery-rate")).toHaveTextContent(/^80 % \(20 of 25\)$/);
    expect(screen.getByTestId("delivery-rate").closest("div")).not.toHaveClass("delivery-low");
  });

  it("says when no report is final yet, and never rounds a loss up to 100 %", () => {
    const { rerender } = render(<ProviderCard provider={twilio()} now={() => NOW} delivery={rateRow(0, 0, 3, null)} />);
    expect(screen.getByTestId("delivery-rate")).toHaveTextContent(/^none final yet \(3 pending\)$/);
    expect(screen.getByTestId("delivery-rate").closest("div")).not.toHaveClass("delivery-low");
    rerender(<ProviderCard provider={twilio()} now={() => NOW} delivery={rateRow(999, 1, 0, 0.999)} />);
    expect(screen.getByTestId("delivery-rate")).toHaveTextContent(/^99 % \(999 of 1000\)$/);
  });

  it("shows until when the provider throttles us, its breaker still CLOSED", () => {
    const until = new Date(NOW + 30_000).toISOString();
    const { rerender } = render(<ProviderCard provider={twilio({ throttled_until: until })} now={() => NOW} />);
    expect(screen.getByTestId("breaker-state")).toHaveTextContent("✓ Closed");
    expect(screen.getByTestId("throttled")).toHaveTextContent(new Date(until).toLocaleTimeString());
    rerender(<ProviderCard provider={twilio({ throttled_until: null })} now={() => NOW} />);
    expect(screen.queryByTestId("throttled")).toBeNull();
  });

  it("offers the controls that make sense for the breaker's state, and runs them", async () => {
    const calls: string[] = [];
    const onControl = async (c: string) => {
      calls.push(c);
    };
    const { rerender } = render(<ProviderCard provider={twilio()} now={() => NOW} onControl={onControl} />);
    // CLOSED with no failures: nothing to reset or try, only a probe.
    expect(screen.queryByTestId("control-reset")).toBeNull();
    expect(screen.queryByTestId("control-trial")).toBeNull();
    await userEvent.click(screen.getByTestId("control-probe"));
    rerender(
      <ProviderCard
        provider={twilio({ breaker_state: "OPEN", is_healthy: false, consecutive_failures: 3, open_until: new Date(NOW + 60_000).toISOString() })}
        now={() => NOW}
        onControl={onControl}
      />,
    );
    await userEvent.click(screen.getByTestId("control-trial"));
    await userEvent.click(screen.getByTestId("control-reset"));
    expect(calls).toEqual(["probe", "trial", "reset"]);
    // A provider without credentials has no controls.
    rerender(<ProviderCard provider={twilio({ configured: false, is_healthy: false })} now={() => NOW} onControl={onControl} />);
    expect(screen.queryByTestId("control-probe")).toBeNull();
  });

  it("shows CLOSED with icon, word and failures against the threshold", () => {
    render(<ProviderCard provider={twilio({ consecutive_failures: 2 })} now={() => NOW} />);
    expect(screen.getByTestId("breaker-state")).toHaveTextContent("✓ Closed");
    expect(screen.getByTestId("failures")).toHaveTextContent("2 / 3");
    expect(screen.getByText("sending normally")).toBeInTheDocument();
    expect(screen.queryByTestId("countdown")).toBeNull();
  });

  it("shows OPEN with a countdown to the trial and the last error in plain words", () => {
    render(
      <ProviderCard
        provider={twilio({
          breaker_state: "OPEN",
          is_healthy: false,
          consecutive_failures: 3,
          open_until: new Date(NOW + 179_000).toISOString(),
          last_error: { kind: "authentication", message: "Authenticate", provider_code: 20003, at: new Date(NOW).toISOString() },
        })}
        now={() => NOW}
      />,
    );
    expect(screen.getByTestId("breaker-state")).toHaveTextContent("✕ Open");
    expect(screen.getByTestId("countdown")).toHaveTextContent("2:59");
    expect(screen.getByTestId("last-error")).toHaveTextContent("Authentication failed — Twilio 20003");
    expect(screen.getByTestId("provider-twilio")).toHaveAttribute("data-state", "OPEN");
  });

  it("shows HALF_OPEN as a trial", () => {
    render(<ProviderCard provider={twilio({ breaker_state: "HALF_OPEN", is_healthy: false })} now={() => NOW} />);
    expect(screen.getByTestId("breaker-state")).toHaveTextContent("◐ Half-open");
    expect(screen.getByText("next send is a trial")).toBeInTheDocument();
  });

  it("says when a provider has no credentials or is disabled", () => {
    const { rerender } = render(<ProviderCard provider={twilio({ configured: false, is_healthy: false })} now={() => NOW} />);
    expect(screen.getByText(/no credentials stored/)).toBeInTheDocument();
    expect(screen.getByTestId("breaker-state")).toHaveTextContent("○ Not configured");
    rerender(<ProviderCard provider={twilio({ enabled: false, is_healthy: false })} now={() => NOW} />);
    expect(screen.getByText(/left out of the chain/)).toBeInTheDocument();
    expect(screen.getByTestId("breaker-state")).toHaveTextContent("○ Disabled");
  });

  it("shows the console provider as having no breaker", () => {
    render(<ProviderCard provider={twilio({ id: "console", failure_threshold: 0, rate_per_second: 0 })} now={() => NOW} />);
    expect(screen.getByTestId("failures")).toHaveTextContent("no breaker");
    expect(screen.getByText("unlimited")).toBeInTheDocument();
  });

  it("shows a failed probe beside the breaker, which stays closed", () => {
    render(
      <ProviderCard
        provider={twilio({ last_probe: { ok: false, error_kind: "authentication", message: "Authenticate", at: new Date(NOW).toISOString() } })}
        now={() => NOW}
      />,
    );
    expect(screen.getByTestId("probe")).toHaveTextContent("Probe failed: Authenticate");
    expect(screen.getByTestId("breaker-state")).toHaveTextContent("Closed");
  });

  it("offers the fix when the provider refused its key, and only then", async () => {
    const fixed: string[] = [];
    const authFailure = twilio({
      last_error: { kind: "authentication", message: "HTTP 401: Authenticate", provider_code: 20003, at: "2026-11-23T11:59:00Z" },
    });
    const { rerender } = render(<ProviderCard provider={authFailure} now={() => NOW} onFix={() => fixed.push("twilio")} />);
    await userEvent.click(screen.getByRole("button", { name: "Rotate the Twilio key" }));
    expect(fixed).toEqual(["twilio"]);
    const outage = twilio({ last_error: { kind: "transient", message: "HTTP 503", provider_code: 503, at: "2026-11-23T11:59:00Z" } });
    rerender(<ProviderCard provider={outage} now={() => NOW} onFix={() => fixed.push("twilio")} />);
    expect(screen.queryByTestId("fix-credentials")).not.toBeInTheDocument();
  });

  it("counts today's sends from the history when given, else since start", () => {
    const { rerender } = render(<ProviderCard provider={twilio()} now={() => NOW} />);
    expect(screen.getByTestId("counts")).toHaveTextContent("12 / 1");
    rerender(<ProviderCard provider={twilio()} now={() => NOW} today={{ sent: 3, failed: 0, cost_usd: 0.0225 }} />);
    expect(screen.getByText("Sent / failed today")).toBeInTheDocument();
    expect(screen.getByTestId("counts")).toHaveTextContent("3 / 0");
    expect(screen.getByTestId("cost")).toHaveTextContent("$0.02");
  });
});
