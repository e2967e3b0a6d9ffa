import { act, render, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { Backend } from "../api/backend";
import type { ChainEvent } from "../bindings/ChainEvent";
import type { DeliveryRates } from "../bindings/DeliveryRates";
import type { DeliveryReport } from "../bindings/DeliveryReport";
import type { HistoryFilter } from "../bindings/HistoryFilter";
import type { HistoryPage } from "../bindings/HistoryPage";
import type { HistorySummary } from "../bindings/HistorySummary";
import type { MessageDelivery } from "../bindings/MessageDelivery";
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

const TWILIO_SID = "SM5f1e2d3c4b5a69788796a5b4c3d2e1f0";

/** Delivered by Twilio (SNS skipped), then reported undelivered by the carrier. */
const byTwilio: RecordedSend = {
  origin: { kind: "app", host: "ops-laptop", pid: 812 },
  channel: "sms",
  recipient: "+14165550188",
  started_at: "2026-11-23T12:10:00Z",
  duration_ms: 1_000,
  outcome: {
    status: "delivered",
    provider: "twilio",
    attempts: [
      { provider: "twilio", outcome: "delivered", latency_ms: 990, error_kind: null, error: null, provider_code: null, cost_usd: 0.0079, provider_message_id: TWILIO_SID },
    ],
    skipped: [{ provider: "sns", reason: "breaker_open" }],
  },
};

function report(fields: Partial<DeliveryReport> & Pick<DeliveryReport, "provider" | "provider_message_id" | "status" | "occurred_at">): DeliveryReport {
  return {
    meaning: null,
    error_code: null,
    detail: null,
    recipient: null,
    received_at: fields.occurred_at,
    source: fields.provider === "twilio" ? "twilio_webhook" : "sns_webhook",
    event_id: `${fields.provider_message_id}:${fields.status}`,
    ...fields,
  };
}

const twilioReport = (status: DeliveryReport["status"], occurred_at: string, more: Partial<DeliveryReport> = {}) =>
  report({ provider: "twilio", provider_message_id: TWILIO_SID, status, occurred_at, ...more });

const PHONE_UNREACHABLE = "the phone is unreachable: switched off or out of coverage";

/**
 * As Rust sends it: it ended undelivered (30003), a final status that outranks the late
 * "sent" report received after it.
 */
const undelivered: MessageDelivery = {
  provider: "twilio",
  provider_message_id: TWILIO_SID,
  status: "undelivered",
  fate: "failed",
  timeline: [
    twilioReport("queued", "2026-11-23T12:10:01Z"),
    twilioReport("undelivered", "2026-11-23T12:10:09Z", {
      error_code: "30003",
      meaning: PHONE_UNREACHABLE,
      detail: "Unreachable destination handset",
    }),
    twilioReport("sent", "2026-11-23T12:10:12Z"),
  ],
};

const sesDelivered: MessageDelivery = {
  provider: "ses",
  provider_message_id: fromService.outcome.attempts[0].provider_message_id!,
  status: "delivered",
  fate: "delivered",
  timeline: [
    report({ provider: "ses", provider_message_id: fromService.outcome.attempts[0].provider_message_id!, status: "accepted", occurred_at: "2026-11-23T12:05:00.100Z" }),
    report({ provider: "ses", provider_message_id: fromService.outcome.attempts[0].provider_message_id!, status: "delivered", occurred_at: "2026-11-23T12:05:02Z", detail: "250 2.0.0 OK" }),
  ],
};

/** "HH:MM:SS" of an instant in this computer's zone, as the page shows it. */
const clock = (instant: string) => {
  const d = new Date(instant);
  return [d.getHours(), d.getMinutes(), d.getSeconds()].map((n) => String(n).padStart(2, "0")).join(":");
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
function fakeBackend({ total = 1, sends = [failedOver] as RecordedSend[], deliveries = [] as MessageDelivery[] } = {}) {
  let onEvent: ((e: ChainEvent) => void) | null = null;
  let onReports: ((r: DeliveryRates) => void) | null = null;
  const sendHistory = vi.fn(async (filter: HistoryFilter): Promise<HistoryPage> => {
    const offset = filter.offset ?? 0;
    const all = total === sends.length ? sends : Array.from({ length: total }, (_, i) => sendAt(i));
    return { total, sends: all.slice(offset, offset + (filter.limit ?? 100)), deliveries };
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
    onDeliveryReports: vi.fn(async (handler: (r: DeliveryRates) => void) => {
      onReports = handler;
      return () => {
        onReports = null;
      };
    }),
  };
  return {
    backend: backend as unknown as Backend,
    sendHistory,
    historySummary,
    emit: (e: ChainEvent) => act(() => onEvent?.(e)),
    report: (r: DeliveryRates) => act(() => onReports?.(r)),
    /** Whether the page listens for delivery reports now. */
    listening: () => onReports !== null,
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
    f.sendHistory.mockImplementation(async () => ({ total: 250, sends: [failedOver], deliveries: [] }));
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
  it("shows in the row where delivery ended, and expanded, the provider's reports with their codes in plain words", async () => {
    const f = fakeBackend({ total: 3, sends: [byTwilio, fromService, failedOver], deliveries: [undelivered, sesDelivered] });
    render(<History backend={f.backend} />);
    const toggle = await screen.findByRole("button", { name: /Attempts for the send to \+14165550188/ });
    const row = toggle.closest("tr")!;
    // The code of the report it ended on, not of the late "sent" after it.
    const badge = within(row).getByTestId("delivery-badge");
    expect(badge).toHaveTextContent("undelivered 30003");
    expect(badge).toHaveClass("delivery-failed");
    expect(badge).toHaveTextContent("⚠");
    expect(badge).toHaveAttribute("title", `Twilio: not delivered by the carrier — ${PHONE_UNREACHABLE}`);
    const sesBadge = within(screen.getByRole("button", { name: /Attempts for the send to ops@example\.com/ }).closest("tr")!).getByTestId("delivery-badge");
    expect(sesBadge).toHaveTextContent(/^Provider report: delivered$/);
    expect(sesBadge).toHaveClass("delivery-delivered");
    expect(screen.queryByRole("list", { name: "Delivery reports" })).not.toBeInTheDocument();

    await userEvent.click(toggle);
    const cell = screen.getByRole("list", { name: "Attempts" }).closest("td")!;
    // Under the attempts: when Twilio took it (the send's end), then each report, oldest first.
    expect(within(cell).getByText(/^Accepted by Twilio at/)).toHaveTextContent(`Accepted by Twilio at ${clock("2026-11-23T12:10:01Z")} (receipt ${TWILIO_SID})`);
    const reports = within(within(cell).getByRole("list", { name: "Delivery reports" })).getAllByRole("listitem");
    expect(reports).toHaveLength(3);
    expect(reports[0]).toHaveTextContent(`${clock("2026-11-23T12:10:01Z")}queued at the provider`);
    expect(reports[1]).toHaveTextContent(`${clock("2026-11-23T12:10:09Z")}⚠ not delivered by the carriererror 30003: ${PHONE_UNREACHABLE}Unreachable destination handset`);
    expect(reports[1]).toHaveClass("delivery-end", "delivery-failed");
    expect(within(reports[1]).getByText("Unreachable destination handset")).toHaveClass("muted");
    expect(reports[2]).toHaveTextContent("sent to the carrier");
    expect(reports[2]).not.toHaveClass("delivery-end");
    const times = within(cell).getAllByText((_, el) => el?.tagName === "TIME");
    expect(times.map((t) => t.getAttribute("datetime"))).toEqual(["2026-11-23T12:10:01.000Z", "2026-11-23T12:10:01Z", "2026-11-23T12:10:09Z", "2026-11-23T12:10:12Z"]);
  });

  it("says nothing more about a send whose message has no reports, or whose receipt is another provider's", async () => {
    // The same id reported by SES is not about Twilio's message.
    const elsewhere: MessageDelivery = { ...undelivered, provider: "ses", timeline: undelivered.timeline.map((r) => ({ ...r, provider: "ses" })) };
    const f = fakeBackend({ total: 2, sends: [byTwilio, failedOver], deliveries: [elsewhere] });
    render(<History backend={f.backend} />);
    const toggle = await screen.findByRole("button", { name: /Attempts for the send to \+14165550188/ });
    expect(screen.queryByTestId("delivery-badge")).not.toBeInTheDocument();
    // The outcome cell: the chain's outcome and nothing after it.
    expect(within(toggle.closest("tr")!).getAllByRole("cell")[4]).toHaveTextContent(/^Delivered by Twiliofailed over$/);
    await userEvent.click(toggle);
    await userEvent.click(screen.getByRole("button", { name: /Attempts for the send to \+14165550123/ }));
    expect(screen.getAllByRole("list", { name: "Attempts" })).toHaveLength(2);
    expect(screen.queryByRole("list", { name: "Delivery reports" })).not.toBeInTheDocument();
    expect(screen.queryByText(/Accepted by/)).not.toBeInTheDocument();
  });

  it("says a message is pending while its reports are not final, and names a bounce by its code", async () => {
    const pending: MessageDelivery = { ...undelivered, status: "sent", fate: "pending", timeline: [twilioReport("sent", "2026-11-23T12:10:02Z")] };
    const bounced: MessageDelivery = {
      ...sesDelivered,
      status: "bounced",
      fate: "failed",
      timeline: [
        sesDelivered.timeline[0],
        { ...sesDelivered.timeline[1], status: "bounced", error_code: "Permanent/NoEmail", meaning: "the address does not exist", detail: "smtp; 550 5.1.1 user unknown" },
      ],
    };
    const f = fakeBackend({ total: 2, sends: [byTwilio, fromService], deliveries: [pending, bounced] });
    render(<History backend={f.backend} />);
    const twilioRow = (await screen.findByRole("button", { name: /Attempts for the send to \+14165550188/ })).closest("tr")!;
    expect(within(twilioRow).getByTestId("delivery-badge")).toHaveTextContent(/^Provider report: pending$/);
    expect(within(twilioRow).getByTestId("delivery-badge")).toHaveClass("delivery-pending");
    const sesToggle = screen.getByRole("button", { name: /Attempts for the send to ops@example\.com/ });
    expect(within(sesToggle.closest("tr")!).getByTestId("delivery-badge")).toHaveTextContent("bounced Permanent/NoEmail");
    await userEvent.click(sesToggle);
    const reports = within(screen.getByRole("list", { name: "Delivery reports" })).getAllByRole("listitem");
    expect(reports[1]).toHaveTextContent("bounced: the receiving server refused iterror Permanent/NoEmail: the address does not existsmtp; 550 5.1.1 user unknown");
  });

  it("fetches the sends again when delivery reports arrive, not the totals, and stops listening when closed", async () => {
    const f = fakeBackend({ total: 1, sends: [byTwilio] });
    const { unmount } = render(<History backend={f.backend} pollMs={NO_POLL} />);
    await screen.findByTestId("history-summary");
    await screen.findByText("1–1 of 1");
    expect(screen.queryByTestId("delivery-badge")).not.toBeInTheDocument();
    const pages = f.sendHistory.mock.calls.length;
    const summaries = f.historySummary.mock.calls.length;

    // The reports reached msgops: the next page has them.
    f.sendHistory.mockImplementation(async () => ({ total: 1, sends: [byTwilio], deliveries: [undelivered] }));
    f.report({ window_secs: 3600, providers: [{ provider: "twilio", delivered: 0, failed: 1, pending: 0, rate: 0 }] });
    await waitFor(() => expect(f.sendHistory).toHaveBeenCalledTimes(pages + 1));
    expect(await screen.findByTestId("delivery-badge")).toHaveTextContent("undelivered 30003");
    expect(f.historySummary).toHaveBeenCalledTimes(summaries);

    unmount();
    await waitFor(() => expect(f.listening()).toBe(false));
  });
});
