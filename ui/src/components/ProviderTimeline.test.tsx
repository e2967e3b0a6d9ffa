import { render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Backend } from "../api/backend";
import type { ProviderTimelines } from "../bindings/ProviderTimelines";
import { ProviderTimelineStrip, describeSpan } from "./ProviderTimeline";

const since = "2026-12-01T12:00:00Z";
const until = "2026-12-02T12:00:00Z";
const app = { kind: "app" as const, host: "ops-laptop", pid: 1 };
const timelines: ProviderTimelines = {
  since,
  until,
  providers: [
    {
      provider: "sns",
      channel: "sms",
      instance: app,
      spans: [
        { state: "CLOSED", from: since, until: "2026-12-02T06:00:00Z", reason: "msgops started", failed_over: 0, probes_ok: 0, probes_failed: 0 },
        { state: "OPEN", from: "2026-12-02T06:00:00Z", until: "2026-12-02T12:00:00Z", reason: "5 consecutive failures", failed_over: 12, probes_ok: 0, probes_failed: 2 },
      ],
      availability_percent: 75,
      failed_over_while_open: 12,
    },
    {
      provider: "sendgrid",
      channel: "email",
      instance: { kind: "service", host: "backend-1", pid: 7 },
      spans: [{ state: "DISABLED", from: since, until, reason: "disabled in the configuration", failed_over: 0, probes_ok: 0, probes_failed: 0 }],
      availability_percent: null,
      failed_over_while_open: 0,
    },
  ],
};

function backend(answer: () => Promise<ProviderTimelines>) {
  const providerTimeline = vi.fn(answer);
  return { providerTimeline, backend: { providerTimeline } as unknown as Backend };
}

describe("ProviderTimelineStrip", () => {
  it("draws each provider's spans to scale, says availability and what failed over, and switches to 7 days", async () => {
    const f = backend(async () => timelines);
    render(<ProviderTimelineStrip backend={f.backend} pollMs={60_000} />);
    const sns = await screen.findByTestId("timeline-sns");
    expect(within(sns).getByTestId("availability")).toHaveTextContent("75.0% available · 1 outage, 12 failed over");
    const spans = sns.querySelectorAll<HTMLElement>(".timeline-span");
    expect([...spans].map((s) => [s.dataset.state, s.style.left, s.style.width])).toEqual([
      ["CLOSED", "0%", "75%"],
      ["OPEN", "75%", "25%"],
    ]);
    // In words too, for screen readers and the tooltip.
    expect(within(sns).getByRole("img").getAttribute("aria-label")).toMatch(/open .*5 consecutive failures; 12 sends failed over; 2 failed probes/);
    const sendgrid = screen.getByTestId("timeline-sendgrid");
    expect(sendgrid).toHaveTextContent("msgops serve on backend-1");
    expect(within(sendgrid).getByTestId("availability")).toHaveTextContent("disabled");
    expect(f.providerTimeline).toHaveBeenLastCalledWith(24);
    await userEvent.selectOptions(screen.getByTestId("timeline-window"), "168");
    await waitFor(() => expect(f.providerTimeline).toHaveBeenLastCalledWith(168));
  });

  it("says why when the states cannot be read", async () => {
    const f = backend(async () => {
      throw { code: "Io", message: "cannot read the send history: disk I/O error" };
    });
    render(<ProviderTimelineStrip backend={f.backend} pollMs={60_000} />);
    expect(await screen.findByTestId("timeline-error")).toHaveTextContent("disk I/O error");
  });

  it("describes a span with its reason and counts", () => {
    const text = describeSpan(timelines.providers[0].spans[1]);
    expect(text).toMatch(/^open .+–.+: 5 consecutive failures; 12 sends failed over; 2 failed probes$/);
  });
});
