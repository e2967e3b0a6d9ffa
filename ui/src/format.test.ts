import { describe, expect, it } from "vitest";
import { DELIVERY_STATUS_LABEL, clockLine, codeWhen, credentialsOf, formatPercent, formatWindow, recipientLabel, todayByProvider, withClock } from "./format";

describe("todayByProvider", () => {
  it("sums today's entries per provider and ignores other days", () => {
    const today = todayByProvider({
      since: "2026-11-24",
      days: 1,
      sends: 4,
      delivered: 3,
      failed: 1,
      failed_over: 1,
      total_cost_usd: 0.0205,
      cost_per_day: [
        { day: "2026-11-24", provider: "sns", cost_usd: 0.00645, delivered: 1, failed: 1 },
        { day: "2026-11-24", provider: "twilio", cost_usd: 0.015, delivered: 2, failed: 0 },
        { day: "2026-11-23", provider: "twilio", cost_usd: 1, delivered: 100, failed: 0 },
      ],
      failover_routes: [],
    });
    expect(today).toEqual({
      sns: { sent: 1, failed: 1, cost_usd: 0.00645 },
      twilio: { sent: 2, failed: 0, cost_usd: 0.015 },
    });
  });
});

describe("credentialsOf", () => {
  it("maps both AWS providers to the AWS keys and the Console to none", () => {
    expect(["sns", "ses", "twilio", "sendgrid", "smtp", "console"].map(credentialsOf)).toEqual(["aws", "aws", "twilio", "sendgrid", "smtp", null]);
  });
});

describe("recipientLabel", () => {
  it("is the certain recipient, one of the candidates, or says the log does not name one", () => {
    expect(recipientLabel({ recipient: "+14165550123", candidates: [] })).toBe("+14165550123");
    expect(recipientLabel({ recipient: null, candidates: ["4165550471", "4165550999"] })).toBe("one of 4165550471, 4165550999");
    expect(recipientLabel({ recipient: null, candidates: [] })).toBe("recipient not in log");
  });
});

describe("codeWhen", () => {
  const at = "2025-10-29T20:34:53.202Z";
  it("marks an approximate time and says why", () => {
    const when = codeWhen({ created_at: at, logged_at: "2025-10-29T16:34:53.202", time: "approximate" });
    expect(when.text).toMatch(/^≈ \d\d:\d\d:\d\d$/);
    expect(when.note).toBe("no timestamp on its line; the last one before it");
    expect(when.title).toContain("in the log: 2025-10-29 16:34:53.202");
  });
  it("says when a time is the time the line was read", () => {
    expect(codeWhen({ created_at: at, logged_at: null, time: "read_at" }).text).toMatch(/^read at \d\d:\d\d:\d\d$/);
  });
  it("reads the instant in this computer's zone", () => {
    const d = new Date(at);
    const hh = String(d.getHours()).padStart(2, "0");
    expect(codeWhen({ created_at: at, logged_at: "2025-10-29T16:34:53.202", time: "logged" }).text).toMatch(new RegExp(` ${hh}:34:53$`));
  });
  it("has no time when none is known", () => {
    expect(codeWhen({ created_at: null, logged_at: null, time: "unknown" }).text).toBe("time unknown");
  });
});

describe("log clocks", () => {
  const a = { file: "/a.log", zone: "local (America/Toronto)", basis: "assumed" as const, reason: "no timestamp read yet" };
  const b = { file: "/b.log", zone: "UTC", basis: "configured" as const, reason: "set by logs.timezone" };
  it("says the zone, how it was chosen and why", () => {
    expect(clockLine({ ...a, zone: "UTC−05:00", basis: "inferred", reason: "newest line 16:34 vs file modified 21:34 UTC" })).toBe(
      "Log times read as UTC−05:00 — inferred: newest line 16:34 vs file modified 21:34 UTC",
    );
  });
  it("keeps one clock per file, the newest", () => {
    const newer = { ...a, zone: "UTC−05:00", basis: "inferred" as const, reason: "newest line 16:34 vs file modified 21:34 UTC" };
    expect(withClock([a, b], newer)).toEqual([newer, b]);
    expect(withClock([b], a)).toEqual([b, a]);
  });
});

describe("delivery words", () => {
  it("says each status in plain words", () => {
    expect(DELIVERY_STATUS_LABEL.sent).toBe("sent to the carrier");
    expect(DELIVERY_STATUS_LABEL.complained).toBe("delivered, then marked as spam");
    expect(new Set(Object.values(DELIVERY_STATUS_LABEL)).size).toBe(Object.keys(DELIVERY_STATUS_LABEL).length);
  });
  it("rounds a share down to a whole percentage", () => {
    expect([0.92, 0.29, 0.999, 1, 0, 2 / 3].map(formatPercent)).toEqual(["92 %", "29 %", "99 %", "100 %", "0 %", "66 %"]);
  });
  it("names a window as short as it reads", () => {
    expect([3600, 7200, 900, 45, 90].map(formatWindow)).toEqual(["1 h", "2 h", "15 min", "45 s", "90 s"]);
  });
});
