//! A rewritten secret file takes effect without a restart.

use std::time::{Duration, Instant};

use crate::common::*;
use webhook_gateway::settings::Config;

/// Gateway settings with the Transfers token read from `file`, checked every second.
fn token_file_env(
    broker: &Broker,
    file: &std::path::Path,
) -> std::collections::HashMap<String, String> {
    let mut env = gateway_env(&broker.bootstrap(), &[("GATEWAY_SECRET_RELOAD_SECS", "1")]);
    env.remove("TRANSFERS_SIGNATURE_TOKEN");
    env.insert(
        "TRANSFERS_SIGNATURE_TOKEN_FILE".into(),
        file.to_str().unwrap().into(),
    );
    env
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_rewritten_secret_file_takes_effect_without_restart() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "old-token\n").unwrap();
    let env = token_file_env(&broker, &file);
    let gw = Gateway::start_ready(env).await;

    let send_with = |secret: &'static str, n: usize| {
        let public = gw.public;
        async move {
            let body = transfers_body(n);
            let headers = vec![(
                "x-transfers-signature".to_string(),
                hmac_hex(secret, &[&body]),
            )];
            request(public, "POST", "/webhooks/transfers", &headers, body)
                .await
                .unwrap()
                .status
        }
    };
    assert_eq!(send_with("old-token", 1).await, 200);
    // Replace the file the way Kubernetes does: write aside, then rename over.
    let staged = dir.path().join("token.new");
    std::fs::write(&staged, "new-token\n").unwrap();
    std::fs::rename(&staged, &file).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while send_with("new-token", 2).await != 200 {
        assert!(
            Instant::now() < deadline,
            "the new secret never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        send_with("old-token", 3).await,
        401,
        "the old secret stops verifying"
    );

    // A broken file keeps the secrets in force.
    std::fs::write(&file, "\n").unwrap();
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(send_with("new-token", 4).await, 200);
    gw.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_secret_file_rotated_between_loading_and_watching_takes_effect() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("token");
    std::fs::write(&file, "old-token\n").unwrap();
    let env = token_file_env(&broker, &file);
    let config = Config::from_env(&env).unwrap();
    // The rotation lands after start-up read the file, before its watcher first looks.
    std::fs::write(&file, "new-token\n").unwrap();
    let gw = Gateway::start_config(config).await;
    gw.wait_ready().await;

    let body = transfers_body(1);
    let headers = vec![(
        "x-transfers-signature".to_string(),
        hmac_hex("new-token", &[&body]),
    )];
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let reply = request(
            gw.public,
            "POST",
            "/webhooks/transfers",
            &headers,
            body.clone(),
        )
        .await
        .unwrap();
        if reply.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the secret rotated before the watcher started never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    gw.stop().await;
}
