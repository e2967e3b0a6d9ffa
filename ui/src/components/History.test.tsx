import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Backend } from "../api/backend";
import type { ChainEvent } from "../bindings/ChainEvent";
import type { HistoryFilter } from "../bindings/HistoryFilter";
import type { HistoryPage } from "../bindings/HistoryPage";
import type { HistorySummary } from "../bindings/HistorySummary";
import type { RecordedSend } from "../bindings/RecordedSend";
import { costDays } from "./CostChart";
import { History } from "./History";

const failedOver: RecordedSend = {
  origin: { kind: "app", host: "ops-laptop", pid: 812 },
  channel: "sms",
  recipient: "+14165550123",
  started_at: "2026-11-23T12:00:00Z",
  duration_ms: 412,
  outcome: {
    status: "delivered",
    provider: "console",
    attempts: [
      { provider: "twilio", outcome: "failed", latency_ms: 380, error_kind: "authentication", error: "Authenticate", provider_code: 20003, cost_usd: 0, provider_message_id: null },
      { provider: "console", outcome: "delivered", latency_ms: 2, error_kind: null, error: null, provider_code: null, cost_usd: 0, provider_message_id: null },
    ],
    skipped: [{ provider: "sns", reason: "breaker_open" }],
  },
};

/** Delivered by SES for `msgops serve` on ops-box, with SES's receipt. */
const fromService: RecordedSend = {
  origin: { kind: "service", host: "ops-box", pid: 4242 },
  channel: "email",
  recipient: "ops@example.com",
  started_at: "2026-11-23T12:05:00Z",
  duration_ms: 95,
  outcome: {
    status: "delivered",
    provider: "ses",
    attempts: [
      {
        provider: "ses",
        outcome: "delivered",
        latency_ms: 95,
        error_kind: null,
        error: null,
        provider_code: null,
        cost_usd: 0.0001,
        provider_message_id: "0100018f2a3b4c5d-9e8f0000-0000-0000-0000-000000000000-000000",
      },
    ],
    skipped: [],
  },
};

function sendAt(i: number): RecordedSend {
  return {
    origin: { kind: "app", host: null, pid: null },
    channel: "email",
    recipient: `user${i}@example.com`,
    started_at: new Date(Date.UTC(2026, 10, 23, 12, 0, 0) - i * 60_000).toISOString(),
    duration_ms: 90,
    outcome: {
      status: "delivered",
      provider: "ses",
      attempts: [{ provider: "ses", outcome: "delivered", latency_ms: 90, error_kind: null, error: null, provider_code: null, cost_usd: 0.0001, provider_message_id: null }],
      skipped: [],
    },
  };
}

const summary: HistorySummary = {
  since: "2026-10-25",
  days: 30,
  sends: 1234,
  delivered: 1200,
  failed: 34,
  failed_over: 15,
  total_cost_usd: 12.5,
  cost_per_day: [
    { day: "2026-11-20", provider: "sns", cost_usd: 0.0079, delivered: 1, failed: 0 },
    { day: "2026-11-20", provider: "twilio", cost_usd: 0.0158, delivered: 2, failed: 1 },
    { day: "2026-11-23", provider: "ses", cost_usd: 0.0004, delivered: 4, failed: 0 },
  ],
  failover_routes: [
    { from: "sns", to: "twilio", count: 12 },
    { from: "ses", to: "sendgrid", count: 3 },
  ],
};

/** A history of `total` sends, paged as the backend pages it. */
function fakeBackend({ total = 1, sends = [failedOver] as RecordedSend[] } = {}) {
  let onEvent: ((e: ChainEvent) => void) | null = null;
  const sendHistory = vi.fn(async (filter: HistoryFilter): Promise<HistoryPage> => {
    const offset = filter.offset ?? 0;
    const all = total === sends.length ? sends : Array.from({ length: total }, (_, i) => sendAt(i));
    return { total, sends: all.slice(offset, offset + (filter.limit ?? 100)) };
  });
  const historySummary = vi.fn(async (days: number): Promise<HistorySummary> => ({ ...summary, days }));
  const backend = {
    sendHistory,
    historySummary,
    onChainEvent: vi.fn(async (handler: (e: ChainEvent) => void) => {
      onEvent = handler;
      return () => {
        onEvent = null;
      };
    }),
  };
  return {
    backend: backend as unknown as Backend,
    sendHistory,
    historySummary,
    emit: (e: ChainEvent) => act(() => onEvent?.(e)),
  };
}

const lastFilter = (f: ReturnType<typeof fakeBackend>) => f.sendHistory.mock.lastCall?.[0];
/** For the tests that count requests: no poll comes between. */
const NO_POLL = 3_600_000;

describe("History", () => {
  it("shows the totals and the failover routes of the window, and asks again when the window changes", async () => {
    const f = fakeBackend();
    render(<History backend={f.backend} />);
    const strip = await screen.findByTestId("history-summary");
    expect(strip).toHaveTextContent("Sends1,234");
    expect(strip).toHaveTextContent("Delivered1,200");
    expect(strip).toHaveTextContent("Failed34");
    expect(strip).toHaveTextContent("Failed over15");
    expect(strip).toHaveTextContent("Total cost$12.50");
    const routes = within(screen.getByTestId("failover-routes")).getAllByRole("listitem");
    expect(routes.map((r) => r.textContent)).toEqual(["AWS SNS → Twilio: 12", "AWS SES → SendGrid: 3"]);
    expect(f.historySummary).toHaveBeenLastCalledWith(30);

    await userEvent.selectOptions(screen.getByLabelText("Window"), "7");
    expect(f.historySummary).toHaveBeenLastCalledWith(7);
  });

  it("gives the chart a name and the same per-day costs as a table", async () => {
    const f = fakeBackend();
    render(<History backend={f.backend} />);
    expect(await screen.findByRole("figure", { name: "Cost per provider per day over the last 30 days, in USD" })).toBeInTheDocument();
    await userEvent.click(screen.getByText("Show as table"));
    const table = screen.getByRole("table", { name: /Cost per provider per day/ });
    const rows = within(table).getAllByRole("row");
    expect(within(rows[0]).getAllByRole("columnheader").map((c) => c.textContent)).toEqual(["Day", "AWS SNS", "Twilio", "AWS SES", "Total"]);
    expect(rows.slice(1).map((r) => [...r.children].map((c) => c.textContent))).toEqual([
      ["2026-11-20", "$0.00790", "$0.02", "$0", "$0.02"],
      ["2026-11-23", "$0", "$0", "$0.00040", "$0.00040"],
    ]);
  });

  it("fills every day of the window, with zero where a provider did nothing", () => {
    const days = costDays("2026-11-17", 7, summary.cost_per_day);
    expect(days.map((d) => d.day)).toEqual(["2026-11-17", "2026-11-18", "2026-11-19", "2026-11-20", "2026-11-21", "2026-11-22", "2026-11-23"]);
    expect(days[0]).toEqual({ day: "2026-11-17", cost: {}, total: 0 });
    expect(days[3].cost).toEqual({ sns: 0.0079, twilio: 0.0158 });
    expect(days[6].total).toBeCloseTo(0.0004);
  });

  it("narrows the sends by channel, provider, outcome, origin and recipient or receipt, back on the first page each time", async () => {
    const f = fakeBackend();
    // Many matches, one row shown: the filter is what matters here.
    f.sendHistory.mockImplementation(async () => ({ total: 250, sends: [failedOver] }));
    render(<History backend={f.backend} pollMs={NO_POLL} />);
    await screen.findByText("1–1 of 250");
    expect(lastFilter(f)).toEqual({ limit: 100, offset: 0 });

    await userEvent.click(screen.getByRole("button", { name: "Older" }));
    await screen.findByText("101–101 of 250");
    await userEvent.selectOptions(screen.getByLabelText("Channel"), "sms");
    expect(lastFilter(f)).toEqual({ channel: "sms", limit: 100, offset: 0 });

    // Only the SMS chain is offered once the channel is SMS.
    expect(within(screen.getByLabelText("Provider")).getAllByRole("option").map((o) => o.textContent)).toEqual([
      "Any provider",
      "AWS SNS",
      "Twilio",
      "Console",
    ]);
    await userEvent.selectOptions(screen.getByLabelText("Provider"), "twilio");
    expect(lastFilter(f)).toEqual({ channel: "sms", provider: "twilio", limit: 100, offset: 0 });

    await userEvent.selectOptions(screen.getByLabelText("Outcome"), "failed_over");
    expect(lastFilter(f)).toEqual({ channel: "sms", provider: "twilio", outcome: "failed_over", limit: 100, offset: 0 });

    await userEvent.click(screen.getByRole("button", { name: "Older" }));
    await waitFor(() => expect(lastFilter(f)?.offset).toBe(100));
    const calls = f.sendHistory.mock.calls.length;
    await userEvent.type(screen.getByLabelText("Recipient or receipt"), "(416) 555");
    // Debounced: one request once typing pauses, not one per key.
    await waitFor(() => expect(lastFilter(f)).toEqual({ channel: "sms", provider: "twilio", outcome: "failed_over", search: "(416) 555", limit: 100, offset: 0 }));
    expect(f.sendHistory.mock.calls.length).toBe(calls + 1);

    // Switching to email drops a provider that is not in the email chain.
    await userEvent.selectOptions(screen.getByLabelText("Channel"), "email");
    expect(lastFilter(f)).toEqual({ channel: "email", outcome: "failed_over", search: "(416) 555", limit: 100, offset: 0 });

    expect(within(screen.getByLabelText("Origin")).getAllByRole("option").map((o) => o.textContent)).toEqual([
      "Any origin",
      "This app",
      "msgops serve",
    ]);
    await userEvent.selectOptions(screen.getByLabelText("Origin"), "service");
    expect(lastFilter(f)).toEqual({ channel: "email", outcome: "failed_over", origin: "service", search: "(416) 555", limit: 100, offset: 0 });
    await userEvent.selectOptions(screen.getByLabelText("Origin"), "");
    expect(lastFilter(f)).toEqual({ channel: "email", outcome: "failed_over", search: "(416) 555", limit: 100, offset: 0 });
  });

  it("searches receipts too: a provider's message id pasted into the search box asks for it", async () => {
    const f = fakeBackend();
    render(<History backend={f.backend} />);
    await screen.findByText("1–1 of 1");
    await userEvent.type(screen.getByLabelText("Recipient or receipt"), "0100018f2a3b");
    await waitFor(() => expect(lastFilter(f)).toEqual({ search: "0100018f2a3b", limit: 100, offset: 0 }));
  });

  it("marks the service's sends, says which process made each, and shows the receipt of the delivery", async () => {
    const f = fakeBackend({ total: 2, sends: [fromService, failedOver] });
    render(<History backend={f.backend} />);
    const serviceToggle = await screen.findByRole("button", { name: /Attempts for the send to ops@example\.com/ });
    const serviceRow = serviceToggle.closest("tr")!;
    const badge = within(serviceRow).getByText("service");
    expect(badge).toHaveClass("badge");
    expect(badge).toHaveAttribute("title", "Sent by msgops serve on ops-box (process 4242)");
    const appRow = screen.getByRole("button", { name: /Attempts for the send to \+14165550123/ }).closest("tr")!;
    expect(within(appRow).queryByText("service")).not.toBeInTheDocument();

    await userEvent.click(serviceToggle);
    const timeline = screen.getByRole("list", { name: "Attempts" });
    const [delivered] = within(timeline).getAllByRole("listitem");
    expect(delivered).toHaveTextContent("AWS SESdelivered");
    expect(delivered).toHaveTextContent("receipt 0100018f2a3b4c5d-9e8f0000-0000-0000-0000-000000000000-000000");
    expect(timeline.closest("td")).toHaveTextContent("Sent by msgops serve on ops-box (process 4242)");
  });

  it("shows no receipt where the provider gave none, and the app as the origin of its own sends", async () => {
    const f = fakeBackend();
    render(<History backend={f.backend} />);
    await userEvent.click(await screen.findByRole("button", { name: /Attempts for the send to \+14165550123/ }));
    const timeline = screen.getByRole("list", { name: "Attempts" });
    expect(timeline).not.toHaveTextContent("receipt");
    expect(timeline.closest("td")).toHaveTextContent("Sent by the app on ops-laptop (process 812)");
  });

  it("asks again every little while when shown, for the sends other processes made", async () => {
    const f = fakeBackend();
    render(<History backend={f.backend} pollMs={40} />);
    await screen.findByText("1–1 of 1");
    const pages = f.sendHistory.mock.calls.length;
    const summaries = f.historySummary.mock.calls.length;
    await waitFor(() => expect(f.sendHistory.mock.calls.length).toBeGreaterThan(pages + 1));
    expect(f.historySummary.mock.calls.length).toBeGreaterThan(summaries);
  });

  it("pages through the sends with Newer and Older", async () => {
    const f = fakeBackend({ total: 1234 });
    render(<History backend={f.backend} />);
    await screen.findByText("1–100 of 1,234");
    const newer = screen.getByRole("button", { name: "Newer" });
    const older = screen.getByRole("button", { name: "Older" });
    expect(newer).toBeDisabled();
    await userEvent.click(older);
    expect(lastFilter(f)).toEqual({ limit: 100, offset: 100 });
    await screen.findByText("101–200 of 1,234");
    expect(within(screen.getByRole("table", { name: "Sends" })).getAllByRole("row").length).toBe(101);
    await userEvent.click(newer);
    expect(lastFilter(f)).toEqual({ limit: 100, offset: 0 });
    await screen.findByText("1–100 of 1,234");
  });

  it("shows each send's outcome and, expanded, its attempts and the providers skipped", async () => {
    const f = fakeBackend();
    render(<History backend={f.backend} />);
    const toggle = await screen.findByRole("button", { name: /Attempts for the send to \+14165550123/ });
    const row = toggle.closest("tr")!;
    expect(row).toHaveTextContent("Delivered by Console");
    expect(within(row).getByText("failed over")).toBeInTheDocument();
    expect(row).toHaveTextContent("412 ms");
    expect(toggle).toHaveAttribute("aria-expanded", "false");
    expect(screen.queryByRole("list", { name: "Attempts" })).not.toBeInTheDocument();

    await userEvent.click(toggle);
    expect(toggle).toHaveAttribute("aria-expanded", "true");
    const timeline = screen.getByRole("list", { name: "Attempts" });
    expect(toggle.getAttribute("aria-controls")).toBe(timeline.closest("tr")!.id);
    const steps = within(timeline).getAllByRole("listitem").map((li) => li.textContent);
    expect(steps[0]).toBe("AWS SNSskipped: breaker open");
    expect(steps[1]).toContain("Twilio");
    expect(steps[1]).toContain("Authentication failed");
    expect(steps[1]).toContain("Authenticate");
    expect(steps[1]).toContain("provider code 20003");
    expect(steps[2]).toContain("Consoledelivered");

    await userEvent.click(toggle);
    expect(screen.queryByRole("list", { name: "Attempts" })).not.toBeInTheDocument();
  });

  it("fetches the page and the summary again when a send finishes, not on other events", async () => {
    const f = fakeBackend();
    render(<History backend={f.backend} pollMs={NO_POLL} />);
    await screen.findByTestId("history-summary");
    await screen.findByText("1–1 of 1");
    const pages = f.sendHistory.mock.calls.length;
    const summaries = f.historySummary.mock.calls.length;

    f.emit({ kind: "provider_changed", channel: "sms", provider: "twilio", reason: "disabled" });
    expect(f.sendHistory).toHaveBeenCalledTimes(pages);

    f.emit({ kind: "send_finished", record: failedOver });
    await waitFor(() => expect(f.sendHistory).toHaveBeenCalledTimes(pages + 1));
    expect(f.historySummary).toHaveBeenCalledTimes(summaries + 1);
  });

  it("says when there are no sends yet, and when none match", async () => {
    const f = fakeBackend({ total: 0, sends: [] });
    render(<History backend={f.backend} />);
    expect(await screen.findByTestId("sends-empty")).toHaveTextContent("No sends yet — use Test send on the Dashboard");
    await userEvent.selectOptions(screen.getByLabelText("Outcome"), "failed");
    await waitFor(() => expect(screen.getByTestId("sends-empty")).toHaveTextContent("No sends match these filters."));
  });

  it("shows the backend's message when the history cannot be read", async () => {
    const f = fakeBackend();
    f.sendHistory.mockRejectedValue({ code: "Io", message: "history.jsonl: permission denied" });
    f.historySummary.mockRejectedValue({ code: "Io", message: "history.jsonl: permission denied" });
    render(<History backend={f.backend} />);
    const alerts = await screen.findAllByRole("alert");
    expect(alerts.map((a) => a.textContent)).toEqual([
      "Could not load the summary: history.jsonl: permission denied",
      "Could not load the sends: history.jsonl: permission denied",
    ]);
  });
});
