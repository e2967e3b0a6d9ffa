import { describe, expect, it } from "vitest";
import { clockOffset, codesZone, localZoneLabel, offsetLabel } from "./zone";
import { baseName, fileKindOf } from "./files";

const JAN = new Date("2026-01-15T12:00:00Z");
const JUL = new Date("2026-07-15T12:00:00Z");
/** This process's own offset (its TZ), as the page would show it. */
const here = (at: Date) => offsetLabel(-at.getTimezoneOffset());

describe("zones", () => {
  it("writes offsets as the log watcher does", () => {
    expect(offsetLabel(0)).toBe("UTC");
    expect(offsetLabel(60)).toBe("UTC+01:00");
    expect(offsetLabel(330)).toBe("UTC+05:30");
    expect(offsetLabel(-300)).toBe("UTC\u221205:00");
  });

  it("reads every way the watcher names a log's zone, DST included", () => {
    expect(clockOffset("UTC", JAN)).toBe(0);
    expect(clockOffset("UTC+05:30", JAN)).toBe(330);
    expect(clockOffset("UTC\u221205:00", JAN)).toBe(-300);
    expect(clockOffset("America/Toronto", JAN)).toBe(-300);
    expect(clockOffset("America/Toronto", JUL)).toBe(-240);
    expect(clockOffset("local (Asia/Kolkata)", JUL)).toBe(330);
    expect(clockOffset("Not/AZone", JAN)).toBeNull();
  });

  it("names this computer's zone with its offset now", () => {
    expect(localZoneLabel(JAN, "Europe/Berlin")).toBe(`Europe/Berlin (${here(JAN)})`);
    expect(localZoneLabel(JAN, "UTC")).toBe(here(JAN) === "UTC" ? "UTC" : here(JAN));
  });

  it("says whether the codes' times were converted from the log's zone", () => {
    expect(codesZone([], JAN, "Europe/Berlin")).toEqual({ shown: `Times in Europe/Berlin (${here(JAN)})`, detail: "this computer's zone", converted: false });
    const same = codesZone([{ file: "/a.log", zone: here(JAN), basis: "inferred", reason: "" }], JAN, "Europe/Berlin");
    expect(same.detail).toBe("this computer's zone, and the log's");
    expect(same.converted).toBe(false);
    const other = here(JAN) === "UTC\u221205:00" ? "Asia/Kolkata" : "America/Toronto";
    const converted = codesZone([{ file: "/a.log", zone: other, basis: "configured", reason: "" }], JAN, "Europe/Berlin");
    expect(converted.converted).toBe(true);
    expect(converted.detail).toBe(`this computer's zone, converted from the log's ${other} (${offsetLabel(clockOffset(other, JAN) ?? 0)})`);
  });
});

describe("files", () => {
  it("tells a .env from a log by its name", () => {
    for (const env of ["/srv/app/.env", "/srv/app/.env.production", "/srv/app/backend.env", "C:\\app\\.ENV"]) expect(fileKindOf(env)).toBe("env");
    for (const log of ["/var/log/app.log", "/var/log/app.log.1", "/srv/app/environment.txt", "/srv/app/.envrc"]) expect(fileKindOf(log)).toBe("log");
    expect(baseName("/srv/app/.env")).toBe(".env");
  });
});
