//! `msgops send sms` tells the operator how the body will be billed before sending.

use std::process::Command;

fn send(body: &str) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_msgops"))
        .args(["send", "sms", "+14165550123", "--emulated", "--body", body])
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn sms_length_is_shown_as_gsm7_or_ucs2_with_its_segments() {
    let (code, err) = send("Your code is 091282");
    assert_eq!(code, 0, "{err}");
    assert!(
        err.contains("19 GSM-7 units: 1 segment(s) of up to 160"),
        "{err}"
    );
    let (_, err) = send("Your code is 091282 — thanks");
    assert!(err.contains("UCS-2"), "{err}");
    let (_, err) = send(&"x".repeat(161));
    assert!(err.contains("2 segment(s) of up to 153"), "{err}");
}
