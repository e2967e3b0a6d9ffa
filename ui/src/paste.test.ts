import { describe, expect, it } from "vitest";
// The table the Rust twin (msgops_logwatch::paste) is tested against too.
import table from "../../crates/logwatch/testdata/paste_cases.json";
import { extractCode } from "./paste";

interface PasteCase {
  text: string;
  length: number;
  code: string | null;
  why: string;
}

const cases: PasteCase[] = table.cases;

describe("extractCode, every case of paste_cases.json", () => {
  it("has the table", () => {
    expect(cases.length).toBeGreaterThan(20);
  });

  it.each(cases.map((c) => [c.why, c] as const))("%s", (_why, c) => {
    expect(extractCode(c.text, c.length)).toBe(c.code);
  });
});

describe("extractCode", () => {
  it("takes six digits by default", () => {
    expect(extractCode("Your msgops code is 091 282. It expires in 10 minutes.")).toBe("091282");
    expect(extractCode("12345")).toBeNull();
    expect(extractCode("hello")).toBeNull();
  });

  it("reads a code of the configured length", () => {
    expect(extractCode("OTP Code: 48213377", 8)).toBe("48213377");
    expect(extractCode("OTP Code: 48213377")).toBeNull();
  });
});
