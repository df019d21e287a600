//! Handshakes as the definitions declare them: the start-up rules, one
//! mistake each, and the replies the presets give (their senders' published
//! examples), through the pipeline's `handshake`.

use std::time::{Duration, SystemTime};

use http::HeaderMap;

use super::check_tests::{self, acme, load};
use crate::contract::DataSchemas;
use crate::engine::handshake::{Answer, Refusal};
use crate::engine::normalize::RequestMeta;
use crate::engine::pipeline::{self, Limits, Request};
use crate::engine::provider::Provider;
use crate::engine::route::Topics;
use crate::engine::verify::{Line, VerifyError};
use crate::settings::key_ring;
use crate::sign::{signature_headers, Parts};

/// The provider `acme` with `extra` keys, refused at `key` in one line.
fn refused(extra: &str, key: &str) -> String {
    check_tests::refused(&acme(extra), key)
}

#[test]
fn a_token_needs_a_handshake_secret_and_a_handshake_secret_needs_a_token() {
    let get = "    handshakes:
      - {name: verify, method: GET, query: {c: \"\"}, token: {query: t}, reply: {content_type: text/plain, body: \"{query:c}\"}}
";
    refused(get, "handshakes[0].token");
    refused(
        "    handshake_secret: {env: ACME_TOKEN}
    handshakes:
      - {name: verify, method: GET, query: {c: \"\"}, reply: {content_type: text/plain, body: \"{query:c}\"}}
",
        "handshake_secret",
    );
    let same = format!("    handshake_secret: {{env: ACME_SECRET}}\n{get}");
    refused(&same, "handshake_secret.env");
    let ok = format!("    handshake_secret: {{env: ACME_TOKEN}}\n{get}");
    refused(
        &ok.replace("token: {query: t}", "token: {cookie: t}"),
        "handshakes[0].token",
    );
    assert!(load(&acme(&ok)).is_ok());
}

#[test]
fn a_template_names_only_sources_the_match_provides() {
    let line = refused(
        "    handshakes:
      - {name: verify, method: GET, query: {mode: subscribe}, reply: {content_type: text/plain, body: \"{query:challenge}\"}}
",
        "handshakes[0].reply.body",
    );
    assert!(line.contains("{query:challenge}"), "{line}");
    refused(
        "    handshakes:
      - {name: verify, method: GET, query: {c: \"\"}, reply: {content_type: text/plain, body: \"{body:/challenge}\"}}
",
        "handshakes[0].reply.body",
    );
    refused(
        "    handshakes:
      - {name: verify, method: GET, when: {/type: verify}, reply: {status: 204}}
",
        "handshakes[0].when",
    );
    refused(
        "    handshakes:
      - {name: verify, reply: {status: 204}}
",
        "handshakes[0]",
    );
}

#[test]
fn an_unverified_post_handshake_reads_no_body_and_a_body_is_json() {
    // Anyone may send it: a body it matched on could be a signed event's.
    refused(
        "    handshakes:
      - {name: h, verified: false, when: {/type: hello}, reply: {status: 204}}
",
        "handshakes[0]",
    );
    refused(
        "    handshakes:
      - {name: h, verified: false, query: {c: \"\"}, reply: {content_type: text/plain, body: \"{body:/c}\"}}
",
        "handshakes[0]",
    );
    refused(
        "    body: any
    handshakes:
      - {name: h, when: {/type: hello}, reply: {status: 204}}
",
        "handshakes[0]",
    );
}

#[test]
fn two_handshakes_that_can_match_one_request_are_refused() {
    // Different parameters, no contradiction: one request can carry both.
    let line = refused(
        "    handshakes:
      - {name: a, method: GET, query: {a: \"\"}, reply: {status: 204}}
      - {name: b, method: GET, query: {b: \"\"}, reply: {status: 204}}
",
        "handshakes[1]",
    );
    assert!(
        line.contains("handshakes[0] can match the same request"),
        "{line}"
    );
    // Present and equal: the same.
    refused(
        "    handshakes:
      - {name: a, method: GET, query: {mode: \"\"}, reply: {status: 204}}
      - {name: b, method: GET, query: {mode: subscribe}, reply: {status: 204}}
",
        "handshakes[1]",
    );
    refused(
        "    handshakes:
      - {name: a, method: GET, query: {mode: x}, reply: {status: 204}}
      - {name: a, method: GET, query: {mode: y}, reply: {status: 204}}
",
        "handshakes[1].name",
    );
    // Told apart by a value, or by the method: both load.
    let apart = &acme(
        "    handshakes:
      - {name: a, method: GET, query: {mode: x}, reply: {status: 204}}
      - {name: b, method: GET, query: {mode: y}, reply: {status: 204}}
      - {name: c, query: {mode: x}, reply: {status: 204}}
",
    );
    assert!(load(apart).is_ok(), "{:?}", load(apart).err());
}

#[test]
fn a_handshake_that_can_match_a_catalogue_event_is_refused() {
    // The event's name is read at /type, as the handshake's `when`: an event
    // named `url_verification` would be answered and never published.
    let line = refused(
        "    events:
      - {name: url_verification, type: acme.url_verification, subject: /data/id}
    handshakes:
      - {name: hello, when: {/type: url_verification}, reply: {status: 204}}
",
        "handshakes[0]",
    );
    assert!(line.contains("can match events[0]"), "{line}");
    refused(
        "    events:
      - {name: ping, when: {/v: \"1\"}, type: acme.ping, subject: /data/id}
    handshakes:
      - {name: hello, when: {/v: \"1\"}, reply: {status: 204}}
",
        "handshakes[0]",
    );
    // Another name at the same pointer, or a GET: told apart.
    let ok = &acme(
        "    events:
      - {name: invoice.paid, type: acme.invoice.paid, subject: /data/id}
    handshakes:
      - {name: hello, when: {/type: url_verification}, reply: {status: 204}}
",
    );
    assert!(load(ok).is_ok(), "{:?}", load(ok).err());
}

#[test]
fn replies_are_2xx_of_a_type_whose_values_can_be_escaped() {
    let with = |reply: &str| {
        format!(
            "    handshakes:\n      - {{name: h, method: GET, query: {{c: \"\"}}, reply: {reply}}}\n"
        )
    };
    refused(&with("{status: 302}"), "handshakes[0].reply.status");
    refused(
        &with("{content_type: application/octet-stream, body: \"{query:c}\"}"),
        "handshakes[0].reply.content_type",
    );
    refused(
        &with("{body: \"{query:c}\"}"),
        "handshakes[0].reply.content_type",
    );
    refused(
        &with("{status: 204, content_type: text/plain}"),
        "handshakes[0].reply",
    );
    // A value outside a JSON string could be anything: refused.
    refused(
        &with("{content_type: application/json, body: '{\"n\": {query:c}}'}"),
        "handshakes[0].reply.body",
    );
    refused(
        &with("{content_type: text/plain, body: \"{query:c\"}"),
        "handshakes[0].reply.body",
    );
    refused(
        "    handshakes:
      - {name: h, method: GET, query: {c: \"\"}, values: {charset: \"z-a\"}, reply: {status: 204}}
",
        "handshakes[0].values.charset",
    );
    refused(
        "    handshakes:
      - {name: h, method: GET, query: {c: \"\"}, values: {max_len: 100000}, reply: {status: 204}}
",
        "handshakes[0].values.max_len",
    );
}

#[test]
fn an_hmac_needs_hmac_sha256_keys_and_unverified_it_signs_no_event_body() {
    let crc = |charset: &str| {
        format!(
            "    handshakes:
      - name: crc
        method: GET
        query: {{crc_token: \"\"}}
        values: {{charset: '{charset}'}}
        reply: {{content_type: application/json, body: '{{\"t\":\"{{hmac_base64 query:crc_token}}\"}}'}}
"
        )
    };
    for loose in [
        "A-Za-z0-9{}",
        "A-Za-z0-9[",
        "A-Za-z0-9=",
        "A-Za-z0-9<",
        "A-Za-z0-9&",
        "A-Za-z\"",
    ] {
        let line = refused(&crc(loose), "handshakes[0].values.charset");
        assert!(line.contains("event body"), "{line}");
    }
    refused(
        &format!("{}    body: any\n", crc("A-Za-z0-9")),
        "handshakes[0].verified",
    );
    let sha1 = acme(&crc("A-Za-z0-9")).replace(
        "signature: {header: x-acme-signature}",
        "signature: {header: x-acme-signature, algorithm: sha1}",
    );
    let line = check_tests::refused(&sha1, "handshakes[0].reply.body");
    assert!(
        line.contains("handshakes[0].reply.body: hmac_hex and hmac_base64 need"),
        "{line}"
    );
}

// ---- The presets' handshakes, answered as their senders' documentation shows.

const SECRET: &str = "handshake-test-secret";

/// The file's provider `acme` (`yaml` is its entry) compiled as the gateway
/// compiles it, with `secrets` in force and the handshake `tokens`.
fn provider(yaml: &str, secrets: &[&str], tokens: &[&str]) -> Provider {
    let defs = load(&format!("providers:\n{yaml}")).unwrap_or_else(|e| panic!("{e}"));
    let topics = Topics::new(&defs.list, "webhooks", &Default::default()).unwrap();
    let schemas = DataSchemas::load(&defs).unwrap();
    let def = defs.get("acme").unwrap().clone();
    let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
    let keys = key_ring(&def, &secrets)
        .unwrap()
        .with_handshake_tokens(tokens);
    Provider::new(def, &topics, schemas.uris(), Some(keys))
}

/// `provider`'s handshake for this request, if it is one: its name and reply.
fn ask(
    provider: &Provider,
    method: &str,
    query: Option<&str>,
    headers: &HeaderMap,
    body: &[u8],
) -> Option<(String, Result<Answer<'static>, Refusal>)> {
    let meta = RequestMeta::default();
    let request = Request {
        line: Line { method, query },
        headers,
        meta: &meta,
        received_at: SystemTime::now(),
    };
    let limits = Limits {
        replay_tolerance: Duration::from_secs(300),
        max_record_bytes: 1 << 20,
    };
    pipeline::handshake(provider, body, request, limits).map(|h| {
        let answer = h.answer.map(|a| Answer {
            status: a.status,
            content_type: a.content_type.map(|t| &*t.to_owned().leak()),
            body: a.body,
        });
        (h.handshake.name.clone(), answer)
    })
}

/// Headers signing `body` with `secret` as the provider's sender would.
fn signed(provider: &Provider, secret: &str, body: &[u8]) -> HeaderMap {
    let mut headers = HeaderMap::new();
    let signed = signature_headers(&provider.definition, secret, body, &Parts::default());
    for (name, value) in signed.unwrap() {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    headers
}

fn body_of(answer: Result<Answer<'_>, Refusal>) -> String {
    String::from_utf8(answer.expect("answered").body).unwrap()
}

// Zoom's "Validate your webhook endpoint" example request, and the
// encryptedToken that elastic/beats' Zoom test computes for it under the
// secret token `secretValueTest` (HMAC-SHA256, hex).
const ZOOM_VALIDATION: &[u8] = br#"{"payload":{"plainToken":"qgg8vlvZRS6UYooatFL8Aw"},"event_ts":1654503849680,"event":"endpoint.url_validation"}"#;
const ZOOM_ENCRYPTED: &str = "70c1f2e2e6ca2d39297490d1f9142c7d701415ea8e6151f6562a08fa657a40ff";

#[test]
fn zoom_answers_its_validation_with_the_hmac_of_the_secret_that_signed_it() {
    let zoom = "  - {name: acme, preset: zoom, secret: {env: ACME_SECRET}}\n";
    // Mid-rotation: the request is signed with the second secret, and the
    // reply is computed with it (Zoom checks it with the one it signed with).
    let zoom = provider(zoom, &["old-secret", "secretValueTest"], &[]);
    let headers = signed(&zoom, "secretValueTest", ZOOM_VALIDATION);
    let (name, answer) = ask(&zoom, "POST", None, &headers, ZOOM_VALIDATION).expect("a handshake");
    assert_eq!(name, "endpoint.url_validation");
    let answer = answer.unwrap();
    assert_eq!(answer.status, 200);
    assert_eq!(answer.content_type, Some("application/json"));
    let reply: serde_json::Value = serde_json::from_slice(&answer.body).unwrap();
    assert_eq!(
        reply,
        serde_json::json!({"plainToken": "qgg8vlvZRS6UYooatFL8Aw", "encryptedToken": ZOOM_ENCRYPTED})
    );
    // Unsigned, or signed with a stranger's secret: 401 like any request.
    let (_, unsigned) = ask(&zoom, "POST", None, &HeaderMap::new(), ZOOM_VALIDATION).unwrap();
    assert_eq!(unsigned, Err(Refusal::Unauthorized(VerifyError::Missing)));
    let forged = signed(&zoom, "not-zooms", ZOOM_VALIDATION);
    let (_, forged) = ask(&zoom, "POST", None, &forged, ZOOM_VALIDATION).unwrap();
    assert_eq!(forged, Err(Refusal::Unauthorized(VerifyError::Mismatch)));
    // An event is no handshake.
    let event = br#"{"event":"meeting.started","payload":{}}"#;
    assert!(ask(
        &zoom,
        "POST",
        None,
        &signed(&zoom, "old-secret", event),
        event
    )
    .is_none());
}

#[test]
fn a_hostile_value_is_refused_whole_never_reflected() {
    let zoom = "  - {name: acme, preset: zoom, secret: {env: ACME_SECRET}}\n";
    let zoom = provider(zoom, &[SECRET], &[]);
    for token in [
        "<script>alert(1)</script>".to_owned(),
        "a\\u0000b".to_owned(),
        "x".repeat(20_000),
        "\\\"},\\\"x\\\":\\\"".to_owned(),
    ] {
        let body = format!(
            r#"{{"payload":{{"plainToken":"{token}"}},"event":"endpoint.url_validation"}}"#
        );
        let headers = signed(&zoom, SECRET, body.as_bytes());
        let (_, answer) = ask(&zoom, "POST", None, &headers, body.as_bytes()).unwrap();
        assert_eq!(
            answer,
            Err(Refusal::Value),
            "{}",
            &token[..token.len().min(40)]
        );
    }
    // No plainToken at all: nothing to answer with.
    let body = br#"{"payload":{},"event":"endpoint.url_validation"}"#;
    let (_, answer) = ask(&zoom, "POST", None, &signed(&zoom, SECRET, body), body).unwrap();
    assert_eq!(answer, Err(Refusal::Value));
}

#[test]
fn meta_echoes_the_challenge_only_for_its_verify_token() {
    let meta = "  - {name: acme, preset: meta, secret: {env: ACME_SECRET}, handshake_secret: {env: ACME_VERIFY}}\n";
    let meta = provider(meta, &[SECRET], &["old-token", "meatyhamhock"]);
    // Meta's "Getting started" example request.
    let query = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=meatyhamhock";
    let (name, answer) = ask(&meta, "GET", Some(query), &HeaderMap::new(), b"").unwrap();
    assert_eq!(name, "hub.challenge");
    let answer = answer.unwrap();
    assert_eq!(
        (answer.status, answer.content_type),
        (200, Some("text/plain"))
    );
    assert_eq!(answer.body, b"1158201444");
    let wrong = "hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess";
    let (_, answer) = ask(&meta, "GET", Some(wrong), &HeaderMap::new(), b"").unwrap();
    assert_eq!(answer, Err(Refusal::Unauthorized(VerifyError::Mismatch)));
    let none = "hub.mode=subscribe&hub.challenge=1158201444";
    let (_, answer) = ask(&meta, "GET", Some(none), &HeaderMap::new(), b"").unwrap();
    assert_eq!(answer, Err(Refusal::Unauthorized(VerifyError::Missing)));
    // A repeated challenge is ambiguous: no handshake, never one of them picked.
    let twice = format!("{query}&hub.challenge=2");
    assert!(ask(&meta, "GET", Some(&twice), &HeaderMap::new(), b"").is_none());
    assert!(ask(
        &meta,
        "GET",
        Some("hub.mode=unsubscribe&hub.challenge=1"),
        &HeaderMap::new(),
        b""
    )
    .is_none());
}

#[test]
fn x_answers_the_crc_but_its_reply_never_signs_an_event() {
    let x = "  - {name: acme, preset: x, secret: {env: ACME_SECRET}}\n";
    let x = provider(x, &[SECRET], &[]);
    let token = "M2RkODJkZmMtYjlkYi00NmQ4LTk0MGUtM2JjYzkwM2Q4MjQ0";
    let query = format!("crc_token={token}&nonce=MTc2OTUxODI5MjkxNA");
    let (name, answer) = ask(&x, "GET", Some(&query), &HeaderMap::new(), b"").unwrap();
    assert_eq!(name, "crc");
    let reply: serde_json::Value = serde_json::from_str(&body_of(answer)).unwrap();
    let response = reply["response_token"].as_str().unwrap();
    // The reply is the signature header an event with body `token` would carry...
    let would_sign = signed(&x, SECRET, token.as_bytes());
    assert_eq!(
        would_sign["x-twitter-webhooks-signature"].to_str().unwrap(),
        response
    );
    // ...so such an event proves nothing and is refused, while a real one passes.
    let headers: HeaderMap = [(
        http::HeaderName::from_static("x-twitter-webhooks-signature"),
        response.parse().unwrap(),
    )]
    .into_iter()
    .collect();
    let def = &x.definition;
    let keys = x.keys();
    let verify = |headers: &HeaderMap, body: &[u8]| {
        crate::engine::verify::verify(
            def,
            keys.as_deref().unwrap(),
            Line::POST,
            headers,
            body.to_vec(),
            SystemTime::now(),
            Duration::from_secs(300),
        )
        .map(|_| ())
    };
    assert_eq!(
        verify(&headers, token.as_bytes()),
        Err(VerifyError::Mismatch)
    );
    let event = br#"{"for_user_id":"2244994945","tweet_create_events":[]}"#;
    assert_eq!(verify(&signed(&x, SECRET, event), event), Ok(()));
    // A token that could spell an event body is refused before any HMAC.
    let forged = "crc_token=%7B%22for_user_id%22%3A%221%22%7D";
    let (_, answer) = ask(&x, "GET", Some(forged), &HeaderMap::new(), b"").unwrap();
    assert_eq!(answer, Err(Refusal::Value));
}

#[test]
fn the_other_presets_answer_their_documented_challenges() {
    // Slack's url_verification example, signed like an event.
    let slack = "  - {name: acme, preset: slack, secret: {env: ACME_SECRET}}\n";
    let slack = provider(slack, &[SECRET], &[]);
    let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P","type":"url_verification"}"#;
    let mut headers = HeaderMap::new();
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let parts = Parts {
        timestamp: Some(now.clone()),
        ..Parts::default()
    };
    for (name, value) in signature_headers(&slack.definition, SECRET, body, &parts).unwrap() {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let (_, answer) = ask(&slack, "POST", None, &headers, body).unwrap();
    assert_eq!(
        body_of(answer),
        "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    );

    // Dropbox's verification request: unsigned, echoed.
    let dropbox = "  - {name: acme, preset: dropbox, secret: {env: ACME_SECRET}}\n";
    let dropbox = provider(dropbox, &[SECRET], &[]);
    let (_, answer) = ask(
        &dropbox,
        "GET",
        Some("challenge=abc123"),
        &HeaderMap::new(),
        b"",
    )
    .unwrap();
    assert_eq!(body_of(answer), "abc123");

    // Microsoft Graph: the token decoded, spaces and colons and all.
    let graph = "  - {name: acme, preset: microsoft-graph, secret: {env: ACME_SECRET}}\n";
    let graph = provider(graph, &[SECRET], &[]);
    let query = "validationToken=Validation%3A+Testing+client+application+reachability+for+subscription+Request-Id%3A+522a8e7e-096a-494c-aaf1-ac0dcfca45b7";
    let (name, answer) = ask(&graph, "POST", Some(query), &HeaderMap::new(), b"").unwrap();
    assert_eq!(name, "validation");
    // With a body it is no validation but a notification, verified as any.
    let notification = br#"{"value":[{"changeType":"created","clientState":"x"}]}"#;
    assert!(ask(&graph, "POST", Some(query), &HeaderMap::new(), notification).is_none());
    assert_eq!(
        body_of(answer),
        "Validation: Testing client application reachability for subscription Request-Id: 522a8e7e-096a-494c-aaf1-ac0dcfca45b7"
    );

    // Okta's one-time verification: its authorization header is checked.
    let okta = "  - {name: acme, preset: okta, secret: {env: ACME_SECRET}}\n";
    let okta = provider(okta, &["my-shared-secret"], &[]);
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-okta-verification-challenge",
        "Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg".parse().unwrap(),
    );
    let (_, answer) = ask(&okta, "GET", None, &headers, b"").unwrap();
    assert_eq!(answer, Err(Refusal::Unauthorized(VerifyError::Missing)));
    headers.insert("authorization", "my-shared-secret".parse().unwrap());
    let (_, answer) = ask(&okta, "GET", None, &headers, b"").unwrap();
    assert_eq!(
        body_of(answer),
        r#"{"verification":"Me_rShK8JHsTnbyYrWXCEoMGbM_zsZ6k0hLPZ_Pg"}"#
    );
}
