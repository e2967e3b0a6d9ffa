import { render, screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it, vi } from "vitest";
import type { FallbackCode } from "../bindings/FallbackCode";
import { Codes, ROW_HEIGHT } from "./Codes";

// jsdom has no layout: give the scrolling area a size so the virtualiser draws a window of rows.
const RECT = { width: 1000, height: 10 * ROW_HEIGHT };

function iso(ms: number): string {
  // Naive local time, as the log watcher reports it.
  const d = new Date(ms);
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

function code(recipient: string, value: string, ageMs: number, line: number): FallbackCode {
  const created = Date.now() - ageMs;
  return {
    recipient,
    code: value,
    created_at: iso(created),
    expires_at: iso(created + 600_000),
    expired: ageMs >= 600_000,
    source: "sms_fallback",
    file: "/var/log/backend.log",
    line,
  } as FallbackCode;
}

describe("Codes", () => {
  const codes = [code("+14165550123", "091282", 700_000, 1), code("+14165559876", "123456", 60_000, 2), code("+442071234567", "654321", 1_000, 3)];

  it("lists newest first with the code large and a countdown", () => {
    render(<Codes codes={codes} files={["/var/log/backend.log"]} initialRect={RECT} />);
    const rows = screen.getAllByTestId("code-row");
    expect(rows.map((r) => within(r).getByText(/^\d{6}$/).textContent)).toEqual(["654321", "123456", "091282"]);
    expect(within(rows[1]).getByText(/expires in (8:59|9:00)/)).toBeInTheDocument();
  });

  it("finds a customer by the last four digits of their number", async () => {
    render(<Codes codes={codes} files={[]} initialRect={RECT} />);
    await userEvent.type(screen.getByTestId("codes-search"), "9876");
    const rows = screen.getAllByTestId("code-row");
    expect(rows).toHaveLength(1);
    expect(rows[0]).toHaveTextContent("123456");
  });

  it("shows expired codes dimmed and labelled, and never copyable", async () => {
    const writeText = vi.fn().mockResolvedValue(undefined);
    Object.defineProperty(navigator, "clipboard", { value: { writeText }, configurable: true });
    render(<Codes codes={codes} files={[]} initialRect={RECT} />);
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
    render(<Codes codes={many} files={[]} initialRect={RECT} />);
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
});
