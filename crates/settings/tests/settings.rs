//! Settings drafts: every bad value named by its field, and only good drafts written.
#![allow(clippy::unwrap_used)]

use msgops_core::config::Config;
use msgops_core::ProviderKind;
use msgops_settings::{check, Settings, Severity};

fn problem_fields(s: &Settings) -> Vec<(String, Severity)> {
    check(s)
        .into_iter()
        .map(|p| (p.field, p.severity))
        .collect()
}

#[test]
fn defaults_are_the_incident_numbers_and_valid() {
    let s = Settings::of(&Config::default());
    let ids: Vec<_> = s.providers.iter().map(|p| p.id.as_str()).collect();
    assert_eq!(ids, ["sns", "twilio", "console", "ses", "sendgrid", "smtp"]);
    let sns = &s.providers[0];
    assert_eq!(
        (sns.failure_threshold, sns.open_secs, sns.rate_per_second),
        (5, 300, 10.0)
    );
    let twilio = &s.providers[1];
    assert_eq!(
        (twilio.failure_threshold, twilio.open_secs, twilio.cost_usd),
        (3, 180, 0.0075)
    );
    assert_eq!(s.logs.code_lifetime_secs, 600);
    assert!(check(&s).is_empty(), "{:?}", check(&s));
}

#[test]
fn each_bad_value_is_named_by_its_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::of(&Config::default());
    let log = dir.path().join("backend.log");
    std::fs::write(&log, "").unwrap();
    s.logs.follow = vec![
        log.display().to_string(),
        "logs/backend.log".into(),
        log.display().to_string(),
        dir.path().display().to_string(),
        "".into(),
    ];
    s.logs.code_lifetime_secs = 0;
    s.logs.patterns = vec![
        r"code (?P<code>\d{6})".into(),
        r"code (\d{6})".into(),
        "(unclosed".into(),
    ];
    s.providers[0].failure_threshold = 5000;
    s.providers[1].open_secs = 0;
    s.providers[3].rate_per_second = -1.0;
    s.providers[4].cost_usd = f64::NAN;
    let fields: Vec<_> = problem_fields(&s).into_iter().map(|(f, _)| f).collect();
    assert_eq!(
        fields,
        [
            "logs.follow.1",
            "logs.follow.2",
            "logs.follow.3",
            "logs.follow.4",
            "logs.code_lifetime_secs",
            "logs.patterns.1",
            "logs.patterns.2",
            "providers.sns.failure_threshold",
            "providers.twilio.open_secs",
            "providers.ses.rate_per_second",
            "providers.sendgrid.cost_usd",
        ]
    );
    let messages: Vec<_> = check(&s).into_iter().map(|p| p.message).collect();
    assert!(messages[0].contains("relative"), "{}", messages[0]);
    assert!(messages[1].contains("twice"));
    assert!(
        messages[5].contains("named group `code`"),
        "{}",
        messages[5]
    );
}

#[test]
fn a_log_that_does_not_exist_yet_is_a_warning_that_does_not_block_saving() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = Settings::of(&Config::default());
    s.logs.follow = vec![dir.path().join("later.log").display().to_string()];
    assert_eq!(
        problem_fields(&s),
        [("logs.follow.0".to_string(), Severity::Warning)]
    );
    let mut config = Config::default();
    let warnings = s.apply_to(&mut config).unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(config.logs.follow, [dir.path().join("later.log")]);
}

#[test]
fn a_zero_threshold_never_opens_and_needs_no_cool_down() {
    let mut s = Settings::of(&Config::default());
    s.providers[0].failure_threshold = 0;
    s.providers[0].open_secs = 0;
    assert!(check(&s).is_empty());
}

#[test]
fn saving_writes_only_what_differs_from_the_defaults_and_round_trips() {
    let mut config = Config::default();
    config.service.listen = "127.0.0.1:6001".into();
    let mut s = Settings::of(&config);
    s.providers[1].failure_threshold = 4;
    s.providers[1].open_secs = 180; // unchanged default
    s.logs.code_lifetime_secs = 300;
    s.logs.patterns = vec![r"OTP for (?P<recipient>\S+): (?P<code>\d{6})".into()];
    s.apply_to(&mut config).unwrap();

    let twilio = config.policy(ProviderKind::Twilio);
    assert_eq!(twilio.failure_threshold, Some(4));
    assert_eq!(twilio.open_secs, None, "a default stays a default");
    assert_eq!(
        config.service.listen, "127.0.0.1:6001",
        "the rest of the file is kept"
    );
    let reread = Config::from_toml(&config.to_toml(), "test").unwrap();
    assert_eq!(Settings::of(&reread), s);
}

#[test]
fn a_draft_with_an_error_leaves_the_config_untouched() {
    let mut config = Config::default();
    let before = config.clone();
    let mut s = Settings::of(&config);
    s.providers[0].failure_threshold = 2;
    s.logs.code_lifetime_secs = 0;
    let problems = s.apply_to(&mut config).unwrap_err();
    assert_eq!(problems[0].field, "logs.code_lifetime_secs");
    assert_eq!(config, before);
}

/// The configuration file and the Settings page apply one rule: a value the page refuses, the
/// file refuses too (naming the same provider and field), and the other way round.
#[test]
fn the_file_and_the_page_refuse_the_same_values() {
    let cases: [(&str, &str, &str); 7] = [
        ("twilio", "open_secs", "0"),
        ("sns", "open_secs", "86401"),
        ("twilio", "failure_threshold", "1001"),
        ("ses", "rate_per_second", "-1.0"),
        ("sendgrid", "rate_per_second", "10001.0"),
        ("smtp", "cost_usd", "11.0"),
        ("console", "cost_usd", "-0.5"),
    ];
    for (provider, field, value) in cases {
        let text = format!("[{provider}.policy]\n{field} = {value}\n");
        let from_file = Config::from_toml(&text, "msgops.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            from_file.contains(&format!("{provider}.policy.{field}")),
            "the file took {provider}.{field} = {value}: {from_file:?}"
        );

        let mut draft = Settings::of(&Config::default());
        let p = draft
            .providers
            .iter_mut()
            .find(|p| p.id.as_str() == provider)
            .unwrap();
        let v: f64 = value.parse().unwrap();
        match field {
            "open_secs" => p.open_secs = v as u64,
            "failure_threshold" => p.failure_threshold = v as u32,
            "rate_per_second" => p.rate_per_second = v,
            _ => p.cost_usd = v,
        }
        if v < 0.0 && matches!(field, "open_secs" | "failure_threshold") {
            continue; // not representable in the page's unsigned fields
        }
        assert!(
            problem_fields(&draft)
                .contains(&(format!("providers.{provider}.{field}"), Severity::Error)),
            "the page took {provider}.{field} = {value}"
        );
    }
    // And both take the defaults, and the boundaries.
    let text = "[twilio.policy]\nopen_secs = 86400\nfailure_threshold = 1000\n\
                [console.policy]\nfailure_threshold = 0\nopen_secs = 0\n";
    let config = Config::from_toml(text, "msgops.toml").unwrap();
    assert!(check(&Settings::of(&config)).is_empty());
}
