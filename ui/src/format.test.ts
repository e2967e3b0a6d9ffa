import { describe, expect, it } from "vitest";
import { credentialsOf, todayByProvider } from "./format";

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
