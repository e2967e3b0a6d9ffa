// What a pasted or autofilled text gives the code entry: the code, not the first digits in sight.
// One rule with its Rust twin (msgops_logwatch::paste::code_in_text); both are checked against
// the same table of cases, crates/logwatch/testdata/paste_cases.json.

/** Characters that join two digit runs into one number: a date, a time, an address, a decimal. */
const JOINERS = "-:.,/";

/** How far back from a candidate "code" or "otp" still names it. */
const KEYWORD_WINDOW = 16;

/** A span of characters, `start` inclusive, `end` exclusive. */
interface Span {
  start: number;
  end: number;
}

const isDigit = (c: string | undefined) => c !== undefined && c >= "0" && c <= "9";
/** ASCII letters and digits, as the Rust twin's `u8::is_ascii_alphanumeric`. */
const isAlphanumeric = (c: string | undefined) => c !== undefined && /^[A-Za-z0-9]$/.test(c);

/**
 * Not part of something larger: no letter or digit on either side, no '+' before it (a phone
 * number), and not joined to another digit run by one of `- : . , /`.
 */
function standalone(chars: string[], { start, end }: Span): boolean {
  const before = chars[start - 1];
  const after = chars[end];
  if (isAlphanumeric(before) || isAlphanumeric(after) || before === "+") return false;
  if (before !== undefined && JOINERS.includes(before) && isDigit(chars[start - 2])) return false;
  if (after !== undefined && JOINERS.includes(after) && isDigit(chars[end + 1])) return false;
  return true;
}

/** Maximal runs of ASCII digits, in order. */
function digitRuns(chars: string[]): Span[] {
  const runs: Span[] = [];
  for (let i = 0; i < chars.length; i++) {
    if (!isDigit(chars[i])) continue;
    const start = i;
    while (isDigit(chars[i + 1])) i++;
    runs.push({ start, end: i + 1 });
  }
  return runs;
}

const digitsIn = (chars: string[], { start, end }: Span) =>
  chars
    .slice(start, end)
    .filter((c) => isDigit(c))
    .join("");

/** A group does not go on with more digits after a space or dash ("416 880 2544" is a phone). */
function notContinued(chars: string[], { start, end }: Span): boolean {
  const sep = (c: string | undefined) => c === " " || c === "-";
  if (sep(chars[start - 1]) && isDigit(chars[start - 2])) return false;
  if (sep(chars[end]) && isDigit(chars[end + 1])) return false;
  return true;
}

/**
 * Runs of 2 digits or more separated by exactly one space or one '-' ("482 913", "091-282"),
 * `length` digits in all, standalone as a whole and not going on with more digits.
 */
function groups(chars: string[], runs: Span[], length: number): Span[] {
  const out: Span[] = [];
  const joined = (a: Span, b: Span) => b.start === a.end + 1 && (chars[a.end] === " " || chars[a.end] === "-");
  for (let i = 0; i < runs.length; i++) {
    let total = runs[i].end - runs[i].start;
    if (total < 2) continue;
    for (let j = i + 1; j < runs.length && total < length; j++) {
      const size = runs[j].end - runs[j].start;
      if (size < 2 || !joined(runs[j - 1], runs[j])) break;
      total += size;
      const group = { start: runs[i].start, end: runs[j].end };
      if (total === length && standalone(chars, group) && notContinued(chars, group)) out.push(group);
    }
  }
  return out;
}

/** The text before the candidate names it: it ends with ':' or mentions "code" or "otp" just before. */
function afterKeyword(chars: string[], { start }: Span): boolean {
  const before = chars.slice(0, start).join("").trimEnd();
  if (before.endsWith(":")) return true;
  const tail = Array.from(before).slice(-KEYWORD_WINDOW).join("").toLowerCase();
  return tail.includes("code") || tail.includes("otp");
}

/**
 * The `length`-digit code in a pasted or autofilled text, or null when it holds none:
 * "091282", " 091 282 ", "Your code is 091282", "SMS FALLBACK - OTP for +14168802544: 091282",
 * or that whole log line with its date, time and milliseconds.
 *
 * Candidates are standalone runs of exactly `length` digits or, when there is none, groups of
 * runs written apart ("482 913"). Of several, the last one after "code", "otp" or ':'; with
 * none after a keyword, the last one. A text of only digits, spaces and dashes holding exactly
 * `length` digits ("0 9 1 2 8 2") is the code too.
 */
export function extractCode(text: string, length = 6): string | null {
  const chars = Array.from(text);
  const runs = digitRuns(chars);
  let candidates = runs.filter((r) => r.end - r.start === length && standalone(chars, r));
  if (candidates.length === 0) candidates = groups(chars, runs, length);
  if (candidates.length > 0) {
    const named = candidates.filter((c) => afterKeyword(chars, c));
    return digitsIn(chars, (named.length > 0 ? named : candidates).at(-1)!);
  }
  // ASCII digits, ASCII whitespace (Rust's `is_ascii_whitespace`) and dashes only.
  if (!/^[0-9 \t\n\f\r-]*$/.test(text)) return null;
  const digits = text.replace(/\D/g, "");
  return digits.length === length ? digits : null;
}
