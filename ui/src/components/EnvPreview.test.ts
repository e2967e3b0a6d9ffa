import { describe, expect, it } from "vitest";
import { importSummary } from "./EnvPreview";

const report = { stored: [], unchanged: [], kept_existing: [], rewritten: false, removed_lines: [], settings: {} } as unknown as Parameters<typeof importSummary>[0];

describe("importSummary", () => {
  it("says what was stored, left alone and taken out of the .env", () => {
    expect(importSummary({ ...report, stored: ["sendgrid_api_key"], unchanged: ["aws_access_key_id"], rewritten: true, removed_lines: [3, 7] })).toBe(
      "Imported: 1 stored, 1 unchanged; .env rewritten without 2 secret line(s).",
    );
  });

  it("says when the keychain kept another value, which the .env still holds", () => {
    expect(importSummary({ ...report, unchanged: ["twilio_account_sid"], kept_existing: ["twilio_auth_token"], rewritten: true, removed_lines: [3] })).toBe(
      "Imported: 0 stored, 1 unchanged, 1 kept as the keychain had them (another value there: rotate to replace it); .env rewritten without 1 secret line(s).",
    );
  });
});
