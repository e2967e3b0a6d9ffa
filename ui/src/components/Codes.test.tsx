import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { FallbackCode } from "../bindings/FallbackCode";
import type { LogClockInfo } from "../bindings/LogClockInfo";
import { Codes, ROW_HEIGHT } from "./Codes";

// jsdom has no layout: give the scrolling area a size so the virtualiser draws a window of rows.
const RECT = { width: 1000, height: 10 * ROW_HEIGHT };

/** An instant as the log watcher reports it: RFC 3339 in UTC ("2025-10-29T20:34:53.202Z"). */
const iso = (ms: number) => new Date(ms).toISOString();

function code(recipient: string | null, value: string, ageMs: number, line: number, more: Partial<FallbackCode> = {}): FallbackCode {
  const created = Date.now() - ageMs;
  return {
    recipient,
    candidates: [],
    code: value,
    logged_at: iso(created).slice(0, -1),
    created_at: iso(created),
    expires_at: iso(created + 600_000),
    time: "logged",
    expired: ageMs >= 600_000,
    source: "sms_fallback",
    file: "/var/log/backend.log",
    line,
    ...more,
  };
}

const CLOCK: LogClockInfo = {
  file: "/var/log/backend.log",
  zone: "UTC−05:00",
  basis: "inferred",
  reason: "newest line 16:34 vs file modified 21:34 UTC",
};

describe("Codes", () => {
  const codes = [code("+14165550123", "091282", 700_000, 1), code("+14165559876", "123456", 60_000, 2), code("+442071234567", "654321", 1_000, 3)];

  it("lists newest first with the code large and a countdown", () => {
    render(<Codes codes={codes} files={["/var/log/backend.log"]} clocks={[]} initialRect={RECT} />);
    const rows = screen.getAllByTestId("code-row");
    expect(rows.map((r) => within(r).getByText(/^\d{6}$/).textContent)).toEqual(["654321", "123456", "091282"]);
    expect(within(rows[1]).getByText(/expires in (8:59|9:00)/)).toBeInTheDocument();
  });

  it("finds a customer by the last four digits of their number", async () => {
    render(<Codes codes={codes} files={[]} clocks={[]} initialRect={RECT} />);
    await userEvent.type(screen.getByTestId("codes-search"), "9876");
    const rows = screen.getAllByTestId("code-row");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toHaveTextContent("123456");
  });

  it("shows expired codes dimmed and labelled, and never copyable", async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    render(<Codes codes={codes} files={[]} clocks={[]} initialRect={RECT} />);
    const expired = screen.getAllByTestId("code-row")[2];
    expect(expired).toHaveAttribute("data-expired", "true");
    expect(within(expired).getByText("Expired")).toBeInTheDocument();
    expect(within(expired).getByRole("button")).toBeDisabled();
    await userEvent.click(within(screen.getAllByTestId("code-row")[0]).getByRole("button"));
    expect(writeText).toHaveBeenCalledWith("654321");
    expect(screen.getByTestId("copied")).toHaveTextContent("Copied 654321 for +442071234567");
  });

  it("stays a small window of rows over 100,000 codes, newest first, and finds an old one", async () => {
    // Oldest first, as the backend delivers them. Code i goes to +1416 and i in octal digits
    // (no 8 or 9), except the 43rd, which went to a London number ending in 9898.
    const many = Array.from({ length: 100_000 }, (_, i) =>
      code(i === 42 ? "+44 (20) 7123-9898" : `+1416${i.toString(8).padStart(7, "0")}`, String(i).padStart(6, "0"), 100_000 - i, i + 1),
    );
    render(<Codes codes={many} files={[]} clocks={[]} initialRect={RECT} />);
    const rows = screen.getAllByTestId("code-row");
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThan(100);
    expect(rows[0]).toHaveTextContent("099999");
    expect(rows[0]).toHaveAttribute("aria-posinset", "1");
    expect(rows[0]).toHaveAttribute("aria-setsize", "100000");
    expect(rows[1]).toHaveTextContent("099998");
    expect(screen.getByTestId("codes-count")).toHaveTextContent("100,000 codes");

    await userEvent.type(screen.getByTestId("codes-search"), "9898");
    const found = screen.getAllByTestId("code-row");
    expect(found).toHaveLength(1);
    expect(found[0]).toHaveTextContent("000042");
    expect(found[0]).toHaveTextContent("+44 (20) 7123-9898");
    expect(screen.getByTestId("codes-count")).toHaveTextContent("1 match");
  });

  describe("a code the log cannot pin to one request", () => {
    const uncertain = code(null, "589503", 30_000, 4, { candidates: ["4165550471", "(416) 555-0999"] });
    const all = [...codes, uncertain];

    it("shows it for one of its candidates, marked uncertain in words", () => {
      render(<Codes codes={all} files={[]} clocks={[]} initialRect={RECT} />);
      const row = screen.getAllByTestId("code-row")[0];
      expect(row).toHaveTextContent("589503");
      expect(row).toHaveTextContent("uncertain for one of 4165550471, (416) 555-0999");
      const recipient = row.querySelector(".code-recipient");
      expect(recipient).toHaveAttribute("data-uncertain", "true");
      expect(recipient).toHaveClass("code-uncertain");
      // A certain recipient carries no such mark.
      expect(screen.getAllByTestId("code-row")[1].querySelector('[data-uncertain="true"]')).toBeNull();
    });

    it.each(["0471", "0999", "555-0999"])("is found by %s, one candidate's digits", async (query) => {
      render(<Codes codes={all} files={[]} clocks={[]} initialRect={RECT} />);
      await userEvent.type(screen.getByTestId("codes-search"), query);
      const rows = screen.getAllByTestId("code-row");
      expect(rows).toHaveLength(1);
      expect(rows[0]).toHaveTextContent("589503");
    });

    it("is not found across two candidates", async () => {
      // The end of one candidate and the start of the next are not one number.
      render(<Codes codes={all} files={[]} clocks={[]} initialRect={RECT} />);
      await userEvent.type(screen.getByTestId("codes-search"), "04714165");
      expect(screen.queryAllByTestId("code-row")).toHaveLength(0);
    });

    it("says so when copied", async () => {
      const copyText = vi.fn().mockResolvedValue(undefined);
      render(<Codes codes={all} files={[]} clocks={[]} copyText={copyText} initialRect={RECT} />);
      await userEvent.click(within(screen.getAllByTestId("code-row")[0]).getByRole("button"));
      expect(copyText).toHaveBeenCalledWith("589503");
      expect(screen.getByTestId("copied")).toHaveTextContent("Copied 589503 for one of 4165550471, (416) 555-0999");
    });
  });

  it("says when the log does not name the recipient", async () => {
    const copyText = vi.fn().mockResolvedValue(undefined);
    render(<Codes codes={[code(null, "770011", 1_000, 9)]} files={[]} clocks={[]} copyText={copyText} initialRect={RECT} />);
    const row = screen.getByTestId("code-row");
    expect(row).toHaveTextContent("recipient not in log");
    expect(row.querySelector('[data-uncertain="true"]')).toBeNull();
    await userEvent.click(within(row).getByRole("button"));
    expect(screen.getByTestId("copied")).toHaveTextContent("Copied 770011 (recipient not in log)");
  });

  it("marks a time taken from an earlier line as approximate, and a time read live as read", () => {
    const approximate = code("+14165550123", "111111", 5_000, 10, { time: "approximate" });
    const readAt = code("+14165550124", "222222", 1_000, 11, { time: "read_at", logged_at: null });
    render(<Codes codes={[approximate, readAt]} files={[]} clocks={[]} initialRect={RECT} />);
    const [read, approx] = screen.getAllByTestId("code-when");
    expect(approx).toHaveAttribute("data-time", "approximate");
    expect(approx).toHaveTextContent(/^≈ \d\d:\d\d:\d\d/);
    expect(approx).toHaveTextContent("no timestamp on its line; the last one before it");
    expect(read).toHaveTextContent(/^read at \d\d:\d\d:\d\d$/);
    // A code with a timestamp of its own has no mark.
    render(<Codes codes={[code("+14165550125", "333333", 1_000, 12)]} files={[]} clocks={[]} initialRect={RECT} />);
    expect(screen.getAllByTestId("code-when")[2]).toHaveTextContent(/^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$/);
  });

  it("counts down to the expiry instant, whatever zone the log was written in", () => {
    // Written 9 minutes ago by a backend in UTC+05:30: the instant is what counts.
    const created = Date.now() - 540_000;
    const kolkata = code("+919876543210", "445566", 540_000, 13, {
      logged_at: iso(created + 19_800_000).slice(0, -1),
      created_at: iso(created),
      expires_at: iso(created + 600_000),
    });
    render(<Codes codes={[kolkata]} files={[]} clocks={[]} initialRect={RECT} />);
    expect(screen.getByTestId("code-row")).toHaveTextContent(/expires in (0:59|1:00)/);
  });

  it("says which clock the log's times are read in, and why", () => {
    render(<Codes codes={codes} files={["/var/log/backend.log"]} clocks={[CLOCK]} initialRect={RECT} />);
    expect(screen.getByTestId("log-clock")).toHaveTextContent(
      "Log times read as UTC−05:00 — inferred: newest line 16:34 vs file modified 21:34 UTC",
    );
  });

  it("names the file of each clock when there are several", () => {
    const other: LogClockInfo = { file: "/var/log/worker.log", zone: "UTC", basis: "configured", reason: "set by logs.timezone" };
    render(<Codes codes={codes} files={["/var/log/backend.log", "/var/log/worker.log"]} clocks={[CLOCK, other]} initialRect={RECT} />);
    const lines = screen.getAllByTestId("log-clock").map((l) => l.textContent);
    expect(lines).toEqual([
      "/var/log/backend.log: Log times read as UTC−05:00 — inferred: newest line 16:34 vs file modified 21:34 UTC",
      "/var/log/worker.log: Log times read as UTC — configured: set by logs.timezone",
    ]);
  });
});
