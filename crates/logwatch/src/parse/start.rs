//! Provider initialisation lines (`AWS SNS initialized as PRIMARY SMS provider`): the backend
//! (re)started, which the stale-configuration check compares with the `.env`'s change time.

use std::sync::LazyLock;

use regex::Regex;

static START_RE: LazyLock<Regex> = LazyLock::new(|| {
    #[allow(clippy::expect_used)]
    Regex::new(
        r"(?i)^\s*(?P<provider>.+?)\s+initiali[sz]ed\s+as\s+(?P<role>[a-z_]+)\s+(?P<channel>sms|email|e-mail)\s+provider",
    )
    .expect("constant regex")
});

pub(crate) struct StartLine<'a> {
    pub provider: &'a str,
    pub role: &'a str,
    pub channel: &'a str,
}

pub(crate) fn parse_backend_start(msg: &str) -> Option<StartLine<'_>> {
    if !msg.contains("nitiali") {
        return None;
    }
    let caps = START_RE.captures(msg)?;
    Some(StartLine {
        provider: caps.name("provider")?.as_str(),
        role: caps.name("role")?.as_str(),
        channel: caps.name("channel")?.as_str(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_initialisation_line_is_a_backend_start() {
        let s = parse_backend_start("AWS SNS initialized as PRIMARY SMS provider").unwrap();
        assert_eq!(
            (s.provider, s.role, s.channel),
            ("AWS SNS", "PRIMARY", "SMS")
        );
    }
}
