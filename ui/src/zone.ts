// Which clock the times on screen are in. Codes are shown in this computer's zone, whatever zone
// the backend writes its log in (each log's clock comes from the log watcher).
import type { LogClockInfo } from "./bindings/LogClockInfo";

/** "UTC+01:00", "UTC−05:00" (a real minus, as the log watcher writes it), or "UTC". */
export function offsetLabel(minutes: number): string {
  if (minutes === 0) return "UTC";
  const a = Math.abs(minutes);
  return `UTC${minutes < 0 ? "\u2212" : "+"}${String(Math.floor(a / 60)).padStart(2, "0")}:${String(a % 60).padStart(2, "0")}`;
}

/** This computer's IANA zone, when the runtime knows it. */
export function localZoneName(): string | null {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || null;
  } catch {
    return null;
  }
}

/** Minutes east of UTC of an IANA zone at `at`, or null when the zone is not known here. */
function zoneOffset(zone: string, at: Date): number | null {
  try {
    const part = new Intl.DateTimeFormat("en-US", { timeZone: zone, timeZoneName: "longOffset" })
      .formatToParts(at)
      .find((p) => p.type === "timeZoneName")?.value;
    if (!part) return null;
    if (part === "GMT") return 0;
    const m = /^GMT([+-\u2212])(\d{1,2}):?(\d{2})?$/.exec(part);
    if (!m) return null;
    const minutes = Number(m[2]) * 60 + Number(m[3] ?? 0);
    return m[1] === "+" ? minutes : -minutes;
  } catch {
    return null;
  }
}

/**
 * Minutes east of UTC of a log clock's zone as the watcher names it (`UTC`, `UTC+05:30`,
 * `America/Toronto`, `local (America/Toronto)`), or null when it cannot be told.
 */
export function clockOffset(zone: string, at: Date): number | null {
  const name = /^local \((.+)\)$/.exec(zone)?.[1] ?? zone;
  if (name === "UTC" || name === "local") return name === "UTC" ? 0 : -at.getTimezoneOffset();
  const fixed = /^UTC([+-\u2212])(\d{2}):(\d{2})$/.exec(name);
  if (fixed) {
    const minutes = Number(fixed[2]) * 60 + Number(fixed[3]);
    return fixed[1] === "+" ? minutes : -minutes;
  }
  return zoneOffset(name, at);
}

/** "Europe/Berlin (UTC+01:00)", or "UTC", for this computer now. */
export function localZoneLabel(at: Date = new Date(), name: string | null = localZoneName()): string {
  const offset = offsetLabel(-at.getTimezoneOffset());
  if (!name || name === "UTC" || name === "Etc/UTC") return offset === "UTC" ? "UTC" : offset;
  return `${name} (${offset})`;
}

/** What the Codes page says about the zone of its times, and of the logs they were read from. */
export interface CodesZone {
  /** "Times in Europe/Berlin (UTC+01:00)". */
  shown: string;
  /** Whose zone that is: this computer's, the logs' too, or converted from theirs. */
  detail: string;
  /** True when some log writes its times in another zone than this computer's. */
  converted: boolean;
}

export function codesZone(clocks: LogClockInfo[], at: Date = new Date(), name: string | null = localZoneName()): CodesZone {
  const shown = `Times in ${localZoneLabel(at, name)}`;
  if (clocks.length === 0) return { shown, detail: "this computer's zone", converted: false };
  const local = -at.getTimezoneOffset();
  const other = clocks.filter((c) => clockOffset(c.zone, at) !== local);
  if (other.length === 0) {
    return { shown, detail: `this computer's zone, and ${clocks.length === 1 ? "the log's" : "the logs'"}`, converted: false };
  }
  const named = [...new Set(other.map((c) => c.zone))]
    .map((z) => {
      const offset = clockOffset(z, at);
      return offset === null || z.startsWith("UTC") ? z : `${z} (${offsetLabel(offset)})`;
    })
    .join(", ");
  return { shown, detail: `this computer's zone, converted from ${other.length === 1 ? "the log's" : "the logs'"} ${named}`, converted: true };
}
