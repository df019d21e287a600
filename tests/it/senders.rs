//! The senders' presets as an operator enables them (a name, a secret, a
//! catalogue), served end to end: real HTTP in, the real broker out, each
//! record read back. Every request is signed here from the sender's published
//! scheme, independently of the gateway's code, and Slack's by Slack's own SDK
//! (`scripts/senders/sign.py`, PyPI `slack_sdk`). The published vectors are
//! checked in `src/definitions/senders_tests.rs`.

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use rdkafka::message::OwnedMessage;

use crate::common::signers::*;
use crate::common::*;

const PROVIDERS: &str = r#"providers:
  - name: slack
    preset: slack
    secret: {env: SLACK_SIGNING_SECRET}
    events:
      - {name: message, type: slack.message, subject: /event/channel}
  - name: zoom
    preset: zoom
    secret: {env: ZOOM_SECRET_TOKEN}
    events:
      - {name: meeting.started, type: zoom.meeting.started, subject: /payload/object/id}
  - name: meta
    preset: meta
    secret: {env: META_APP_SECRET}
    handshake_secret: {env: META_VERIFY_TOKEN}
    events:
      - {name: page, type: meta.page, subject: /entry/0/id}
  - name: paddle
    preset: paddle
    secret: {env: PADDLE_SECRET_KEY}
    events:
      - {name: transaction.completed, type: paddle.transaction.completed, subject: /data/id}
  - name: calendly
    preset: calendly
    secret: {env: CALENDLY_SIGNING_KEY}
    events:
      - {name: invitee.created, type: calendly.invitee.created, subject: /payload/uri}
  - name: typeform
    preset: typeform
    secret: {env: TYPEFORM_SECRET}
    events:
      - {name: form_response, type: typeform.form_response, subject: /form_response/form_id}
  - name: intercom
    preset: intercom
    secret: {env: INTERCOM_CLIENT_SECRET}
    events:
      - {name: conversation.user.created, type: intercom.conversation.user.created, subject: /data/item/id}
  - name: zendesk
    preset: zendesk
    secret: {env: ZENDESK_SIGNING_SECRET}
    events:
      - {name: "zen:event-type:ticket.created", type: zendesk.ticket.created, subject: /detail/id}
  - name: x
    preset: x
    secret: {env: X_CONSUMER_SECRET}
    events:
      - {name: account_activity, type: x.account_activity, subject: /for_user_id}
  - name: dropbox
    preset: dropbox
    secret: {env: DROPBOX_APP_SECRET}
    events:
      - {name: notification, type: dropbox.notification, subject: /list_folder/accounts/0}
  - name: gitlab
    preset: gitlab
    secret: {env: GITLAB_WEBHOOK_TOKEN}
    events:
      - {name: Push Hook, type: gitlab.push, subject: /project/path_with_namespace}
  - name: linear
    preset: linear
    secret: {env: LINEAR_SIGNING_SECRET}
    events:
      - {name: Issue.create, type: linear.issue.created, subject: /data/id}
  - name: square
    preset: square
    secret: {env: SQUARE_SIGNATURE_KEY}
    url: https://hooks.example.com/sq/in
    events:
      - {name: payment.updated, type: square.payment.updated, subject: /data/id}
  - name: twilio
    preset: twilio
    secret: {env: TWILIO_AUTH_TOKEN}
    url: https://hooks.example.com/twilio/status
    events:
      - {name: delivered, type: twilio.message.delivered, subject: /MessageSid}
  - name: slackui
    preset: slack-interactivity
    secret: {env: SLACKUI_SIGNING_SECRET}
    events:
      - {name: block_actions, type: slackui.block_actions, subject: /user/id}
  - name: acme
    preset: standard-webhooks
    secret: {env: ACME_WEBHOOK_SECRET}
    events:
      - {name: invoice.paid, type: acme.invoice.paid, subject: /data/invoiceId}
"#;

const SECRETS: [(&str, &str); 17] = [
    // The same app's signing secret: every provider names a variable of its own.
    ("SLACKUI_SIGNING_SECRET", "slack-signing-secret"),
    ("TWILIO_AUTH_TOKEN", "twilio-auth-token"),
    ("SQUARE_SIGNATURE_KEY", "square-signature-key"),
    ("SLACK_SIGNING_SECRET", "slack-signing-secret"),
    ("ZOOM_SECRET_TOKEN", "zoom-secret-token"),
    ("META_APP_SECRET", "meta-app-secret"),
    ("META_VERIFY_TOKEN", "meta-verify-token"),
    ("PADDLE_SECRET_KEY", "pdl_ntfset_01test_secret"),
    ("CALENDLY_SIGNING_KEY", "calendly-signing-key"),
    ("TYPEFORM_SECRET", "typeform-secret"),
    ("INTERCOM_CLIENT_SECRET", "intercom-client-secret"),
    ("ZENDESK_SIGNING_SECRET", "zendesk-signing-secret"),
    ("X_CONSUMER_SECRET", "x-consumer-secret"),
    ("DROPBOX_APP_SECRET", "dropbox-app-secret"),
    ("GITLAB_WEBHOOK_TOKEN", "gitlab token with spaces"),
    ("LINEAR_SIGNING_SECRET", "linear-signing-secret"),
    // Standard Webhooks: whsec_ and base64 of "acme key".
    ("ACME_WEBHOOK_SECRET", "whsec_YWNtZSBrZXk="),
];

fn secret(var: &str) -> &'static str {
    SECRETS.iter().find(|(k, _)| *k == var).unwrap().1
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hmac_sha1(key: &[u8], parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = <Hmac<sha1::Sha1> as Mac>::new_from_slice(key).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

fn form_headers(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .chain([(
            "content-type".to_string(),
            "application/x-www-form-urlencoded".to_string(),
        )])
        .collect()
}

/// One request of each sender, signed as its documentation says.
fn signed(provider: &str, body: &[u8]) -> Vec<(String, String)> {
    let ts = now().to_string();
    let key = |var: &str| secret(var).as_bytes();
    match provider {
        "slack" => json_headers(&[
            ("x-slack-request-timestamp", ts.clone()),
            (
                "x-slack-signature",
                slack_sdk_signature(secret("SLACK_SIGNING_SECRET"), &ts, body),
            ),
        ]),
        "zoom" => json_headers(&[
            ("x-zm-request-timestamp", ts.clone()),
            (
                "x-zm-signature",
                format!(
                    "v0={}",
                    hex::encode(hmac_sha256(
                        key("ZOOM_SECRET_TOKEN"),
                        &[b"v0:", ts.as_bytes(), b":", body]
                    ))
                ),
            ),
            ("x-zm-trackingid", "zoom-track-1".into()),
        ]),
        "meta" => json_headers(&[(
            "x-hub-signature-256",
            format!(
                "sha256={}",
                hex::encode(hmac_sha256(key("META_APP_SECRET"), &[body]))
            ),
        )]),
        "paddle" => json_headers(&[(
            "paddle-signature",
            format!(
                "ts={ts};h1={}",
                hex::encode(hmac_sha256(
                    key("PADDLE_SECRET_KEY"),
                    &[ts.as_bytes(), b":", body]
                ))
            ),
        )]),
        "calendly" => json_headers(&[(
            "calendly-webhook-signature",
            format!(
                "t={ts},v1={}",
                hex::encode(hmac_sha256(
                    key("CALENDLY_SIGNING_KEY"),
                    &[ts.as_bytes(), b".", body]
                ))
            ),
        )]),
        "typeform" => json_headers(&[(
            "typeform-signature",
            format!(
                "sha256={}",
                b64(&hmac_sha256(key("TYPEFORM_SECRET"), &[body]))
            ),
        )]),
        "intercom" => json_headers(&[(
            "x-hub-signature",
            format!(
                "sha1={}",
                hex::encode(hmac_sha1(key("INTERCOM_CLIENT_SECRET"), &[body]))
            ),
        )]),
        "zendesk" => {
            let at = webhook_gateway::engine::normalize::rfc3339(SystemTime::now()).unwrap();
            json_headers(&[
                (
                    "x-zendesk-webhook-signature",
                    b64(&hmac_sha256(
                        key("ZENDESK_SIGNING_SECRET"),
                        &[at.as_bytes(), body],
                    )),
                ),
                ("x-zendesk-webhook-signature-timestamp", at),
            ])
        }
        "x" => json_headers(&[(
            "x-twitter-webhooks-signature",
            format!(
                "sha256={}",
                b64(&hmac_sha256(key("X_CONSUMER_SECRET"), &[body]))
            ),
        )]),
        "dropbox" => json_headers(&[(
            "x-dropbox-signature",
            hex::encode(hmac_sha256(key("DROPBOX_APP_SECRET"), &[body])),
        )]),
        "gitlab" => gitlab_headers(secret("GITLAB_WEBHOOK_TOKEN"), "delivery-1"),
        "linear" => json_headers(&[
            (
                "linear-signature",
                hex::encode(hmac_sha256(key("LINEAR_SIGNING_SECRET"), &[body])),
            ),
            (
                "linear-delivery",
                "5f1c1a3e-0000-4000-8000-000000000001".into(),
            ),
        ]),
        other => panic!("no signer for {other}"),
    }
}

fn gitlab_headers(token: &str, idempotency_key: &str) -> Vec<(String, String)> {
    json_headers(&[
        ("x-gitlab-token", token.to_owned()),
        ("x-gitlab-event", "Push Hook".into()),
        ("idempotency-key", idempotency_key.to_owned()),
    ])
}

/// Standard Webhooks, signed by hand: `v1,<base64>` over `<id>.<ts>.<body>`.
fn sw_headers(id: &str, body: &[u8]) -> Vec<(String, String)> {
    let ts = now().to_string();
    let tag = hmac_sha256(
        b"acme key",
        &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
    );
    json_headers(&[
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts),
        ("webhook-signature", format!("v1,{}", b64(&tag))),
    ])
}

/// Each sender's body: (provider, body, topic, subject).
fn bodies() -> Vec<(&'static str, Vec<u8>, &'static str, &'static str)> {
    let ms = now() * 1000;
    vec![
        ("slack", br#"{"type":"event_callback","event_id":"Ev01","event_time":1700000000,"event":{"type":"message","channel":"C01","text":"hi"}}"#.to_vec(), "webhooks.slack.message", "C01"),
        ("zoom", br#"{"event":"meeting.started","event_ts":1700000000000,"payload":{"object":{"id":"m-1"}}}"#.to_vec(), "webhooks.zoom.meeting.started", "m-1"),
        ("meta", br#"{"object":"page","entry":[{"id":"p-1","time":1700000000,"changes":[{"field":"feed"}]}]}"#.to_vec(), "webhooks.meta.page", "p-1"),
        ("paddle", br#"{"event_id":"evt_01","event_type":"transaction.completed","occurred_at":"2024-03-20T10:07:35Z","data":{"id":"txn_01"}}"#.to_vec(), "webhooks.paddle.transaction.completed", "txn_01"),
        ("calendly", br#"{"event":"invitee.created","created_at":"2024-01-01T00:00:00Z","payload":{"uri":"inv-1"}}"#.to_vec(), "webhooks.calendly.invitee.created", "inv-1"),
        ("typeform", br#"{"event_id":"e-01","event_type":"form_response","form_response":{"form_id":"f-1"}}"#.to_vec(), "webhooks.typeform.form_response", "f-1"),
        ("intercom", br#"{"type":"notification_event","id":"notif_1","topic":"conversation.user.created","created_at":1700000000,"data":{"item":{"id":"c-1"}}}"#.to_vec(), "webhooks.intercom.conversation.user.created", "c-1"),
        ("zendesk", br#"{"id":"z-1","type":"zen:event-type:ticket.created","time":"2024-01-01T00:00:00Z","detail":{"id":"t-1"}}"#.to_vec(), "webhooks.zendesk.ticket.created", "t-1"),
        ("x", br#"{"for_user_id":"u-1","tweet_create_events":[{"id_str":"t-1"}]}"#.to_vec(), "webhooks.x.account_activity", "u-1"),
        ("dropbox", br#"{"list_folder":{"accounts":["dbid:AAA"]},"delta":{"users":[1]}}"#.to_vec(), "webhooks.dropbox.notification", "dbid:AAA"),
        ("gitlab", br#"{"object_kind":"push","project":{"path_with_namespace":"group/project"}}"#.to_vec(), "webhooks.gitlab.push", "group/project"),
        ("linear", format!(r#"{{"action":"create","type":"Issue","createdAt":"2024-01-01T00:00:00Z","data":{{"id":"i-1"}},"webhookTimestamp":{ms}}}"#).into_bytes(), "webhooks.linear.issue.created", "i-1"),
    ]
}

struct Setup {
    broker: Broker,
    gateway: Gateway,
    _dir: tempfile::TempDir,
}

async fn setup(extra: &[(&str, &str)]) -> Setup {
    let broker = Broker::start();
    let mut env: Vec<(&str, &str)> = SECRETS.to_vec();
    env.extend(extra);
    let (gateway, dir) = gateway_with_providers(&broker, PROVIDERS, &env).await;
    Setup {
        broker,
        gateway,
        _dir: dir,
    }
}

impl Setup {
    fn records(&self, topic: &str, expected: usize) -> HashMap<String, OwnedMessage> {
        records_by_id(&self.broker.bootstrap(), topic, expected)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and the senders' SDKs: run by scripts/test.sh"]
async fn each_senders_preset_is_served_end_to_end() {
    let _serial = serial().await;
    let s = setup(&[]).await;
    for (provider, body, topic, subject) in bodies() {
        let id = s
            .gateway
            .accepted(provider, signed(provider, &body), &body)
            .await;
        let records = s.records(topic, 1);
        let record = &records[&id];
        assert_eq!(record_key(record), subject, "{provider}");
        let ty = topic.strip_prefix("webhooks.").unwrap();
        assert_eq!(
            header(record, "event-type").as_deref(),
            Some(ty),
            "{provider}"
        );
        let value = value_json(record);
        assert_eq!(value["source"], format!("/providers/{provider}"));
    }

    // What each preset refuses: a wrong token, a wrong secret, a stale body
    // timestamp (checked once the signature matched).
    let push = br#"{"object_kind":"push","project":{"path_with_namespace":"group/project"}}"#;
    assert_eq!(
        s.gateway
            .refused("gitlab", gitlab_headers("gitlab token", "d-2"), push)
            .await,
        "signature_mismatch"
    );
    let stale = format!(
        r#"{{"action":"create","type":"Issue","data":{{"id":"i-2"}},"webhookTimestamp":{}}}"#,
        (now() - 120) * 1000
    );
    assert_eq!(
        s.gateway
            .refused(
                "linear",
                signed("linear", stale.as_bytes()),
                stale.as_bytes()
            )
            .await,
        "timestamp_outside_window"
    );
    let forged = br#"{"list_folder":{"accounts":["dbid:EVE"]}}"#;
    assert_eq!(
        s.gateway
            .refused(
                "dropbox",
                json_headers(&[(
                    "x-dropbox-signature",
                    hex::encode(hmac_sha256(b"guess", &[forged]))
                )]),
                forged
            )
            .await,
        "signature_mismatch"
    );
}

/// A delivery id decides the event id through HTTP and the broker, not only
/// in the formula's unit test: a signed one alone (the same id over another
/// body), an unsigned one refining the body's (another id for the same body).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn delivery_ids_decide_event_ids_end_to_end() {
    let _serial = serial().await;
    let s = setup(&[]).await;

    // Paddle's /event_id is signed (the body is): a retry that differs
    // elsewhere keeps the event's id, and its delivery id travels along.
    let first = br#"{"event_id":"evt_02","event_type":"transaction.completed","occurred_at":"2024-03-20T10:07:35Z","data":{"id":"txn_02"}}"#;
    let again = br#"{"event_id":"evt_02","event_type":"transaction.completed","occurred_at":"2024-03-20T10:07:36Z","data":{"id":"txn_02"}}"#;
    let a = s
        .gateway
        .accepted("paddle", signed("paddle", first), first)
        .await;
    let b = s
        .gateway
        .accepted("paddle", signed("paddle", again), again)
        .await;
    assert_eq!(
        a, b,
        "the same signed delivery id over another body: the same event"
    );

    // Standard Webhooks' webhook-id is signed: the same body under another
    // delivery id is another event.
    let paid = br#"{"type":"invoice.paid","timestamp":"2026-11-23T10:00:00Z","data":{"invoiceId":"inv-9"}}"#;
    let c = s
        .gateway
        .accepted("acme", sw_headers("msg_1", paid), paid)
        .await;
    let d = s
        .gateway
        .accepted("acme", sw_headers("msg_2", paid), paid)
        .await;
    let c_again = s
        .gateway
        .accepted("acme", sw_headers("msg_1", paid), paid)
        .await;
    assert_ne!(c, d, "the same body under another signed delivery id");
    assert_eq!(c, c_again, "a redelivery, re-signed later, keeps its id");

    // GitLab's Idempotency-Key is not signed (a token covers nothing): it
    // refines the body's id, never replaces it.
    let token = secret("GITLAB_WEBHOOK_TOKEN");
    let push = br#"{"object_kind":"push","project":{"path_with_namespace":"group/ids"}}"#;
    let e = s
        .gateway
        .accepted("gitlab", gitlab_headers(token, "k-1"), push)
        .await;
    let f = s
        .gateway
        .accepted("gitlab", gitlab_headers(token, "k-2"), push)
        .await;
    let e_again = s
        .gateway
        .accepted("gitlab", gitlab_headers(token, "k-1"), push)
        .await;
    assert_ne!(e, f);
    assert_eq!(e, e_again);

    // The records on the broker say the same.
    let paddle = s.records("webhooks.paddle.transaction.completed", 2);
    assert_eq!(paddle.len(), 1, "two deliveries, one event id");
    assert_eq!(value_json(&paddle[&a])["deliveryid"], "evt_02");
    let acme = s.records("webhooks.acme.invoice.paid", 3);
    assert!(acme.contains_key(&c) && acme.contains_key(&d));
    assert_eq!(value_json(&acme[&d])["deliveryid"], "msg_2");
    let gitlab = s.records("webhooks.gitlab.push", 3);
    assert!(gitlab.contains_key(&e) && gitlab.contains_key(&f));
    assert_eq!(value_json(&gitlab[&f])["deliveryid"], "k-2");
}

/// An ingress in front of the gateway, as deployments have one: it serves
/// `/sq/in` (the URL Square was given) and forwards to `/webhooks/square`,
/// query string and all. The gateway never sees the URL Square signed.
async fn rewriting_proxy(gateway: std::net::SocketAddr) -> std::net::SocketAddr {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = hyper::service::service_fn(
                move |req: http::Request<hyper::body::Incoming>| async move {
                    let path = req.uri().path_and_query().unwrap().as_str().replacen(
                        "/sq/in",
                        "/webhooks/square",
                        1,
                    );
                    let method = req.method().as_str().to_owned();
                    let headers: Vec<(String, String)> = req
                        .headers()
                        .iter()
                        .filter(|(k, _)| *k != http::header::HOST)
                        .map(|(k, v)| (k.to_string(), v.to_str().unwrap().to_owned()))
                        .collect();
                    let body = req.into_body().collect().await.unwrap().to_bytes().to_vec();
                    let reply = request(gateway, &method, &path, &headers, body)
                        .await
                        .unwrap();
                    let mut response = http::Response::new(http_body_util::Full::new(reply.body));
                    *response.status_mut() = http::StatusCode::from_u16(reply.status).unwrap();
                    Ok::<_, std::convert::Infallible>(response)
                },
            );
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_signed_url_is_the_senders_behind_a_proxy_that_rewrites_the_path() {
    let _serial = serial().await;
    let s = setup(&[]).await;
    let proxy = rewriting_proxy(s.gateway.public).await;
    let body = br#"{"merchant_id":"M1","type":"payment.updated","event_id":"ev-sq-1","created_at":"2024-01-01T00:00:00Z","data":{"type":"payment","id":"pay-1"}}"#;
    // Square signs the URL it posts to, query string byte for byte.
    let signed_by_square = |url: &str| {
        json_headers(&[(
            "x-square-hmacsha256-signature",
            b64(&hmac_sha256(
                secret("SQUARE_SIGNATURE_KEY").as_bytes(),
                &[url.as_bytes(), body],
            )),
        )])
    };
    let query = "a=1&b=x%2Fy";
    let url = format!("https://hooks.example.com/sq/in?{query}");
    let reply = request(
        proxy,
        "POST",
        &format!("/sq/in?{query}"),
        &signed_by_square(&url),
        body.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = reply.json()["id"].as_str().unwrap().to_owned();
    let records = s.records("webhooks.square.payment.updated", 1);
    assert_eq!(record_key(&records[&id]), "pay-1");

    // The query is signed as sent: decoded, it is another URL.
    let decoded = "https://hooks.example.com/sq/in?a=1&b=x/y";
    let reply = request(
        proxy,
        "POST",
        &format!("/sq/in?{query}"),
        &signed_by_square(decoded),
        body.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 401);
}

/// Form bodies, signed by the senders' own SDKs: Twilio's fields sorted
/// (repeated names included), Slack's interactivity `payload`, and a form
/// that is not UTF-8, which is verified and then kept whole as a dead letter.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and the senders' SDKs: run by scripts/test.sh"]
async fn form_bodies_are_verified_as_their_senders_sign_them_and_read_as_fields() {
    let _serial = serial().await;
    let s = setup(&[]).await;

    // Twilio posts to the URL it was given, query and all.
    let status = b"MessageSid=SM1&MessageStatus=delivered&To=%2B15551230000&ErrorCode=&Tag=b&Tag=a";
    let url = "https://hooks.example.com/twilio/status?acct=AC1";
    let headers = form_headers(&[(
        "x-twilio-signature",
        twilio_sdk_signature(secret("TWILIO_AUTH_TOKEN"), url, status),
    )]);
    let reply = request(
        s.gateway.public,
        "POST",
        "/webhooks/twilio?acct=AC1",
        &headers,
        status.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.headers["content-type"], "text/xml");
    assert_eq!(reply.text(), "<Response/>", "TwiML, after the ack");
    let records = s.records("webhooks.twilio.message.delivered", 1);
    let record = records.values().next().unwrap();
    assert_eq!(record_key(record), "SM1");
    let data = &value_json(record)["data"];
    assert_eq!(data["To"], "+15551230000");
    assert_eq!(data["ErrorCode"], "");
    assert_eq!(
        data["Tag"],
        serde_json::json!(["b", "a"]),
        "a repeated name: every value, in order"
    );

    // Slack's interactivity: the event is the JSON in `payload`; an empty 200.
    let ts = now().to_string();
    let payload = br#"payload=%7B%22type%22%3A%22block_actions%22%2C%22user%22%3A%7B%22id%22%3A%22U1%22%7D%7D"#;
    let headers = form_headers(&[
        ("x-slack-request-timestamp", ts.clone()),
        (
            "x-slack-signature",
            slack_sdk_signature(secret("SLACK_SIGNING_SECRET"), &ts, payload),
        ),
    ]);
    let reply = s.gateway.post("slackui", headers, payload).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(reply.body.is_empty());
    let records = s.records("webhooks.slackui.block_actions", 1);
    assert_eq!(record_key(records.values().next().unwrap()), "U1");

    // Verified, but no form of UTF-8 fields: kept whole on the dead-letter topic.
    let broken = b"payload=%FF%FE";
    let headers = form_headers(&[
        ("x-slack-request-timestamp", ts.clone()),
        (
            "x-slack-signature",
            slack_sdk_signature(secret("SLACK_SIGNING_SECRET"), &ts, broken),
        ),
    ]);
    let reply = s.gateway.post("slackui", headers, broken).await;
    assert_eq!(
        reply.status,
        200,
        "acknowledged once kept: {}",
        reply.text()
    );
    let dead = s.records("webhooks.deadletter", 1);
    let dead = dead.values().next().unwrap();
    assert_eq!(
        header(dead, "x-deadletter-reason").as_deref(),
        Some("not_form")
    );
    assert_eq!(
        rdkafka::message::Message::payload(dead),
        Some(&broken[..]),
        "the body whole"
    );
}

/// Slack gives up after 3 s: its preset's `timeout_ms: 2500` answers a
/// stalled broker with 503 in time for Slack to read it, well before the
/// gateway's own publish timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and the senders' SDKs: run by scripts/test.sh"]
async fn a_senders_own_deadline_answers_before_it_stops_listening() {
    let _serial = serial().await;
    let s = setup(&[("GATEWAY_PUBLISH_TIMEOUT_MS", "10000")]).await;
    let (_, body, _, _) = bodies().into_iter().next().unwrap();
    s.broker.freeze();
    let started = Instant::now();
    let reply = s.gateway.post("slack", signed("slack", &body), &body).await;
    let took = started.elapsed();
    s.broker.thaw();
    assert_eq!(reply.status, 503, "{}", reply.text());
    assert!(reply.headers.get("retry-after").is_some());
    assert!(
        (Duration::from_millis(2400)..Duration::from_millis(3000)).contains(&took),
        "answered after {took:?}: the preset's 2.5 s, not the gateway's 10 s"
    );
}

const PUBLIC_KEY_PROVIDERS: &str = r#"providers:
  - name: discord
    preset: discord
    key: {env: DISCORD_PUBLIC_KEY}
    events:
      - {name: APPLICATION_AUTHORIZED, type: discord.application_authorized, subject: /event/data/user/id}
  - name: sendgrid
    preset: sendgrid
    key: {env: SENDGRID_PUBLIC_KEY}
    events:
      - {name: delivered, type: sendgrid.delivered, subject: /email}
      - {name: open, type: sendgrid.open, subject: /email}
  - name: sw
    preset: standard-webhooks
    secret: {env: SW_WEBHOOK_SECRET}
    key: {env: SW_PUBLIC_KEY}
    events:
      - {name: invoice.paid, type: sw.invoice.paid, subject: /data/invoiceId}
"#;

/// Public-key senders, keys made at test time: Discord's Ed25519 (answered
/// 204 after the ack) and SendGrid's ECDSA over a batch; a signature by
/// another key is refused; `sign --key-file` signs as the sender would.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu and the senders' signers: run by scripts/test.sh"]
async fn public_key_senders_are_verified_with_their_public_keys_end_to_end() {
    let _serial = serial().await;
    let (discord_private, discord_public) = key_pair("ed25519");
    let (sendgrid_private, sendgrid_public) = key_pair("ecdsa-p256");
    let (sw_private, sw_public_hex) = key_pair("ed25519");
    let sw_public = format!("whpk_{}", b64(&hex::decode(&sw_public_hex).unwrap()));
    let broker = Broker::start();
    let (gateway, dir) = gateway_with_providers(
        &broker,
        PUBLIC_KEY_PROVIDERS,
        &[
            ("DISCORD_PUBLIC_KEY", &discord_public),
            ("SENDGRID_PUBLIC_KEY", &sendgrid_public),
            ("SW_WEBHOOK_SECRET", "whsec_c3cgaG1hYyBrZXk="),
            ("SW_PUBLIC_KEY", &sw_public),
        ],
    )
    .await;
    let file = dir.path().join("providers.yaml");

    let ts = now().to_string();
    let body = br#"{"version":1,"application_id":"9","type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{"user":{"id":"u-42"}}}}"#;
    let message = [ts.as_bytes(), body].concat();
    let discord_headers = |signature: String| {
        json_headers(&[
            ("x-signature-timestamp", ts.clone()),
            ("x-signature-ed25519", signature),
        ])
    };
    let signature = public_key_signature("ed25519", &discord_private, &message);
    let reply = gateway
        .post("discord", discord_headers(signature), body)
        .await;
    assert_eq!(reply.status, 204, "{}", reply.text());
    let records = read_topic(
        &broker.bootstrap(),
        "webhooks.discord.application_authorized",
        1,
        Duration::from_secs(10),
    );
    assert_eq!(record_key(&records[0]), "u-42");

    let (other_private, _) = key_pair("ed25519");
    let forged = public_key_signature("ed25519", &other_private, &message);
    let reply = gateway.post("discord", discord_headers(forged), body).await;
    assert_eq!(reply.status, 401);
    assert_eq!(reply.json()["error"], "signature_mismatch");

    // `sign --key-file` signs with the private key the gateway never holds.
    let mut child = Command::new(binary())
        .args(["sign", "discord", "--key-file", &discord_private])
        .env_clear()
        .env("GATEWAY_PROVIDERS_FILE", &file)
        .env("DISCORD_PUBLIC_KEY", &discord_public)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let signed: Vec<(String, String)> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .chain([("content-type".to_owned(), "application/json".to_owned())])
        .collect();
    let reply = gateway.post("discord", signed, body).await;
    assert_eq!(reply.status, 204, "sign's request: {}", reply.text());

    // Standard Webhooks: a v1a (Ed25519) entry beside a v1 (HMAC) one; the
    // v1 is wrong here, so only the key can have accepted it.
    let paid = br#"{"type":"invoice.paid","timestamp":"2026-11-23T10:00:00Z","data":{"invoiceId":"inv-7"}}"#;
    let signed = [b"msg_v1a.".as_slice(), ts.as_bytes(), b".", paid].concat();
    let v1a = b64(&hex::decode(public_key_signature("ed25519", &sw_private, &signed)).unwrap());
    let headers = json_headers(&[
        ("webhook-id", "msg_v1a".into()),
        ("webhook-timestamp", ts.clone()),
        (
            "webhook-signature",
            format!("v1,{} v1a,{v1a}", b64(&[0u8; 32])),
        ),
    ]);
    let reply = gateway.post("sw", headers, paid).await;
    assert_eq!(reply.status, 200, "{}", reply.text());

    // SendGrid: a JSON array of events, one signature over the whole request.
    let batch = br#"[{"email":"a@example.com","event":"delivered","sg_event_id":"sg-1","timestamp":1700000000},{"email":"b@example.com","event":"open","sg_event_id":"sg-2","timestamp":1700000001}]"#;
    let signature = public_key_signature(
        "ecdsa-p256",
        &sendgrid_private,
        &[ts.as_bytes(), batch].concat(),
    );
    let headers = json_headers(&[
        ("x-twilio-email-event-webhook-timestamp", ts.clone()),
        ("x-twilio-email-event-webhook-signature", signature),
    ]);
    let reply = gateway.post("sendgrid", headers, batch).await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["ids"].as_array().unwrap().len(), 2);
    for (topic, email) in [
        ("webhooks.sendgrid.delivered", "a@example.com"),
        ("webhooks.sendgrid.open", "b@example.com"),
    ] {
        let records = read_topic(&broker.bootstrap(), topic, 1, Duration::from_secs(10));
        assert_eq!(record_key(&records[0]), email);
    }
}
