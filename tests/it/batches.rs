//! Requests that carry several events (`batch:`), end to end through real
//! HTTP and the broker: one record per item on its own topic, in order; 2xx
//! only once every one is acknowledged, answered with every id; an item that
//! is not an event dead-letters alone with its index; a redelivery keeps
//! every id; `[]` publishes nothing; a body that is no batch dead-letters whole.

use rdkafka::message::Message;

use crate::common::*;

const PROVIDERS: &str = r#"providers:
  - name: okta
    preset: okta
    secret: {env: OKTA_HOOK_SECRET}
    events:
      - {name: user.session.start, type: okta.user.session.start, subject: /actor/id}
"#;
const TOKEN: &str = "okta-hook-secret-value";

fn auth() -> Vec<(String, String)> {
    json_headers(&[("authorization", TOKEN.to_owned())])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_batch_is_one_record_per_item_answered_with_every_id_after_every_ack() {
    let _serial = serial().await;
    let broker = Broker::start();
    let (gateway, _dir) = gateway_with_providers(
        &broker,
        PROVIDERS,
        &[
            ("OKTA_HOOK_SECRET", TOKEN),
            ("GATEWAY_PUBLISH_TIMEOUT_MS", "1500"),
        ],
    )
    .await;
    let post = |body: &'static [u8]| {
        let gateway = &gateway;
        async move { gateway.post("okta", auth(), body).await }
    };

    // A routed event, one the catalogue does not know, and an item that is no event.
    let body: &[u8] = br#"{"data":{"events":[
        {"uuid":"u-1","eventType":"user.session.start","published":"2024-01-01T00:00:00Z","actor":{"id":"00u1"}},
        {"uuid":"u-2","eventType":"user.lifecycle.create","actor":{"id":"00u2"}},
        7
    ]}}"#;
    let reply = post(body).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let ids: Vec<String> = serde_json::from_value(reply.json()["ids"].clone()).unwrap();
    assert_eq!(ids.len(), 3, "every item's id, in order");

    let typed = read_topic(
        &broker.bootstrap(),
        "webhooks.okta.user.session.start",
        1,
        std::time::Duration::from_secs(10),
    );
    assert_eq!(
        header(&typed[0], "event-id").as_deref(),
        Some(ids[0].as_str())
    );
    assert_eq!(record_key(&typed[0]), "00u1");
    assert_eq!(value_json(&typed[0])["deliveryid"], "u-1");
    assert_eq!(
        value_json(&typed[0])["data"]["actor"]["id"],
        "00u1",
        "the item is the data"
    );

    let unrouted = read_topic(
        &broker.bootstrap(),
        "webhooks.unrouted",
        1,
        std::time::Duration::from_secs(10),
    );
    assert_eq!(
        header(&unrouted[0], "event-id").as_deref(),
        Some(ids[1].as_str())
    );
    assert_eq!(
        header(&unrouted[0], "event-type").as_deref(),
        Some("okta.unknown")
    );
    assert_eq!(header(&unrouted[0], "x-batch-index").as_deref(), Some("1"));

    let dead = read_topic(
        &broker.bootstrap(),
        "webhooks.deadletter",
        1,
        std::time::Duration::from_secs(10),
    );
    assert_eq!(
        header(&dead[0], "event-id").as_deref(),
        Some(ids[2].as_str())
    );
    assert_eq!(header(&dead[0], "x-batch-index").as_deref(), Some("2"));
    assert_eq!(dead[0].payload(), Some(&b"7"[..]), "the item alone");

    // A redelivery (Okta retries once) keeps every id.
    let again = post(body).await;
    assert_eq!(again.json()["ids"], reply.json()["ids"]);

    // An empty batch is acknowledged and publishes nothing.
    let empty = post(br#"{"data":{"events":[]}}"#).await;
    assert_eq!(empty.status, 200);
    assert_eq!(empty.json()["ids"], serde_json::json!([]));

    // A body that is no batch is verified, then kept whole as a dead letter.
    let reply = post(br#"{"data":{"event":"one"}}"#).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let dead = read_topic(
        &broker.bootstrap(),
        "webhooks.deadletter",
        3,
        std::time::Duration::from_secs(10),
    );
    let reasons: Vec<_> = dead
        .iter()
        .filter_map(|m| header(m, "x-deadletter-reason"))
        .collect();
    assert!(reasons.contains(&"not_batch".to_owned()), "{reasons:?}");

    // A wrong token is refused before anything is read.
    let forged = gateway
        .post(
            "okta",
            json_headers(&[("authorization", "guess".into())]),
            body,
        )
        .await;
    assert_eq!(forged.status, 401);

    // Any failure fails the whole request: its retry republishes all.
    broker.freeze();
    let frozen = post(body).await;
    broker.thaw();
    assert_eq!(frozen.status, 503, "{}", frozen.text());
}

/// Microsoft Graph: no signature header, the subscription's clientState in
/// every notification; one forged notification refuses the whole request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_token_in_every_item_is_checked_in_every_item() {
    let _serial = serial().await;
    let broker = Broker::start();
    let (gateway, _dir) = gateway_with_providers(
        &broker,
        r#"providers:
  - name: graph
    preset: microsoft-graph
    secret: {env: GRAPH_CLIENT_STATE}
    events:
      - {name: created, type: graph.created, subject: /resourceData/id}
"#,
        &[("GRAPH_CLIENT_STATE", "graph-client-state")],
    )
    .await;
    // Two notifications about one user (one key, so one partition).
    let notification = |resource: &str, state: &str| {
        format!(
            r#"{{"subscriptionId":"s-1","changeType":"created","clientState":"{state}","resource":"Users/u-1/{resource}","resourceData":{{"id":"u-1"}}}}"#
        )
    };
    let body = format!(
        r#"{{"value":[{},{}]}}"#,
        notification("first", "graph-client-state"),
        notification("second", "graph-client-state")
    );
    let reply = gateway
        .post("graph", json_headers(&[]), body.as_bytes())
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["ids"].as_array().unwrap().len(), 2);
    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.graph.created",
        2,
        std::time::Duration::from_secs(10),
    );
    let resources: Vec<String> = records
        .iter()
        .map(|r| {
            value_json(r)["data"]["resource"]
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(
        resources,
        ["Users/u-1/first", "Users/u-1/second"],
        "items with one key keep the array's order"
    );

    let forged = format!(
        r#"{{"value":[{},{}]}}"#,
        notification("third", "graph-client-state"),
        notification("fourth", "guess")
    );
    let reply = gateway
        .post("graph", json_headers(&[]), forged.as_bytes())
        .await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "signature_mismatch");
}
