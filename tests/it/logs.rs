//! Logs carry ids, never account data, secrets or signatures.

use std::process::Stdio;

use crate::common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn logs_carry_ids_but_never_account_data_secrets_or_signatures() {
    let _serial = serial().await;
    let broker = Broker::start();
    broker.create_default_topics();
    let mut env = gateway_env(
        &broker.bootstrap(),
        &[("LOG_FORMAT", "json"), ("RUST_LOG", "debug")],
    );
    env.remove("GATEWAY_LISTEN_ADDR");
    env.remove("GATEWAY_ADMIN_ADDR");
    // A sender with a handshake: logged by name, its challenge never.
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers.yaml");
    std::fs::write(
        &providers,
        "providers:\n  - {name: dropbox, preset: dropbox, secret: {env: DROPBOX_APP_SECRET}}\n",
    )
    .unwrap();
    env.insert(
        "GATEWAY_PROVIDERS_FILE".into(),
        providers.to_str().unwrap().into(),
    );
    env.insert("DROPBOX_APP_SECRET".into(), "dropbox-app-secret".into());
    let mut gateway = Process::start(&env, Stdio::piped());
    gateway.wait_ready().await;

    let name = "Zebulon Quixote-Farnsworth";
    let (source, destination) = ("9988776655", "1122334455");
    let body = format!(
        r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"u-77","paymentReference":"pay-log-1","amount":10.00,"senderAccountName":"{name}","sourceAccountNumber":"{source}","sourceBankCode":"058","destinationAccountNumber":"{destination}","destinationBankCode":"044"}}}}"#
    );
    let signature = hmac_hex(TRANSFERS_SECRET, &[body.as_bytes()]);
    let ok = send_signed(gateway.public, "transfers", body.as_bytes())
        .await
        .unwrap();
    assert_eq!(ok.status, 200);
    let id = ok.json()["id"].as_str().unwrap().to_owned();
    let forged = vec![(
        "x-transfers-signature".to_string(),
        hmac_hex("guess", &[body.as_bytes()]),
    )];
    request(
        gateway.public,
        "POST",
        "/webhooks/transfers",
        &forged,
        body.clone().into_bytes(),
    )
    .await
    .unwrap();
    let m2m = br#"{"event":"link.opened","data":{"linkId":"lnk-log"}}"#;
    let m2m_headers = m2m_headers(m2m);
    request(
        gateway.public,
        "POST",
        "/webhooks/m2m",
        &m2m_headers,
        m2m.to_vec(),
    )
    .await
    .unwrap();

    let challenge = "canaryChallenge4f1e";
    let path = format!("/webhooks/dropbox?challenge={challenge}");
    let answered = get(gateway.public, &path).await.unwrap();
    assert_eq!(answered.text(), challenge);

    signal(gateway.pid(), libc::SIGTERM);
    let logs = gateway.stderr_to_end();
    let handshake = logs
        .lines()
        .find(|l| l.contains(r#""handshake":"challenge""#))
        .unwrap_or_else(|| panic!("no handshake line in {logs}"));
    assert!(
        handshake.contains(r#""provider":"dropbox""#)
            && handshake.contains(r#""outcome":"answered""#),
        "{handshake}"
    );
    assert!(
        logs.contains(&id) && logs.contains("pay-log-1"),
        "the request line names the event and payment reference"
    );
    for forbidden in [
        name,
        source,
        destination,
        TRANSFERS_SECRET,
        M2M_SECRET,
        &signature,
        &m2m_headers[2].1,
        &forged[0].1,
        challenge,
    ] {
        assert!(!logs.contains(forbidden), "logs contain {forbidden:?}");
    }
}
