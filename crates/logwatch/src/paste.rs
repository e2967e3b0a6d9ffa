//! The code in a text someone pasted or a phone autofilled: the whole log line support staff
//! copy (`2025-10-29 16:34:53,202 - ... - OTP for +14168802544: 091282`) gives `091282`, not the
//! first six digits in sight. The UI's `extractCode` (ui/src/paste.ts) is the same rule; both are
//! tested against one table, `testdata/paste_cases.json`.
//!
//! The rule: a candidate is a standalone run of exactly `length` digits — not touching a letter
//! or digit, not after `+`, not joined to other digits by `- : . , /` (dates, times, addresses,
//! decimals, phone numbers). With none, runs of 2+ digits grouped by single spaces or dashes that
//! add up to `length` and stand alone together, with no more digits after a space or dash. Of several, the last one after `:`, "code" or
//! "OTP", else the last. With none, a text of only digits, spaces and dashes holding exactly
//! `length` digits.

/// Joins digit runs into one number.
const JOINERS: &[u8] = b"-:.,/";

/// The code in `text`, if it holds one of `length` digits.
pub fn code_in_text(text: &str, length: usize) -> Option<String> {
    let b = text.as_bytes();
    let runs = digit_runs(b);
    let mut candidates: Vec<(usize, usize, String)> = runs
        .iter()
        .filter(|&&(s, e)| e - s == length && standalone(b, s, e))
        .map(|&(s, e)| (s, e, text[s..e].to_owned()))
        .collect();
    if candidates.is_empty() {
        candidates = grouped(b, &runs, length);
    }
    let after_keyword = |start: usize| {
        let before = text[..start].trim_end();
        if before.ends_with(':') {
            return true;
        }
        let tail: String = before
            .chars()
            .rev()
            .take(16)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<String>()
            .to_lowercase();
        tail.contains("code") || tail.contains("otp")
    };
    if let Some((_, _, code)) = candidates
        .iter()
        .rev()
        .find(|(s, _, _)| after_keyword(*s))
        .or_else(|| candidates.last())
    {
        return Some(code.clone());
    }
    let only_digits = b
        .iter()
        .all(|c| c.is_ascii_digit() || c.is_ascii_whitespace() || *c == b'-');
    let digits: String = text.chars().filter(char::is_ascii_digit).collect();
    (only_digits && digits.len() == length).then_some(digits)
}

fn digit_runs(b: &[u8]) -> Vec<(usize, usize)> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let s = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            runs.push((s, i));
        } else {
            i += 1;
        }
    }
    runs
}

/// `b[s..e]` stands alone: no letter or digit beside it, no `+` before it, not joined to another
/// digit run.
fn standalone(b: &[u8], s: usize, e: usize) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric();
    if s > 0 {
        let c = b[s - 1];
        if word(c) || c == b'+' {
            return false;
        }
        if JOINERS.contains(&c) && s > 1 && b[s - 2].is_ascii_digit() {
            return false;
        }
    }
    if let Some(&c) = b.get(e) {
        if word(c) {
            return false;
        }
        if JOINERS.contains(&c) && b.get(e + 1).is_some_and(u8::is_ascii_digit) {
            return false;
        }
    }
    true
}

/// Runs of 2+ digits separated by one space or dash, adding up to `length`, standing alone as a
/// group.
fn grouped(b: &[u8], runs: &[(usize, usize)], length: usize) -> Vec<(usize, usize, String)> {
    let mut out = Vec::new();
    for first in 0..runs.len() {
        let mut digits = String::new();
        let mut last = first;
        loop {
            let (s, e) = runs[last];
            if e - s < 2 {
                break;
            }
            digits.push_str(std::str::from_utf8(&b[s..e]).unwrap_or_default());
            if digits.len() >= length {
                break;
            }
            let Some(&(ns, _)) = runs.get(last + 1) else {
                break;
            };
            if ns != e + 1 || !(b[e] == b' ' || b[e] == b'-') {
                break;
            }
            last += 1;
        }
        let (s, e) = (runs[first].0, runs[last].1);
        if last > first && digits.len() == length && standalone(b, s, e) && !continued(b, s, e) {
            out.push((s, e, digits));
        }
    }
    out
}

/// A group that goes on with more digits after a space or dash (`416 880 2544` is a phone).
fn continued(b: &[u8], s: usize, e: usize) -> bool {
    let sep = |c: u8| c == b' ' || c == b'-';
    (s > 1 && sep(b[s - 1]) && b[s - 2].is_ascii_digit())
        || (b.get(e).copied().is_some_and(sep) && b.get(e + 1).is_some_and(u8::is_ascii_digit))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize)]
    struct Table {
        cases: Vec<Case>,
    }
    #[derive(serde::Deserialize)]
    struct Case {
        text: String,
        length: usize,
        code: Option<String>,
        why: String,
    }

    #[test]
    fn every_case_of_the_shared_paste_table() {
        let text = include_str!("../testdata/paste_cases.json");
        let table: Table = serde_json::from_str(text).unwrap();
        assert!(table.cases.len() >= 20);
        for case in table.cases {
            assert_eq!(
                code_in_text(&case.text, case.length),
                case.code,
                "{:?}: {}",
                case.text,
                case.why
            );
        }
    }
}
