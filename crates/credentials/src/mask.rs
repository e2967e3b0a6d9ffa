//! Masking of secret values for display: the only form in which a secret ever leaves this crate
//! towards a screen, a log or a file.

/// Shows the first 4 and last 4 characters around an ellipsis: `ACb1…9f0e`. Values of 12
/// characters or fewer are fully masked (`••••••••`): showing 8 of them would reveal most of it.
pub fn mask(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    if chars.len() <= 12 {
        return "•".repeat(8);
    }
    let head: String = chars[..4].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// Replaces every occurrence of any of `secrets` in `text` with its masked form. Used on text
/// that comes from outside (a provider's error message) before it is shown or recorded, in
/// case the outside echoes a credential back.
pub fn scrub<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    for secret in secrets {
        if secret.len() >= 4 && out.contains(secret) {
            out = out.replace(secret, &mask(secret));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_long_values_to_first_four_and_last_four() {
        assert_eq!(mask("ACb1234567890abcdef1234567890f0e"), "ACb1…0f0e");
        assert_eq!(mask("ACtest00000000000000000000009f0e"), "ACte…9f0e");
    }

    #[test]
    fn masks_short_values_completely() {
        assert_eq!(mask(""), "••••••••");
        assert_eq!(mask("hunter2"), "••••••••");
        assert_eq!(mask("123456789012"), "••••••••");
        assert_eq!(mask("1234567890123"), "1234…0123");
    }

    #[test]
    fn masks_by_character_not_byte() {
        assert_eq!(mask("ääääbbbbccccdddd"), "ääää…dddd");
    }

    #[test]
    fn scrub_removes_echoed_secrets() {
        let token = "testtoken0000000000000000000000ff";
        let text = format!("bad token {token} given");
        let scrubbed = scrub(&text, [token]);
        assert!(!scrubbed.contains(token));
        assert!(scrubbed.contains("test…00ff"));
    }
}
