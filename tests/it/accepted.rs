//! A sender's own acknowledgement (`accepted:`): given only once the broker
//! has acknowledged the record, never instead of a 503. Discord wants 204,
//! Twilio an empty TwiML document; whatever the definition says, the record
//! is on its topic before the sender reads it.

use crate::common::*;

const PROVIDERS: &str = r#"providers:
  - name: quiet
    secret: {env: QUIET_SECRET}
    signature: {header: x-quiet-signature}
    event: {name: /type, data: /data}
    accepted: {status: 204}
    events:
      - {name: ping, type: quiet.ping, subject: /data/id}
  - name: twimlish
    secret: {env: TWIMLISH_SECRET}
    signature: {header: x-twimlish-signature}
    event: {name: /type, data: /data}
    accepted: {content_type: text/xml, body: "<Response/>"}
    events:
      - {name: ping, type: twimlish.ping, subject: /data/id}
"#;

const SECRET: &str = "accepted-test-secret";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn the_senders_own_acknowledgement_comes_after_the_ack_and_never_instead_of_a_503() {
    let _serial = serial().await;
    let broker = Broker::start();
    let (gateway, _dir) = gateway_with_providers(
        &broker,
        PROVIDERS,
        &[
            ("QUIET_SECRET", SECRET),
            ("TWIMLISH_SECRET", SECRET),
            ("GATEWAY_PUBLISH_TIMEOUT_MS", "1500"),
        ],
    )
    .await;

    let body = br#"{"type":"ping","data":{"id":"p-1"}}"#;
    let signed = |header: &str| json_headers(&[(header, hmac_hex(SECRET, &[body]))]);

    let reply = gateway
        .post("quiet", signed("x-quiet-signature"), body)
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    assert!(reply.body.is_empty());
    assert!(reply.headers.get("content-type").is_none());

    let reply = gateway
        .post("twimlish", signed("x-twimlish-signature"), body)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.headers["content-type"], "text/xml");
    assert_eq!(reply.text(), "<Response/>");

    for topic in ["webhooks.quiet.ping", "webhooks.twimlish.ping"] {
        let records = read_topic(
            &broker.bootstrap(),
            topic,
            1,
            std::time::Duration::from_secs(10),
        );
        assert_eq!(records.len(), 1, "{topic}: the record before the answer");
        assert_eq!(record_key(&records[0]), "p-1");
    }

    broker.freeze();
    let reply = gateway
        .post("quiet", signed("x-quiet-signature"), body)
        .await;
    broker.thaw();
    assert_eq!(
        reply.status,
        503,
        "no ack, no acknowledgement: {}",
        reply.text()
    );
    assert!(reply.headers.get("retry-after").is_some());
    assert_eq!(reply.json()["error"], "broker_unavailable");
}
