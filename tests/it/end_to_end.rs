//! The gateway's contract, end to end: real HTTP over sockets in, a real
//! Kafka-protocol broker (tansu) out, each record read back and checked.

use std::time::Duration;

use crate::common::*;
use rdkafka::message::{Message, OwnedMessage};
use serde::Deserialize;
use serde_json::value::RawValue;

struct Case {
    provider: &'static str,
    data: &'static str,
    event: &'static str,
    topic: &'static str,
    event_type: &'static str,
    subject: Option<&'static str>,
    userid: Option<&'static str>,
    time: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        provider: "m2m",
        event: "link.created",
        data: r#"{"linkId":"lnk-1","referenceId":"user-7","url":"https://widget.example/l/lnk-1","expiresAt":"2026-12-01T00:00:00Z","createdAt":"2026-11-23T10:00:00Z"}"#,
        topic: "webhooks.m2m.link.created",
        event_type: "m2m.link.created",
        subject: Some("lnk-1"),
        userid: Some("user-7"),
        time: Some("2026-11-23T10:00:00Z"),
    },
    Case {
        provider: "m2m",
        event: "link.opened",
        data: r#"{"linkId":"lnk-1","referenceId":"user-7"}"#,
        topic: "webhooks.m2m.link.opened",
        event_type: "m2m.link.opened",
        subject: Some("lnk-1"),
        userid: Some("user-7"),
        time: None,
    },
    Case {
        provider: "m2m",
        event: "user.data_request",
        data: r#"{"dataRequestId":"dr-1","referenceId":"user-7"}"#,
        topic: "webhooks.m2m.user.data_request",
        event_type: "m2m.user.data_request",
        subject: Some("dr-1"),
        userid: Some("user-7"),
        time: None,
    },
    Case {
        provider: "m2m",
        event: "operation.created",
        data: r#"{"operationId":"op-1","referenceId":"user-7","amount":{"send":100.10,"receive":99.5,"fee":0.60},"status":"completed","createdAt":"2026-11-23T10:05:00.250+02:00"}"#,
        topic: "webhooks.m2m.operation.created",
        event_type: "m2m.operation.created",
        subject: Some("op-1"),
        userid: Some("user-7"),
        time: Some("2026-11-23T08:05:00.25Z"),
    },
    Case {
        provider: "m2m",
        event: "operation.cancelled",
        data: r#"{"operationId":"op-1","referenceId":"user-7"}"#,
        topic: "webhooks.m2m.operation.cancelled",
        event_type: "m2m.operation.cancelled",
        subject: Some("op-1"),
        userid: Some("user-7"),
        time: None,
    },
    Case {
        provider: "transfers",
        event: "Payment.Status",
        data: r#"{"status":"Completed","userId":"u-1","paymentReference":"p-1","amount":12345678901234567890.10,"description":"Transaction Successful","senderAccountName":"Ada Lovelace","sourceAccountNumber":"0123456789","sourceBankCode":"058","destinationAccountNumber":"9876543210","destinationBankCode":"044"}"#,
        topic: "webhooks.transfers.payment.completed",
        event_type: "transfers.payment.completed",
        subject: Some("p-1"),
        userid: Some("u-1"),
        time: None,
    },
    Case {
        provider: "transfers",
        event: "Payment.Status",
        data: r#"{"status":"Failed","userId":"u-1","paymentReference":"p-2","amount":100.23}"#,
        topic: "webhooks.transfers.payment.failed",
        event_type: "transfers.payment.failed",
        subject: Some("p-2"),
        userid: Some("u-1"),
        time: None,
    },
    // Verified and well-formed, but unknown: a full CloudEvent on the unrouted topic.
    Case {
        provider: "m2m",
        event: "link.expired",
        data: r#"{"linkId":"lnk-9","referenceId":"user-7"}"#,
        topic: "webhooks.unrouted",
        event_type: "m2m.unknown",
        subject: Some("lnk-9"),
        userid: Some("user-7"),
        time: None,
    },
    Case {
        provider: "transfers",
        event: "Payment.Status",
        data: r#"{"status":"Pending","userId":"u-3","paymentReference":"p-3"}"#,
        topic: "webhooks.unrouted",
        event_type: "transfers.unknown",
        subject: Some("p-3"),
        userid: Some("u-3"),
        time: None,
    },
];

#[derive(Deserialize)]
struct RawData<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

fn find<'m>(records: &'m [OwnedMessage], id: &str) -> &'m OwnedMessage {
    records
        .iter()
        .find(|m| header(m, "event-id").as_deref() == Some(id))
        .unwrap_or_else(|| panic!("no record with event-id {id} among {}", records.len()))
}

fn is_rfc3339_utc(s: &str) -> bool {
    time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).is_ok()
        && s.ends_with('Z')
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn every_type_lands_on_its_topic_as_a_cloudevent_with_data_byte_for_byte() {
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = Gateway::start_ready(gateway_env(&broker.bootstrap(), &[])).await;

    let mut sent = Vec::new();
    for case in CASES {
        let body = format!(r#"{{"event":"{}","data":{}}}"#, case.event, case.data);
        let reply = send_signed(gateway.public, case.provider, body.as_bytes())
            .await
            .unwrap();
        assert_eq!(reply.status, 200, "{}: {}", case.event_type, reply.text());
        let id = reply.json()["id"]
            .as_str()
            .expect("id in the 200 body")
            .to_owned();
        assert_eq!(id.len(), 32, "{id}");
        sent.push((case, id));
    }

    for (case, id) in &sent {
        let expected_on_topic = CASES.iter().filter(|c| c.topic == case.topic).count();
        let records = read_topic(
            &broker.bootstrap(),
            case.topic,
            expected_on_topic,
            Duration::from_secs(20),
        );
        let record = find(&records, id);
        let what = case.event_type;

        assert_eq!(
            record.key(),
            Some(case.subject.unwrap().as_bytes()),
            "{what}: key"
        );
        assert_eq!(
            header(record, "content-type").as_deref(),
            Some("application/cloudevents+json; charset=utf-8"),
            "{what}"
        );
        assert_eq!(
            header(record, "event-type").as_deref(),
            Some(case.event_type),
            "{what}"
        );
        assert_eq!(
            header(record, "event-source").as_deref(),
            Some(&*format!("/providers/{}", case.provider)),
            "{what}"
        );
        assert_eq!(
            header(record, "event-subject").as_deref(),
            case.subject,
            "{what}"
        );

        let value = value_json(record);
        assert_eq!(value["specversion"], "1.0", "{what}");
        assert_eq!(value["id"], id.as_str(), "{what}");
        assert_eq!(
            value["source"],
            format!("/providers/{}", case.provider),
            "{what}"
        );
        assert_eq!(value["type"], case.event_type, "{what}");
        assert_eq!(value["subject"].as_str(), case.subject, "{what}");
        assert_eq!(value["datacontenttype"], "application/json", "{what}");
        // The type's `data` schema, named as the consumer contract names it;
        // an unrouted event has no known schema.
        let schema = value["dataschema"].as_str().unwrap_or_default();
        if case.event_type.ends_with(".unknown") {
            assert_eq!(schema, "", "{what}: no dataschema");
        } else {
            let prefix = format!("urn:webhook-gateway:schema:{}:", case.event_type);
            assert!(
                schema.starts_with(&prefix) && schema.len() == prefix.len() + 16,
                "{what}: dataschema {schema:?}"
            );
        }
        assert_eq!(value["provider"], case.provider, "{what}");
        assert_eq!(value["providerevent"], case.event, "{what}");
        assert_eq!(value["userid"].as_str(), case.userid, "{what}");
        let received = value["receivedat"].as_str().unwrap();
        assert!(is_rfc3339_utc(received), "{what}: receivedat {received}");
        match case.time {
            Some(t) => assert_eq!(value["time"], t, "{what}"),
            None => assert_eq!(
                value["time"].as_str(),
                Some(received),
                "{what}: time falls back to the receive time"
            ),
        }
        // `data` exactly as sent: same bytes, so numbers keep every digit.
        let raw: RawData = serde_json::from_slice(record.payload().unwrap()).unwrap();
        assert_eq!(raw.data.get(), case.data, "{what}: data byte for byte");
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_verified_body_that_is_not_an_event_is_dead_lettered_whole() {
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = Gateway::start_ready(gateway_env(&broker.bootstrap(), &[])).await;

    let cases: [(&str, &[u8], &str); 3] = [
        ("transfers", b"amount=100&status=ok", "not_json"),
        ("m2m", br#"{"event":"link.created"}"#, "missing_data"),
        ("transfers", b"\xff\xfe not utf-8", "not_json"),
    ];
    let mut ids = Vec::new();
    for (provider, body, _) in &cases {
        let reply = send_signed(gateway.public, provider, body).await.unwrap();
        assert_eq!(reply.status, 200, "{}", reply.text());
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.deadletter",
        cases.len(),
        Duration::from_secs(20),
    );
    for ((provider, body, reason), id) in cases.iter().zip(&ids) {
        let record = find(&records, id);
        assert_eq!(record.payload(), Some(*body), "the raw body is the value");
        assert_eq!(record.key(), Some(id.as_bytes()), "keyed by the event id");
        assert_eq!(header(record, "x-provider").as_deref(), Some(*provider));
        assert_eq!(
            header(record, "x-deadletter-reason").as_deref(),
            Some(*reason)
        );
        assert_eq!(
            header(record, "content-type").as_deref(),
            Some("application/json"),
            "the request's content-type"
        );
    }
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_redelivered_body_gets_the_same_id_and_any_other_body_another() {
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = Gateway::start_ready(gateway_env(&broker.bootstrap(), &[])).await;

    let body = br#"{"event":"Payment.Status","data":{"status":"Completed","userId":"u","paymentReference":"p-9","amount":1.00}}"#;
    let first = send_signed(gateway.public, "transfers", body)
        .await
        .unwrap()
        .json()["id"]
        .clone();
    let again = send_signed(gateway.public, "transfers", body)
        .await
        .unwrap()
        .json()["id"]
        .clone();
    assert_eq!(first, again, "a redelivery carries the same id");
    let other = br#"{"event":"Payment.Status","data":{"status":"Completed","userId":"u","paymentReference":"p-9","amount":1.0}}"#;
    let different = send_signed(gateway.public, "transfers", other)
        .await
        .unwrap()
        .json()["id"]
        .clone();
    assert_ne!(first, different);

    // M2M signs a timestamp: a redelivery signed at another time is still the same event.
    let m2m = br#"{"event":"link.opened","data":{"linkId":"l-5"}}"#;
    let ts_a = (now_secs() - 10).to_string();
    let ts_b = now_secs().to_string();
    let mut ids = Vec::new();
    for ts in [&ts_a, &ts_b] {
        let headers = vec![
            ("x-m2m-timestamp".to_string(), ts.clone()),
            (
                "x-m2m-signature".to_string(),
                hmac_hex(M2M_SECRET, &[ts.as_bytes(), b".", m2m]),
            ),
        ];
        let reply = request(
            gateway.public,
            "POST",
            "/webhooks/m2m",
            &headers,
            m2m.to_vec(),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 200);
        ids.push(reply.json()["id"].clone());
    }
    assert_eq!(ids[0], ids[1]);

    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.transfers.payment.completed",
        3,
        Duration::from_secs(20),
    );
    let record_ids: Vec<_> = records
        .iter()
        .map(|m| header(m, "event-id").unwrap())
        .collect();
    assert_eq!(
        record_ids
            .iter()
            .filter(|i| **i == first.as_str().unwrap())
            .count(),
        2,
        "both deliveries are in Kafka"
    );
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn rejected_requests_publish_nothing() {
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = Gateway::start_ready(gateway_env(
        &broker.bootstrap(),
        &[("GATEWAY_REPLAY_TOLERANCE_SECS", "60")],
    ))
    .await;

    let body = br#"{"event":"operation.created","data":{"operationId":"forged"}}"#.to_vec();
    let ts = now_secs().to_string();
    let stale = (now_secs() - 120).to_string();
    let attempts: Vec<Vec<(String, String)>> = vec![
        vec![],
        vec![("x-m2m-timestamp".into(), ts.clone())],
        vec![
            ("x-m2m-timestamp".into(), ts.clone()),
            ("x-m2m-signature".into(), "00".repeat(32)),
        ],
        vec![
            ("x-m2m-timestamp".into(), ts.clone()),
            (
                "x-m2m-signature".into(),
                hmac_hex("wrong", &[ts.as_bytes(), b".", &body]),
            ),
        ],
        vec![
            ("x-m2m-timestamp".into(), stale.clone()),
            (
                "x-m2m-signature".into(),
                hmac_hex(M2M_SECRET, &[stale.as_bytes(), b".", &body]),
            ),
        ],
        vec![
            ("x-m2m-timestamp".into(), "soon".into()),
            (
                "x-m2m-signature".into(),
                hmac_hex(M2M_SECRET, &[b"soon.", &body]),
            ),
        ],
    ];
    for headers in &attempts {
        let reply = request(
            gateway.public,
            "POST",
            "/webhooks/m2m",
            headers,
            body.clone(),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 401, "{headers:?}");
        let code = reply.json()["error"].as_str().unwrap().to_owned();
        assert!(
            code.starts_with("signature_") || code.starts_with("timestamp_"),
            "{code}"
        );
    }
    let tbody =
        br#"{"event":"Payment.Status","data":{"status":"Completed","paymentReference":"forged"}}"#
            .to_vec();
    let forged = vec![(
        "x-transfers-signature".to_string(),
        hmac_hex("wrong", &[&tbody]),
    )];
    assert_eq!(
        request(
            gateway.public,
            "POST",
            "/webhooks/transfers",
            &forged,
            tbody
        )
        .await
        .unwrap()
        .status,
        401
    );

    // A valid sentinel after the forgeries: once it is readable, anything
    // published before it would be too.
    let sentinel = br#"{"event":"operation.created","data":{"operationId":"real"}}"#;
    assert_eq!(
        send_signed(gateway.public, "m2m", sentinel)
            .await
            .unwrap()
            .status,
        200
    );
    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.m2m.operation.created",
        2,
        Duration::from_secs(5),
    );
    assert_eq!(records.len(), 1, "only the sentinel was published");
    assert_eq!(records[0].key(), Some(&b"real"[..]));
    let others = read_topic(
        &broker.bootstrap(),
        "webhooks.transfers.payment.completed",
        1,
        Duration::from_secs(2),
    );
    assert!(others.is_empty());

    let failures = gateway
        .metric(r#"webhook_signature_failures_total{provider="m2m",reason="signature_mismatch"}"#)
        .await;
    assert_eq!(failures, 2.0);
    gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_w3c_traceparent_is_carried_into_the_record_and_a_malformed_one_is_not() {
    let broker = Broker::start();
    broker.create_default_topics();
    let gateway = Gateway::start_ready(gateway_env(&broker.bootstrap(), &[])).await;
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let invalid = [
        "00-not-a-trace-id-01",
        // Valid in shape, invalid by the W3C rules: version ff, all-zero ids.
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
    ];
    let mut ids = Vec::new();
    for (n, tp) in std::iter::once(traceparent).chain(invalid).enumerate() {
        let body = format!(
            r#"{{"event":"Payment.Status","data":{{"status":"Failed","paymentReference":"tp-{n}"}}}}"#
        );
        let mut headers = transfers_headers(body.as_bytes());
        headers.push(("traceparent".into(), tp.into()));
        let reply = request(
            gateway.public,
            "POST",
            "/webhooks/transfers",
            &headers,
            body.into_bytes(),
        )
        .await
        .unwrap();
        assert_eq!(reply.status, 200);
        ids.push(reply.json()["id"].as_str().unwrap().to_owned());
    }
    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.transfers.payment.failed",
        ids.len(),
        Duration::from_secs(20),
    );
    let traced = find(&records, &ids[0]);
    assert_eq!(value_json(traced)["traceparent"], traceparent);
    assert_eq!(header(traced, "traceparent").as_deref(), Some(traceparent));
    for (id, tp) in ids[1..].iter().zip(invalid) {
        let untraced = find(&records, id);
        assert!(value_json(untraced).get("traceparent").is_none(), "{tp}");
        assert_eq!(header(untraced, "traceparent"), None, "{tp}");
    }
    gateway.stop().await;
}
