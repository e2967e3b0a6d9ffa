//! Three `msgops serve` (the built binary, emulated providers) writing their sends into one real
//! PostgreSQL (`[history] url`, started by the test), and `msgops history` — another process —
//! listing all three instances' sends from it, newest first, each marked with its own process.
#![allow(clippy::unwrap_used)]

#[path = "../../history/tests/common/pg.rs"]
mod pg;

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::serve::{create_token, msgops, start_serve};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread")]
async fn the_history_of_three_instances_is_in_one_postgresql_and_the_cli_lists_it() {
    let Some(pg) = tokio::task::spawn_blocking(pg::Postgres::start)
        .await
        .unwrap()
    else {
        return;
    };
    let url = pg.database("msgops");
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut instances = Vec::new();
    for dir in &dirs {
        std::fs::write(
            dir.path().join("config.toml"),
            format!("[history]\nurl = \"{url}\"\n"),
        )
        .unwrap();
        let token = create_token(dir.path(), "ops", "operate");
        instances.push((start_serve(dir.path()), token));
    }
    let http = reqwest::Client::new();
    for (i, (serve, token)) in instances.iter().enumerate() {
        let answer = http
            .post(format!("http://{}/api/v1/messages/sms", serve.addr))
            .bearer_auth(token)
            .json(&json!({"to": format!("+1416555030{i}"), "body": "Your code is 271828", "code": "271828"}))
            .send()
            .await
            .unwrap();
        assert_eq!(answer.status().as_u16(), 200, "instance {i} delivered");
    }

    // Each service records its send just after it answers.
    let deadline = Instant::now() + Duration::from_secs(15);
    let page = loop {
        let out = msgops(dirs[0].path())
            .args(["history", "--json", "--url", &url])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let page: Value = serde_json::from_slice(&out.stdout).unwrap();
        if page["total"] == 3 || Instant::now() > deadline {
            break page;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert_eq!(page["total"], 3, "{page}");
    let sends = page["sends"].as_array().unwrap();
    let recipients: Vec<&str> = sends
        .iter()
        .map(|s| s["recipient"].as_str().unwrap())
        .collect();
    assert_eq!(
        recipients,
        ["+14165550302", "+14165550301", "+14165550300"],
        "newest first"
    );
    assert!(sends.iter().all(|s| s["origin"]["kind"] == "service"));
    let pids: BTreeSet<u64> = sends
        .iter()
        .map(|s| s["origin"]["pid"].as_u64().unwrap())
        .collect();
    assert_eq!(pids.len(), 3, "three processes: {pids:?}");

    // Each instance's own API lists all three as well: one store.
    let (serve, token) = &instances[2];
    let listed: Value = http
        .get(format!("http://{}/api/v1/sends?channel=sms", serve.addr))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["total"], 3, "{listed}");
}
