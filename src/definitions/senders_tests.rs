//! The senders' presets beyond the first four: each is exactly the scheme
//! provider-definitions.md's "More senders" table states (written out here in
//! full, without the preset), and verifies the vectors its sender publishes,
//! literal values copied from where they were published, never computed with
//! the gateway's code. Senders that publish none are checked end to end
//! against independent signers (tests/it/senders.rs).

// Built only under #[cfg(test)] (see mod.rs).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::compiled::{Definition, Retries};
use super::presets_tests::{at, check, headers, one, FILE};
use super::Definitions;
use crate::engine::form;
use crate::engine::verify::{verify, KeyRing, Line, VerifyError};

fn preset(preset: &str) -> Definition {
    // Square signs its notification URL, which only the operator knows.
    let url = match preset {
        "square" => ", url: https://hooks.example.com/square",
        "twilio" => ", url: https://hooks.example.com/twilio",
        "hubspot" => ", url: https://hooks.example.com/hubspot",
        // Meta's verify token is the operator's choice too.
        "meta" => ", handshake_secret: {env: ACME_VERIFY_TOKEN}",
        _ => "",
    };
    // A public-key scheme's variable is its `key`.
    let credential = match preset {
        "discord" | "sendgrid" => "key",
        _ => "secret",
    };
    one(&format!(
        "  - {{name: acme, preset: {preset}, {credential}: {{env: ACME_SECRET}}{url}}}\n"
    ))
}

/// The table's rows, as full definitions.
pub(super) const SENDERS: [(&str, &str); 20] = [
    (
        "slack",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: text}
    signature: {header: x-slack-signature, encoding: hex, prefix: "v0=", prefix_required: true, signed: "v0:{timestamp}:{body}"}
    timestamp: {source: {header: x-slack-request-timestamp}, format: unix, tolerance_secs: 300}
    id: {source: /event_id}
    event: {name: /event/type, data: /event, time: /event_time}
    timeout_ms: 2500
    retries: few
    handshakes:
      - {name: url_verification, method: POST, when: {/type: url_verification}, verified: true, values: {charset: A-Za-z0-9_-, max_len: 128}, reply: {status: 200, content_type: text/plain, body: "{body:/challenge}"}}
"#,
    ),
    (
        "zoom",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-zm-signature, encoding: hex, prefix: "v0=", prefix_required: true, signed: "v0:{timestamp}:{body}"}
    timestamp: {source: {header: x-zm-request-timestamp}, format: unix, tolerance_secs: 300}
    id: {source: {header: x-zm-trackingid}}
    event: {name: /event, data: /payload, time: /event_ts}
    timeout_ms: 2500
    retries: few
    handshakes:
      - name: endpoint.url_validation
        when: {/event: endpoint.url_validation}
        reply: {content_type: application/json, body: '{"plainToken":"{body:/payload/plainToken}","encryptedToken":"{hmac_hex body:/payload/plainToken}"}'}
"#,
    ),
    (
        "meta",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-hub-signature-256, encoding: hex, prefix: "sha256=", prefix_required: true}
    event: {name: /object, data: ""}
    retries: persistent
    handshake_secret: {env: ACME_VERIFY_TOKEN}
    handshakes:
      - name: hub.challenge
        method: GET
        query: {hub.mode: subscribe, hub.challenge: ""}
        verified: false
        token: {query: hub.verify_token}
        values: {charset: 0-9A-Za-z_-, max_len: 64}
        reply: {content_type: text/plain, body: "{query:hub.challenge}"}
"#,
    ),
    (
        "paddle",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: text}
    signature: {header: paddle-signature, encoding: hex, fields: {separator: ";", signature: h1}, signed: "{timestamp}:{body}"}
    timestamp: {source: {field: ts}, format: unix, tolerance_secs: 5}
    id: {source: /event_id}
    event: {name: /event_type, data: /data, time: /occurred_at}
    retries: persistent
"#,
    ),
    (
        "calendly",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: calendly-webhook-signature, encoding: hex, fields: {separator: ",", signature: v1}, signed: "{timestamp}.{body}"}
    timestamp: {source: {field: t}, format: unix, tolerance_secs: 180}
    event: {name: /event, data: /payload, time: /created_at}
    retries: persistent
"#,
    ),
    (
        "typeform",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: typeform-signature, encoding: base64, prefix: "sha256=", prefix_required: true}
    id: {source: /event_id}
    event: {name: /event_type, data: /form_response}
    retries: persistent
"#,
    ),
    (
        "intercom",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-hub-signature, algorithm: sha1, encoding: hex, prefix: "sha1=", prefix_required: true}
    id: {source: /id}
    event: {name: /topic, data: /data, time: /created_at}
"#,
    ),
    (
        "zendesk",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: text}
    signature: {header: x-zendesk-webhook-signature, encoding: base64, signed: "{timestamp}{body}"}
    timestamp: {source: {header: x-zendesk-webhook-signature-timestamp}, format: rfc3339, tolerance_secs: 300}
    id: {source: /id}
    event: {name: /type, data: /detail, time: /time}
    retries: few
"#,
    ),
    (
        "x",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-twitter-webhooks-signature, encoding: base64, prefix: "sha256=", prefix_required: true}
    event: {name: {value: account_activity}, data: ""}
    timeout_ms: 2500
    retries: few
    handshakes:
      - name: crc
        method: GET
        query: {crc_token: ""}
        values: {charset: A-Za-z0-9+/_-, max_len: 256}
        reply: {content_type: application/json, body: '{"response_token":"sha256={hmac_base64 query:crc_token}"}'}
"#,
    ),
    (
        "dropbox",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-dropbox-signature}
    event: {name: {value: notification}, data: ""}
    retries: few
    handshakes:
      - {name: challenge, method: GET, query: {challenge: ""}, reply: {content_type: text/plain, body: "{query:challenge}"}}
"#,
    ),
    (
        "gitlab",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-gitlab-token, algorithm: token}
    id: {source: {header: idempotency-key}}
    event: {name: {header: x-gitlab-event}, data: ""}
    retries: none
"#,
    ),
    (
        "linear",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: linear-signature}
    timestamp: {source: /webhookTimestamp, format: unix_ms, tolerance_secs: 60}
    id: {source: {header: linear-delivery}}
    event: {name: /type, join: /action, data: /data, time: /createdAt}
    retries: few
"#,
    ),
    (
        "square",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: text}
    signature: {header: x-square-hmacsha256-signature, encoding: base64, signed: "{url}{body}"}
    id: {source: /event_id}
    event: {name: /type, data: /data, time: /created_at}
    retries: persistent
    url: https://hooks.example.com/square
"#,
    ),
    (
        "twilio",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: text}
    signature: {header: x-twilio-signature, algorithm: sha1, encoding: base64, signed: "{url}{form_sorted}"}
    id: {source: {header: i-twilio-idempotency-token}}
    body: form
    event: {name: /MessageStatus, data: ""}
    accepted: {status: 200, content_type: text/xml, body: "<Response/>"}
    retries: none
    url: https://hooks.example.com/twilio
"#,
    ),
    (
        "slack-interactivity",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: text}
    signature: {header: x-slack-signature, encoding: hex, prefix: "v0=", prefix_required: true, signed: "v0:{timestamp}:{body}"}
    timestamp: {source: {header: x-slack-request-timestamp}, format: unix, tolerance_secs: 300}
    body: form
    form: {json: payload}
    event: {name: /type, data: ""}
    accepted: {status: 200}
    timeout_ms: 2500
    retries: few
"#,
    ),
    (
        "hubspot",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: text}
    signature: {header: x-hubspot-signature-v3, encoding: base64, signed: "{method}{url}{body}{timestamp}"}
    timestamp: {source: {header: x-hubspot-request-timestamp}, format: unix_ms, tolerance_secs: 300}
    batch: {items: "", id: [/subscriptionId, /eventId]}
    event: {name: /subscriptionType, data: "", time: /occurredAt}
    retries: persistent
    url: https://hooks.example.com/hubspot
"#,
    ),
    (
        "okta",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: authorization, algorithm: token}
    batch: {items: /data/events, id: /uuid}
    event: {name: /eventType, data: "", time: /published}
    timeout_ms: 2500
    retries: few
    handshakes:
      - name: verification
        method: GET
        header: {x-okta-verification-challenge: ""}
        verified: true
        reply: {content_type: application/json, body: '{"verification":"{header:x-okta-verification-challenge}"}'}
"#,
    ),
    (
        "discord",
        r#"  - name: acme
    key: {env: ACME_SECRET, encoding: hex}
    signature: {header: x-signature-ed25519, algorithm: ed25519, encoding: hex, signed: "{timestamp}{body}"}
    timestamp: {source: {header: x-signature-timestamp}, format: unix, tolerance_secs: 300}
    event: {name: /event/type, data: /event/data, time: /event/timestamp}
    accepted: {status: 204}
    timeout_ms: 2500
    retries: few
    handshakes:
      - {name: ping, when: {/type: "0"}, reply: {status: 204}}
"#,
    ),
    (
        "sendgrid",
        r#"  - name: acme
    key: {env: ACME_SECRET, encoding: base64}
    signature: {header: x-twilio-email-event-webhook-signature, algorithm: ecdsa-p256, encoding: base64, signed: "{timestamp}{body}"}
    timestamp: {source: {header: x-twilio-email-event-webhook-timestamp}, format: unix, tolerance_secs: 300}
    batch: {items: "", id: /sg_event_id}
    event: {name: /event, data: "", time: /timestamp}
    retries: persistent
"#,
    ),
    (
        "microsoft-graph",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {algorithm: token, source: /clientState}
    batch: {items: /value}
    event: {name: /changeType, data: ""}
    retries: few
    handshakes:
      - name: validation
        method: POST
        query: {validationToken: ""}
        verified: false
        values: {charset: "A-Za-z0-9 :;,.()/_-", max_len: 512}
        reply: {content_type: text/plain, body: "{query:validationToken}"}
"#,
    ),
];

#[test]
fn each_senders_preset_is_exactly_its_row_of_the_table() {
    for (name, written_out) in SENDERS {
        let mut merged = preset(name);
        assert_eq!(merged.preset.as_deref(), Some(name));
        merged.preset = None;
        assert_eq!(merged, one(written_out), "{name}");
    }
}

#[test]
fn what_a_verification_proves_and_what_a_refusal_costs_are_said() {
    let gitlab = preset("gitlab");
    assert_eq!(gitlab.retries, Some(Retries::None));
    let notes = gitlab.notes().join("\n");
    assert!(notes.contains("not what the body says"), "{notes}");
    assert!(notes.contains("does not retry"), "{notes}");
    // A token covers no body, so its sender's ids only refine the body's.
    assert!(!gitlab.id.unwrap().signed);
    assert!(preset("slack").notes()[0].contains("stops after a few tries"));
    assert!(preset("paddle").notes().is_empty());

    let yaml = "providers:\n  - {name: acme, preset: gitlab, secret: {env: ACME_SECRET}}\n";
    let defs = Definitions::with_file(Some((FILE, yaml))).unwrap();
    let shown = super::show::show(&defs, Some("acme")).unwrap();
    assert!(
        shown.contains("# provider \"acme\": its sender does not retry"),
        "{shown}"
    );
    assert!(shown.contains("retries: none"), "{shown}");
}

// Slack's example in "Verifying requests from Slack"
// (api.slack.com/authentication/verifying-requests-from-slack), also the
// vector of slackapi/python-slack-sdk's tests/slack_sdk/signature/test_signature_verifier.py.
const SLACK_SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";
const SLACK_TIMESTAMP: &str = "1531420618";
const SLACK_BODY: &[u8] = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
const SLACK_SIGNATURE: &str = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";

#[test]
fn slack_verifies_its_published_vector() {
    let def = preset("slack");
    let slack = |sig: &str, body: &[u8], now: u64| {
        let pairs = [
            ("x-slack-request-timestamp", SLACK_TIMESTAMP),
            ("x-slack-signature", sig),
        ];
        check(&def, &[SLACK_SECRET], &pairs, body, at(now))
    };
    assert_eq!(slack(SLACK_SIGNATURE, SLACK_BODY, 1_531_420_618), Ok(()));
    assert_eq!(
        slack(SLACK_SIGNATURE, &SLACK_BODY[1..], 1_531_420_618),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        slack(SLACK_SIGNATURE, SLACK_BODY, 1_531_420_618 + 301),
        Err(VerifyError::StaleTimestamp)
    );
    let bare = SLACK_SIGNATURE.strip_prefix("v0=").unwrap();
    assert_eq!(
        slack(bare, SLACK_BODY, 1_531_420_618),
        Err(VerifyError::Malformed)
    );
}

// Paddle's SDKs' vectors: PaddleHQ/paddle-go-sdk webhook_verifier_test.go,
// PaddleHQ/paddle-node-sdk src/__tests__/notifications/webhooks-validator.node.test.ts,
// PaddleHQ/paddle-python-sdk tests/Unit/Notification/test_Verifier.py (a
// wrong h1 before the right one: any h1 may match).
const PADDLE_GO_SECRET: &str =
    "pdl_ntfset_01hsdn8d43dt7mezr1ef2jtbaw_hKkRiCGyyRhbFwIUuqiTBgI7gnWoV0Gr";
const PADDLE_GO_HEADER: &str =
    "ts=1710929255;h1=6c05ef8fa83c44d751be6d259ec955ce5638e2c54095bf128e408e2fce1589c8";
const PADDLE_GO_BODY: &[u8] = br#"{"data":{"id":"pri_01hsdn96k2hxjzsq5yerecdj9j","name":null,"status":"active","quantity":{"maximum":999999,"minimum":1},"tax_mode":"account_setting","product_id":"pro_01hsdn8qp7yydry3x1yeg6a9rv","unit_price":{"amount":"1000","currency_code":"USD"},"custom_data":null,"description":"testing","import_meta":null,"trial_period":null,"billing_cycle":{"interval":"month","frequency":1},"unit_price_overrides":[]},"event_id":"evt_01hsdn97563968dy0szkmgjwh3","event_type":"price.created","occurred_at":"2024-03-20T10:07:35.590857Z","notification_id":"ntf_01hsdn977e920kbgzt6r6c9rqc"}"#;

#[test]
fn paddle_verifies_its_sdks_published_vectors() {
    let def = preset("paddle");
    let paddle = |secret: &str, header: &str, body: &[u8], now: u64| {
        check(
            &def,
            &[secret],
            &[("paddle-signature", header)],
            body,
            at(now),
        )
    };
    assert_eq!(
        paddle(
            PADDLE_GO_SECRET,
            PADDLE_GO_HEADER,
            PADDLE_GO_BODY,
            1_710_929_255
        ),
        Ok(())
    );
    assert_eq!(
        paddle(
            "VALID_SECRET",
            "ts=1698796800;h1=a300428748dce5c70e4da19bffd60769591ea969c99dea3105d0ec9612cf43f9",
            br#"{"data": ["1", "2"]}"#,
            1_698_796_800
        ),
        Ok(())
    );
    assert_eq!(
        paddle(
            "pdl_ntf_01hbpjmytsa32fhr36nqgc3kgb_WvRO0eL4Bj9rgYYIBZY6wZhG4EHy9jzh",
            "ts=1696195954;h1=dummy;h1=d96299976a6eb066f484d7fde011ac56fc32b38fc9940bc419d6e537fdc6ef02",
            b"hello-world",
            1_696_195_954
        ),
        Ok(())
    );
    // Paddle's own 5 s of age, after the MAC.
    assert_eq!(
        paddle(
            PADDLE_GO_SECRET,
            PADDLE_GO_HEADER,
            PADDLE_GO_BODY,
            1_710_929_255 + 6
        ),
        Err(VerifyError::StaleTimestamp)
    );
    assert_eq!(
        paddle(
            "another secret",
            PADDLE_GO_HEADER,
            PADDLE_GO_BODY,
            1_710_929_255
        ),
        Err(VerifyError::Mismatch)
    );
}

#[test]
fn a_token_is_the_secret_itself_compared_whole() {
    let def = preset("gitlab");
    let gitlab = |token: &str| {
        check(
            &def,
            &["old-token", "new token with spaces"],
            &[("x-gitlab-token", token)],
            b"{}",
            at(0),
        )
    };
    assert_eq!(gitlab("old-token"), Ok(()));
    assert_eq!(gitlab("new token with spaces"), Ok(()));
    for wrong in ["old-toke", "old-token-", "OLD-TOKEN", "x"] {
        assert_eq!(gitlab(wrong), Err(VerifyError::Mismatch), "{wrong}");
    }
    assert_eq!(
        check(&def, &["old-token"], &[], b"{}", at(0)),
        Err(VerifyError::Missing)
    );
}

#[test]
fn a_timestamp_in_the_body_is_checked_once_the_body_is_authentic() {
    let def = preset("linear");
    // Hex HMAC-SHA256 over the body, as Linear's docs describe it, computed
    // for these bodies with Python's hmac (no published vector exists).
    let body = br#"{"action":"create","type":"Issue","data":{"id":"i-1"},"webhookTimestamp":1700000000000}"#;
    let tag = "34b103b74d16f2f409155a841976af5db81832178c6f3bc9ed991d428a31755f";
    let untimed = br#"{"action":"create","type":"Issue","data":{"id":"i-1"}}"#;
    let untimed_tag = "1e73b3ebcbeeac756ce22c48e13860f29324ba607e716736355929d4fc8bcc14";
    let linear = |tag: &str, body: &[u8], now: u64| {
        check(
            &def,
            &["linear-secret"],
            &[("linear-signature", tag)],
            body,
            at(now),
        )
    };
    assert_eq!(linear(tag, body, 1_700_000_000), Ok(()));
    assert_eq!(linear(tag, body, 1_700_000_060), Ok(()));
    assert_eq!(
        linear(tag, body, 1_700_000_061),
        Err(VerifyError::StaleTimestamp),
        "Linear's 60 s"
    );
    // A forgery is refused for its signature, whatever its timestamp says.
    assert_eq!(
        linear(untimed_tag, body, 1_700_000_000),
        Err(VerifyError::Mismatch)
    );
    // An authentic body without a timestamp cannot be bounded.
    assert_eq!(
        linear(untimed_tag, untimed, 1_700_000_000),
        Err(VerifyError::Malformed)
    );
}

// Square's SDK vectors: square/square-nodejs-sdk tests/integration/webhooks.test.ts.
const SQUARE_BODY: &[u8] = br#"{"merchant_id":"MLEFBHHSJGVHD","type":"webhooks.test_notification","event_id":"ac3ac95b-f97d-458c-a6e6-18981597e05f","created_at":"2022-07-13T20:30:59.037339943Z","data":{"type":"webhooks","id":"bc368e64-01aa-407e-b46e-3231809b1129"}}"#;

#[test]
fn square_verifies_its_sdks_published_vectors_over_its_stated_url() {
    let square = |url: &str, key: &str, signature: &str, body: &[u8]| {
        let def = one(&format!(
            "  - {{name: acme, preset: square, secret: {{env: ACME_SECRET}}, url: \"{url}\"}}\n"
        ));
        let pairs = [("x-square-hmacsha256-signature", signature)];
        check(&def, &[key], &pairs, body, at(0))
    };
    let url = "https://webhook.site/679a4f3a-dcfa-49ee-bac5-9d0edad886b9";
    let sig = "GF4YkrJgGBDZ9NIYbNXBnMzqb2HoL4RW/S6vkZ9/2N4=";
    assert_eq!(
        square(url, "Ibxx_5AKakO-3qeNVR61Dw", sig, SQUARE_BODY),
        Ok(())
    );
    assert_eq!(
        square(
            "https://webhook.site/webhooks",
            "signature-key",
            "W3FlCNk5IA3ZQ2LHTWoajvzfaDu/OwY2tNHIHC3IUOA=",
            br#"{"data":{"type":"webhooks","id":"fake_id"}}"#
        ),
        Ok(())
    );
    // The URL is signed: another one (the request line behind an ingress) fails.
    assert_eq!(
        square(
            "https://webhook.site/other",
            "Ibxx_5AKakO-3qeNVR61Dw",
            sig,
            SQUARE_BODY
        ),
        Err(VerifyError::Mismatch)
    );
}

// twilio/twilio-node spec/validation.spec.js and twilio/twilio-python
// tests/unit/test_request_validator.py: the same token, URL and parameters.
const TWILIO_TOKEN: &str = "12345";
const TWILIO_FORM: &[u8] =
    b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";

#[test]
fn twilio_verifies_its_sdks_published_vectors_over_url_and_sorted_fields() {
    // The URL Twilio was given has a query: the definition states the rest,
    // and the request line brings the query, byte for byte.
    let def = one(
        "  - {name: acme, preset: twilio, secret: {env: ACME_SECRET}, url: \"https://mycompany.com/myapp.php\"}\n",
    );
    let twilio = |query: Option<&str>, signature: &str, form: &[u8]| {
        let keys = KeyRing::new(
            def.signature.algorithm,
            def.secret.encoding,
            &[TWILIO_TOKEN],
        )
        .unwrap();
        let line = Line {
            method: "POST",
            query,
        };
        let default = Duration::from_secs(300);
        verify(
            &def,
            &keys,
            line,
            &headers(&[("x-twilio-signature", signature)]),
            form,
            at(0),
            default,
        )
        .map(|_| ())
    };
    let query = Some("foo=1&bar=2");
    assert_eq!(
        twilio(query, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TWILIO_FORM),
        Ok(())
    );
    // Fields in another order sign the same.
    let reordered = b"To=%2B18005551212&From=%2B14158675309&Digits=1234&Caller=%2B14158675309&CallSid=CA1234567890ABCDE";
    assert_eq!(
        twilio(query, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", reordered),
        Ok(())
    );
    // Repeated names: sorted by value, a repeated value once (twilio-node).
    assert_eq!(
        twilio(
            query,
            "IK+Dwps556ElfBT0I3Rgjkr1wJU=",
            b"Sid=CA123&SidAccount=AC123&Digits=5678&Digits=1234&Digits=1234"
        ),
        Ok(())
    );
    // Without the query the sender signed, another URL.
    assert_eq!(
        twilio(None, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", TWILIO_FORM),
        Err(VerifyError::Mismatch)
    );
    // A body that is no form cannot be checked.
    assert_eq!(
        twilio(query, "RSOYDt4T1cUTdK1PDd93/VVr8B8=", b"a=%FF"),
        Err(VerifyError::Malformed)
    );
    assert!(!form::sorted(&form::fields(TWILIO_FORM).unwrap()).is_empty());
}

#[test]
fn slack_interactivity_verifies_slacks_vector_over_a_form_body() {
    // Slack's published vector is a slash command's form body.
    let def = preset("slack-interactivity");
    let pairs = [
        ("x-slack-request-timestamp", SLACK_TIMESTAMP),
        ("x-slack-signature", SLACK_SIGNATURE),
    ];
    assert_eq!(
        check(&def, &[SLACK_SECRET], &pairs, SLACK_BODY, at(1_531_420_618)),
        Ok(())
    );
}

// HubSpot's SDK vector: HubSpot/hubspot-api-python tests/spec/utils/test_signature.py
// (the same in hubspot-api-ruby spec/helpers/signature_spec.rb). Its body is
// not JSON, which verification does not read.
#[test]
fn hubspot_verifies_its_sdks_published_vector_over_method_url_body_and_time() {
    let def = one(
        "  - {name: acme, preset: hubspot, secret: {env: ACME_SECRET}, url: \"https://www.example.com/webhook_uri\"}\n",
    );
    let pairs = [
        ("x-hubspot-request-timestamp", "15000000"),
        (
            "x-hubspot-signature-v3",
            "HPW73RUtKmcYoEDADG0s6MmGFWUzWJKAW07r8RDgcQw=",
        ),
    ];
    let body = b"{'example_field':'example_value'}";
    let secret = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
    assert_eq!(check(&def, &[secret], &pairs, body, at(15_000)), Ok(()));
    assert_eq!(
        check(&def, &[secret], &pairs, body, at(15_000 + 301)),
        Err(VerifyError::StaleTimestamp)
    );
}

/// A seed made at test time: never a private key in the repository.
fn fresh_seed(label: &str) -> [u8; 32] {
    use sha2::Digest;
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    sha2::Sha256::digest(format!("{label}-{now}-{:p}", &now)).into()
}

#[test]
fn discord_verifies_ed25519_over_timestamp_and_body_with_any_of_its_keys() {
    use ed25519_dalek::Signer;
    let def = preset("discord");
    let (old, new) = (
        ed25519_dalek::SigningKey::from_bytes(&fresh_seed("old")),
        ed25519_dalek::SigningKey::from_bytes(&fresh_seed("new")),
    );
    let keys = [
        hex::encode(old.verifying_key().as_bytes()),
        hex::encode(new.verifying_key().as_bytes()),
    ];
    let keys = [keys[0].as_str(), keys[1].as_str()];
    let body = br#"{"version":1,"type":1,"event":{"type":"APPLICATION_AUTHORIZED","timestamp":"2024-10-18T14:42:53.064834","data":{"user":{"id":"1"}}}}"#;
    let ts = "1700000000";
    let signed: Vec<u8> = [ts.as_bytes(), body].concat();
    let discord = |signature: &str, body: &[u8], now: u64| {
        let pairs = [
            ("x-signature-timestamp", ts),
            ("x-signature-ed25519", signature),
        ];
        check(&def, &keys, &pairs, body, at(now))
    };
    for key in [&old, &new] {
        let signature = hex::encode(key.sign(&signed).to_bytes());
        assert_eq!(discord(&signature, body, 1_700_000_000), Ok(()));
        assert_eq!(
            discord(&signature, &body[1..], 1_700_000_000),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            discord(&signature, body, 1_700_000_301),
            Err(VerifyError::StaleTimestamp)
        );
    }
    let stranger = ed25519_dalek::SigningKey::from_bytes(&fresh_seed("stranger"));
    let forged = hex::encode(stranger.sign(&signed).to_bytes());
    assert_eq!(
        discord(&forged, body, 1_700_000_000),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        discord("00", body, 1_700_000_000),
        Err(VerifyError::Malformed)
    );
}

#[test]
fn sendgrid_verifies_ecdsa_der_with_its_public_key_as_sendgrid_shows_it() {
    use base64::Engine;
    use p256::ecdsa::signature::Signer;
    use p256::pkcs8::{EncodePublicKey, LineEnding};
    let def = preset("sendgrid");
    let signing = p256::ecdsa::SigningKey::from_slice(&fresh_seed("sendgrid")).unwrap();
    let public = signing.verifying_key().to_public_key_der().unwrap();
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let public_b64 = b64(public.as_bytes());
    let body = br#"[{"email":"a@example.com","event":"delivered","sg_event_id":"e-1","timestamp":1700000000}]"#;
    let ts = "1700000000";
    let signature: p256::ecdsa::Signature = signing.sign(&[ts.as_bytes(), body].concat());
    let signature = b64(signature.to_der().as_bytes());
    let pairs = [
        ("x-twilio-email-event-webhook-timestamp", ts),
        ("x-twilio-email-event-webhook-signature", signature.as_str()),
    ];
    assert_eq!(
        check(&def, &[&public_b64], &pairs, body, at(1_700_000_000)),
        Ok(())
    );
    assert_eq!(
        check(&def, &[&public_b64], &pairs, &body[1..], at(1_700_000_000)),
        Err(VerifyError::Mismatch)
    );
    // The same key in PEM, as a key file holds it (its lines split like a list).
    let pem_def =
        one("  - {name: acme, preset: sendgrid, key: {env: ACME_SECRET, encoding: pem}}\n");
    let pem = signing
        .verifying_key()
        .to_public_key_pem(LineEnding::LF)
        .unwrap();
    let lines: Vec<&str> = pem.lines().collect();
    assert_eq!(
        check(&pem_def, &lines, &pairs, body, at(1_700_000_000)),
        Ok(())
    );
    // A key that does not parse is refused when the key ring is built.
    assert!(KeyRing::new(
        def.signature.algorithm,
        def.secret.encoding,
        &["bm90IGEga2V5"]
    )
    .is_err());
}

#[test]
fn a_token_in_every_item_must_be_the_secret_in_every_item() {
    let def = preset("microsoft-graph");
    let graph = |body: &[u8]| {
        check(
            &def,
            &["client-state-1", "client-state-2"],
            &[],
            body,
            at(0),
        )
    };
    let item = |state: &str| {
        format!(r#"{{"subscriptionId":"s","changeType":"created","clientState":"{state}"}}"#)
    };
    let batch = |items: &[String]| format!(r#"{{"value":[{}]}}"#, items.join(","));
    assert_eq!(graph(batch(&[item("client-state-1")]).as_bytes()), Ok(()));
    assert_eq!(
        graph(batch(&[item("client-state-1"), item("client-state-2")]).as_bytes()),
        Ok(()),
        "either secret of a rotation"
    );
    assert_eq!(
        graph(batch(&[item("client-state-1"), item("guess")]).as_bytes()),
        Err(VerifyError::Mismatch),
        "one forged item refuses the request"
    );
    assert_eq!(
        graph(br#"{"value":[{"changeType":"created"}]}"#),
        Err(VerifyError::Missing)
    );
    assert_eq!(
        graph(br#"{"value":[]}"#),
        Err(VerifyError::Missing),
        "no item, no proof"
    );
    assert_eq!(graph(b"not json"), Err(VerifyError::Malformed));
}

#[test]
fn standard_webhooks_v1a_entries_verify_with_the_key_beside_the_secret() {
    use base64::Engine;
    use ed25519_dalek::Signer;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let def = one(
        "  - {name: acme, preset: standard-webhooks, secret: {env: ACME_SECRET}, key: {env: ACME_KEY}}\n",
    );
    assert_eq!(def.signature.key_prefix.as_deref(), Some("v1a,"));
    assert_eq!(def.key.as_ref().unwrap().env, "ACME_KEY");
    let signing = ed25519_dalek::SigningKey::from_bytes(&fresh_seed("v1a"));
    let whpk = format!("whpk_{}", b64(signing.verifying_key().as_bytes()));
    let secret = format!("whsec_{}", b64(b"acme hmac key"));
    let keys = KeyRing::new(def.signature.algorithm, def.secret.encoding, &[&secret])
        .unwrap()
        .with_keys_beside(def.key.as_ref().unwrap().encoding, &[&whpk])
        .unwrap();
    let (id, ts, body) = ("msg_1", "1700000000", br#"{"type":"a","data":{}}"#);
    let signed = [id.as_bytes(), b".", ts.as_bytes(), b".", body].concat();
    let v1a = format!("v1a,{}", b64(&signing.sign(&signed).to_bytes()));
    let v1 = {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(b"acme hmac key").unwrap();
        mac.update(&signed);
        format!("v1,{}", b64(&mac.finalize().into_bytes()))
    };
    let wrong_v1 = format!("v1,{}", b64(&[7u8; 32]));
    let wrong_v1a = format!("v1a,{}", b64(&[7u8; 64]));
    let sw = |header: &str| {
        let pairs = [
            ("webhook-id", id),
            ("webhook-timestamp", ts),
            ("webhook-signature", header),
        ];
        verify(
            &def,
            &keys,
            Line::POST,
            &headers(&pairs),
            &body[..],
            at(1_700_000_000),
            Duration::from_secs(300),
        )
        .map(|_| ())
    };
    assert_eq!(sw(&v1a), Ok(()), "v1a alone");
    assert_eq!(sw(&v1), Ok(()), "v1 alone");
    assert_eq!(sw(&format!("{wrong_v1} {v1a}")), Ok(()));
    assert_eq!(sw(&format!("{v1} {wrong_v1a}")), Ok(()));
    assert_eq!(
        sw(&format!("{wrong_v1} {wrong_v1a}")),
        Err(VerifyError::Mismatch)
    );
    // Without the key, v1a entries prove nothing.
    let secrets_only =
        KeyRing::new(def.signature.algorithm, def.secret.encoding, &[&secret]).unwrap();
    let pairs = [
        ("webhook-id", id),
        ("webhook-timestamp", ts),
        ("webhook-signature", v1a.as_str()),
    ];
    assert_eq!(
        verify(
            &def,
            &secrets_only,
            Line::POST,
            &headers(&pairs),
            &body[..],
            at(1_700_000_000),
            Duration::from_secs(300)
        )
        .map(|_| ()),
        Err(VerifyError::Mismatch)
    );
}

/// A batch item's delivery id decides its event id alone only where the
/// signature covers the item: Okta's token covers no body, so whoever holds
/// it cannot give another body an event's id by reusing its `uuid`.
#[test]
fn a_batch_items_id_is_its_own_only_under_a_signature_over_the_body() {
    use crate::engine::envelope::EventId;
    use crate::engine::normalize::RequestMeta;
    use crate::engine::pipeline::{records, Request};
    use crate::engine::provider::Provider;
    use crate::engine::route::Topics;

    let okta = preset("okta");
    assert!(
        !okta.batch.as_ref().unwrap().signed,
        "a token covers no body"
    );
    assert!(preset("sendgrid").batch.as_ref().unwrap().signed);

    let topics = Topics::new(std::slice::from_ref(&okta), "webhooks", &Default::default()).unwrap();
    let provider = Provider::new(okta, &topics, |_| None, None);
    let meta = RequestMeta::default();
    let request = Request {
        line: Line::POST,
        headers: &http::HeaderMap::new(),
        meta: &meta,
        received_at: at(0),
    };
    let id_of = |item: &str| {
        let body = format!(r#"{{"data":{{"events":[{item}]}}}}"#);
        let verified = crate::engine::verify::Verified::kept(body.into_bytes(), Vec::new());
        records(&provider, &verified, request, None)[0].id
    };
    let real = r#"{"uuid":"u-1","eventType":"user.session.start"}"#;
    let other = r#"{"uuid":"u-1","eventType":"user.account.lock"}"#;
    assert_eq!(id_of(real), id_of(real), "a redelivery keeps its id");
    assert_ne!(id_of(real), id_of(other), "the same uuid on another body");
    assert_eq!(
        id_of(real),
        EventId::of_unsigned_delivery("acme", "u-1", real.as_bytes())
    );
}
