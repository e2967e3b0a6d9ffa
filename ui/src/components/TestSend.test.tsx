import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Backend } from "../api/backend";
import type { TestSendResult } from "../bindings/TestSendResult";
import { TestSend } from "./TestSend";

const result: TestSendResult = {
  code: "091282",
  record: {
    channel: "sms",
    recipient: "+14165550123",
    started_at: "2026-11-23T12:00:00Z",
    duration_ms: 12,
    outcome: {
      status: "delivered",
      provider: "console",
      attempts: [
        { provider: "twilio", outcome: "failed", latency_ms: 8, error_kind: "authentication", error: "Authenticate", provider_code: 20003, cost_usd: 0, provider_message_id: null },
        { provider: "console", outcome: "delivered", latency_ms: 1, error_kind: null, error: null, provider_code: null, cost_usd: 0, provider_message_id: "console-1" },
      ],
      skipped: [{ provider: "sns", reason: "breaker_open" }],
    },
  },
};

describe("TestSend", () => {
  it("sends through one chosen provider and shows every attempt, then checks the code typed back", async () => {
    const sendTest = vi.fn().mockResolvedValue(result);
    render(<TestSend backend={{ sendTest } as unknown as Backend} providers={{ sms: ["sns", "twilio", "console"] }} />);
    await userEvent.selectOptions(screen.getByTestId("test-send-provider"), "twilio");
    await userEvent.click(screen.getByTestId("test-send-submit"));
    expect(sendTest).toHaveBeenCalledWith({ channel: "sms", to: "+14165550123", provider: "twilio" });
    const shown = await screen.findByTestId("send-result");
    expect(shown).toHaveTextContent("Delivered by Console");
    expect(shown).toHaveTextContent("Authentication failed");
    expect(shown).toHaveTextContent("skipped: breaker open");
    await userEvent.click(screen.getByLabelText("Digit 1 of 6"));
    await userEvent.paste("Your code is 091 282");
    expect(screen.getByTestId("code-check")).toHaveTextContent("Code matches");
  });
});
