//! msgops reads a `.env` exactly as python-dotenv does: a table of tricky files, each parsed
//! by python-dotenv's own `dotenv_values` (the backend's reader) and by
//! `msgops_credentials::dotenv::values`, compared key by key. The comparison is printed as a
//! table.
//!
//! Needs python-dotenv (`.venv/bin/python` at the repository root, or `MSGOPS_PYTHON`).
//! Missing, the test fails under `MSGOPS_REAL_PEERS=1` and is skipped with a note otherwise.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Variables the Python process gets on top of this process's environment, and that msgops'
/// lookup sees the same way.
const ENVIRONMENT: &[(&str, &str)] = &[
    ("MSGOPS_PARITY_FROM_ENV", "from-the-environment"),
    ("MSGOPS_PARITY_EMPTY", ""),
    ("MSGOPS_PARITY_SHADOWED", "environment-value"),
];

/// (case, file content). Every file is valid UTF-8: python-dotenv refuses anything else.
const CASES: &[(&str, &str)] = &[
    ("plain", "A=1\nB=two words\nC = spaced \n  D=indented\n"),
    (
        "export prefix",
        "export A=1\nexport   B=2\n\texport C=3\nexportD=4\nexport=5\nexport E\nexport\tF=6\nexport\n",
    ),
    ("export and nothing else", "export   \nA=1\n"),
    (
        "inline comments",
        "A=val # comment\nB=val#notcomment\nC=val\t# tab comment\nD= # only a comment\nE=#novalue\nF=  #spaced\nG=a # b # c\nH=\"q # not\" # yes\nI='s # not' # yes\n# full line\n   # indented comment\nJ=\"x\"   # c\nK=\"trailing\"# comment\n",
    ),
    (
        "double quotes and escapes",
        "A=\"a\\\"b\"\nB=\"esc \\\\ \\n \\t \\r \\a \\b \\f \\v \\' end\"\nC=\"\\$not \\x41 \\u00e9 \\z\"\nD=\"\"\nE=\"a\"   \nF=\"x\\\\\"\nG= \"spaced quote\"\n",
    ),
    (
        "single quotes",
        "A='a\\'b'\nB='no \\n escapes \\\\ here \\\" either'\nC=''\nD='it''s'\nE='plain'\n",
    ),
    (
        "multi-line values",
        "A=\"line one\nline two\"\nB='single\nmulti'\nC=\"a\\\nb\"\nD=after\nE=\"x\n\n  y\" # c\n",
    ),
    ("CRLF line endings", "A=1\r\nB=\"two\r\nlines\"\r\nC=3 # c\r\nD='x'\r\n"),
    ("lone CR line endings", "A=1\rB=2\rC=\"x\ry\"\r"),
    ("no final newline", "A=1\nB=last"),
    ("byte order mark", "\u{feff}A=1\nB=2\n"),
    (
        "keys",
        "'QUOTED'=v\nKEY-DASH=1\n1DIGIT=2\nKEY.DOT=3\nÜNÏ=ü\nNOVALUE\nNOVALUE2 # c\nK=\nK2 = \nA   =   1\nB\t=\t2\n#=x\nH#B=1\n",
    ),
    (
        "invalid lines and recovery",
        "just words\nGOOD=1\n=nokey\nFOO='a' trailing\nBAR=\"open\nBAZ=3\n",
    ),
    (
        "unclosed double quote closed by a later line",
        "A=\"abc\nB=2\nC=\"x\"\nD=4\n",
    ),
    (
        "unclosed single quote closed by a later line",
        "A='abc\nB=it's\nC=3\n",
    ),
    ("backslash at the end inside quotes", "OK=1\nA=\"abc\\"),
    ("escaped backslash before the closing quote", "A=\"a\\\\\"\nB=1\n"),
    (
        "expansion",
        "BASE=/srv\nA=${BASE}/bin\nB='${BASE}'\nC=\"${BASE}\"\nD=$BASE\nE=${MSGOPS_PARITY_UNSET}\nF=${MSGOPS_PARITY_UNSET:-default}\nG=${BASE:-default}\nH=${MSGOPS_PARITY_FROM_ENV}\nI=${MSGOPS_PARITY_FROM_ENV:-d}\nJ=${LATER}\nLATER=x\nK=${LATER}\nL=${BASE}${BASE}\n",
    ),
    (
        "expansion edge cases",
        "BASE=b\nNOVAL\nA=${NOVAL:-d}\nB=${A:B}\nC=${}\nD=${X:-${BASE}}\nE=$${A}\nF=${BASE\nG=${MSGOPS_PARITY_EMPTY:-d}\nH=${MSGOPS_PARITY_SHADOWED}\nMSGOPS_PARITY_SHADOWED=file\nI=${MSGOPS_PARITY_SHADOWED}\nJ=\"\\${A}\"\nK=${ A }\nL=${HOME}\nM=${MSGOPS_PARITY_UNSET:-}\nN=${A:-x:-y}\n",
    ),
    (
        "duplicates",
        "D=1\nD=${D}2\nD=\nE=first\nE=second\nF=${E}\n",
    ),
    (
        "kinds of whitespace",
        "A=a\u{a0}#nbsp comment\nB=b\u{2003}#em space\nC=c\u{1f}#unit separator\nD=\u{b}vt\n\u{c}E=ff\nF=f\u{85}#next line\n",
    ),
    (
        "equals signs and URLs in values",
        "URL=postgres://u:p@h/db?x=1&y=2\nQ='a=b'\nR=a=b=c\n",
    ),
    (
        "unicode values",
        "A=héllo wörld\nB=\"日本語\"\nC=emoji 🎉 # c\nD='ü'\n",
    ),
    ("empty file", ""),
    ("only comments and blank lines", "# a\n\n  # b\n\n"),
    (
        "a backend .env",
        "# Backend configuration\r\nAPP_NAME=otp-backend\r\nexport AWS_ACCESS_KEY_ID=AKIAEXAMPLE-TEST-KEY-ID\r\nAWS_SECRET_ACCESS_KEY=\"aws-secret-test-value-not-real-0000\"\r\nAWS_REGION=us-east-1\r\nTWILIO_ACCOUNT_SID='ACtest0000000000000000000000sid01'\r\nTWILIO_AUTH_TOKEN=oldtoken-test-0000000000000000aa # expired?\r\nTWILIO_PHONE_NUMBER=+14165550100\r\nSENDGRID_API_KEY=\r\nSMTP_HOST=smtp.gmail.com\r\nSMTP_PORT=587\r\nSMTP_USERNAME=alerts@example.com\r\nSMTP_PASSWORD=first-password-test\r\nSMTP_PASSWORD=smtp-app-password-test-0000\r\nSMTP_FROM_EMAIL=\"Example <alerts@example.com>\"\r\nthis line is not an assignment\r\n\r\nDEBUG=true # trailing\r\n",
    ),
    (
        "secrets built from other lines",
        "PREFIX=sk\nTOKEN=${PREFIX}-secret\nexport TWILIO_AUTH_TOKEN=\"${TOKEN}\"\nSMTP_PASSWORD=${MSGOPS_PARITY_FROM_ENV}\n",
    ),
];

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn real_peers_required() -> bool {
    std::env::var("MSGOPS_REAL_PEERS").is_ok_and(|v| v == "1")
}

/// A Python that can import python-dotenv, or why not.
fn python_with_dotenv() -> Result<PathBuf, String> {
    let python = std::env::var_os("MSGOPS_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join(".venv/bin/python"));
    if !python.exists() {
        return Err(format!(
            "no Python at {} (set MSGOPS_PYTHON, or run scripts/setup.sh)",
            python.display()
        ));
    }
    let ok = Command::new(&python)
        .args(["-c", "import dotenv"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if ok {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import dotenv (pip install python-dotenv)",
            python.display()
        ))
    }
}

/// python-dotenv's reading of each file: `{path: {key: value or null}}`.
fn python_dotenv_values(python: &Path, files: &[PathBuf]) -> serde_json::Value {
    let script = "import json, sys\n\
                  from dotenv import dotenv_values\n\
                  print(json.dumps({p: dotenv_values(p) for p in sys.argv[1:]}))\n";
    let mut command = Command::new(python);
    command.arg("-c").arg(script).args(files);
    for (name, value) in ENVIRONMENT {
        command.env(name, value);
    }
    let output = command.output().expect("run python");
    assert!(
        output.status.success(),
        "python-dotenv failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("python's JSON")
}

fn msgops_environment(name: &str) -> Option<String> {
    ENVIRONMENT
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| (*v).to_owned())
        .or_else(|| std::env::var(name).ok())
}

fn show(value: Option<&Option<String>>) -> String {
    match value {
        None => "(absent)".to_owned(),
        Some(None) => "None".to_owned(),
        Some(Some(v)) => {
            let escaped: String = v.escape_debug().collect();
            if escaped.chars().count() > 34 {
                format!("\"{}…\"", escaped.chars().take(33).collect::<String>())
            } else {
                format!("\"{escaped}\"")
            }
        }
    }
}

#[test]
fn every_env_file_of_the_table_reads_as_python_dotenv_reads_it() {
    let python = match python_with_dotenv() {
        Ok(p) => p,
        Err(reason) => {
            assert!(
                !real_peers_required(),
                "MSGOPS_REAL_PEERS=1 but python-dotenv is unavailable: {reason}"
            );
            eprintln!("SKIPPED (set MSGOPS_REAL_PEERS=1 to make this a failure): {reason}");
            return;
        }
    };
    let dir = tempfile::tempdir().expect("tempdir");
    let files: Vec<PathBuf> = CASES
        .iter()
        .enumerate()
        .map(|(i, (_, text))| {
            let path = dir.path().join(format!("case-{i:02}.env"));
            std::fs::write(&path, text).expect("write case");
            path
        })
        .collect();
    let reference = python_dotenv_values(&python, &files);

    let mut table = String::new();
    let mut rows = 0;
    let mut mismatches = Vec::new();
    table.push_str(&format!(
        "\n{:<44} {:<24} {:<36} {:<36} same\n",
        "case", "key", "python-dotenv", "msgops"
    ));
    for ((case, text), path) in CASES.iter().zip(&files) {
        let theirs: BTreeMap<String, Option<String>> =
            serde_json::from_value(reference[path.to_string_lossy().as_ref()].clone())
                .expect("python's values for the case");
        let ours = msgops_credentials::dotenv::values(text.as_bytes(), &msgops_environment);
        let keys: BTreeSet<&String> = theirs.keys().chain(ours.keys()).collect();
        if keys.is_empty() {
            table.push_str(&format!(
                "{case:<44} {:<24} {:<36} {:<36} yes\n",
                "(no keys)", "{}", "{}"
            ));
            rows += 1;
        }
        for key in keys {
            let (t, o) = (theirs.get(key), ours.get(key));
            let same = t == o;
            let shown_key: String = key.escape_debug().collect();
            table.push_str(&format!(
                "{case:<44} {shown_key:<24} {:<36} {:<36} {}\n",
                show(t),
                show(o),
                if same { "yes" } else { "NO" }
            ));
            rows += 1;
            if !same {
                mismatches.push(format!("{case}: {key}: python-dotenv {t:?}, msgops {o:?}"));
            }
        }
    }
    table.push_str(&format!(
        "{} cases, {rows} keys compared, {} differ\n",
        CASES.len(),
        mismatches.len()
    ));
    // Straight to stderr, past the test harness' capture: the table is part of the output.
    let _ = std::io::stderr().write_all(table.as_bytes());
    assert!(
        mismatches.is_empty(),
        "msgops reads these differently from python-dotenv:\n{}",
        mismatches.join("\n")
    );
    assert!(rows > 100, "the table compares many keys, not {rows}");
}
