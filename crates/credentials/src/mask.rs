//! The one rule for showing secrets and the one rule for removing them from text.
//!
//! [`mask`] is the only form in which a secret ever leaves this crate towards a screen, a log or
//! a file: a fixed mask and at most the last 4 characters, never more than a quarter of the
//! value. [`scrub`] replaces every secret in text that comes from outside (a provider's answer,
//! an error body) with [`REDACTED`]; the providers crate uses it too, so a provider's answer and
//! a rotation error are cleaned the same way. Neither may ever show more of a secret than that.

use std::cmp::Reverse;

/// What every masked value starts with, whatever the secret's length: the length is not shown.
pub const MASK: &str = "••••••••";

/// The most characters of a secret a masked value shows (its last ones).
pub const MAX_SHOWN_CHARS: usize = 4;

/// What a secret found in text from outside is replaced with.
pub const REDACTED: &str = "[redacted]";

/// Secrets shorter than this (in bytes) are not scrubbed: they would take ordinary words with
/// them, and no provider issues credentials that short.
pub const MIN_SCRUBBED_LEN: usize = 4;

/// How many of its last characters a secret of `len` characters shows when masked: a quarter
/// of it at most (rounded down) and never more than [`MAX_SHOWN_CHARS`].
pub fn shown_chars(len: usize) -> usize {
    (len / 4).min(MAX_SHOWN_CHARS)
}

/// The secret as it may be shown: [`MASK`] followed by its last [`shown_chars`] characters,
/// e.g. `••••••••9f0e` for a Twilio token, `••••••••` alone for anything under 4 characters.
/// Counts characters, not bytes.
pub fn mask(value: &str) -> String {
    let len = value.chars().count();
    let tail: String = value.chars().skip(len - shown_chars(len)).collect();
    format!("{MASK}{tail}")
}

/// `text` with every occurrence of each of `secrets` replaced by [`REDACTED`]. For text that
/// comes from outside (a provider's answer or error) before it is shown, logged or recorded,
/// in case the outside echoes a credential back.
///
/// Longer secrets are replaced first, so a secret that contains another (or overlaps it) goes
/// entirely. Secrets shorter than [`MIN_SCRUBBED_LEN`] are left alone.
pub fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut secrets: Vec<&str> = secrets
        .into_iter()
        .filter(|s| s.len() >= MIN_SCRUBBED_LEN)
        .collect();
    secrets.sort_by_key(|s| Reverse(s.len()));
    secrets.dedup();
    let mut out = text.to_owned();
    for secret in secrets {
        if out.contains(secret) {
            out = out.replace(secret, REDACTED);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What the mask shows for a secret of each length from 0 to 40.
    const SHOWN_BY_LENGTH: [(usize, usize); 41] = [
        (0, 0),
        (1, 0),
        (2, 0),
        (3, 0),
        (4, 1),
        (5, 1),
        (6, 1),
        (7, 1),
        (8, 2),
        (9, 2),
        (10, 2),
        (11, 2),
        (12, 3),
        (13, 3),
        (14, 3),
        (15, 3),
        (16, 4),
        (17, 4),
        (18, 4),
        (19, 4),
        (20, 4),
        (21, 4),
        (22, 4),
        (23, 4),
        (24, 4),
        (25, 4),
        (26, 4),
        (27, 4),
        (28, 4),
        (29, 4),
        (30, 4),
        (31, 4),
        (32, 4),
        (33, 4),
        (34, 4),
        (35, 4),
        (36, 4),
        (37, 4),
        (38, 4),
        (39, 4),
        (40, 4),
    ];

    /// A secret of `len` characters that never repeats a character, so what the mask shows
    /// can only have come from its end.
    fn secret_of(len: usize) -> String {
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
            .chars()
            .take(len)
            .collect()
    }

    #[test]
    fn masks_show_at_most_the_last_four_and_never_more_than_a_quarter() {
        for (len, shown) in SHOWN_BY_LENGTH {
            let secret = secret_of(len);
            assert_eq!(secret.chars().count(), len);
            let masked = mask(&secret);
            let tail = masked.strip_prefix(MASK).expect("starts with the mask");
            assert_eq!(tail.chars().count(), shown, "length {len}: {masked}");
            assert!(shown <= MAX_SHOWN_CHARS && shown <= len / 4, "length {len}");
            assert!(secret.ends_with(tail), "length {len}: {masked}");
            if len > 0 {
                assert!(!masked.contains(&secret), "length {len}: {masked}");
            }
        }
    }

    #[test]
    fn masks_named_examples() {
        assert_eq!(mask(""), "••••••••");
        assert_eq!(mask("abc"), "••••••••");
        assert_eq!(mask("hunter2"), "••••••••2");
        assert_eq!(mask("12345678"), "••••••••78");
        assert_eq!(mask("ACtest00000000000000000000009f0e"), "••••••••9f0e");
    }

    #[test]
    fn masks_by_character_not_byte() {
        assert_eq!(mask("ääääbbbbccccdddd"), "••••••••dddd");
        assert_eq!(mask("ääääää€€"), "••••••••€€");
    }

    #[test]
    fn scrub_replaces_an_echoed_secret_with_redacted() {
        let token = "testtoken0000000000000000000000ff";
        let answer = format!(r#"{{"code":20003,"message":"Authenticate","token":"{token}"}}"#);
        let scrubbed = scrub(&answer, [token]);
        assert_eq!(
            scrubbed,
            r#"{"code":20003,"message":"Authenticate","token":"[redacted]"}"#
        );
    }

    #[test]
    fn scrub_replaces_every_occurrence_of_every_secret() {
        assert_eq!(
            scrub(
                "tok-123456 at /Accounts/ACabcdef/x tok-123456",
                ["tok-123456", "ACabcdef"]
            ),
            "[redacted] at /Accounts/[redacted]/x [redacted]"
        );
    }

    #[test]
    fn scrub_removes_a_secret_that_contains_another_entirely() {
        let sid = "AC0123456789";
        let longer = "AC0123456789:secret-token-value";
        let scrubbed = scrub(&format!("basic {longer} for {sid}"), [sid, longer]);
        assert_eq!(scrubbed, "basic [redacted] for [redacted]");
    }

    #[test]
    fn scrub_leaves_very_short_values_and_unrelated_text_alone() {
        assert_eq!(scrub("a bad day", ["bad", ""]), "a bad day");
        assert_eq!(scrub("nothing echoed", ["tok-123456"]), "nothing echoed");
    }
}
