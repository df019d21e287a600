//! The four presets: each is exactly the scheme provider-definitions.md's
//! table states (written out here in full, without the preset), merges key by
//! key, and verifies the test vectors its sender publishes. The vectors are
//! literal values copied from where they were published, never computed with
//! the gateway's code.

// Built only under #[cfg(test)] (see mod.rs).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::{HeaderMap, HeaderName, HeaderValue};

use super::compiled::Definition;
use super::Definitions;
use crate::engine::verify::{verify, KeyRing, Line, VerifyError};

pub(super) const FILE: &str = "GATEWAY_PROVIDERS_FILE=/etc/gw/providers.yaml";

/// The one provider of `providers` (indented as a list item of `providers:`).
pub(super) fn one(provider: &str) -> Definition {
    let yaml = format!("providers:\n{provider}");
    let defs = Definitions::with_file(Some((FILE, &yaml))).unwrap_or_else(|e| panic!("{e}"));
    defs.configured()[0].clone()
}

/// A provider that takes `preset` and adds nothing but its name and secret.
fn preset(preset: &str) -> Definition {
    one(&format!(
        "  - {{name: acme, preset: {preset}, secret: {{env: ACME_SECRET}}}}\n"
    ))
}

/// provider-definitions.md's presets table, row by row, as full definitions:
/// every key the table names, and the format's defaults for the rest.
const TABLE: [(&str, &str); 4] = [
    (
        "standard-webhooks",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: whsec}
    signature:
      header: webhook-signature
      encoding: base64
      prefix: "v1,"
      prefix_required: true
      separator: " "
      signed: "{id}.{timestamp}.{body}"
      key_prefix: "v1a,"
    timestamp: {source: {header: webhook-timestamp}, format: unix, tolerance_secs: 300}
    id: {source: {header: webhook-id}}
    event: {name: /type, data: /data, time: /timestamp}
"#,
    ),
    (
        "github",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature:
      header: x-hub-signature-256
      encoding: hex
      prefix: "sha256="
      prefix_required: true
      signed: "{body}"
    id: {source: {header: x-github-delivery}}
    body: json
    event: {name: {header: x-github-event}, join: /action, data: ""}
"#,
    ),
    (
        "stripe",
        r#"  - name: acme
    secret: {env: ACME_SECRET, encoding: text}
    signature:
      header: stripe-signature
      encoding: hex
      fields: {separator: ",", signature: v1}
      signed: "{timestamp}.{body}"
    timestamp: {source: {field: t}, format: unix, tolerance_secs: 300}
    id: {source: /id}
    event: {name: /type, data: /data, time: /created}
"#,
    ),
    (
        "shopify",
        r#"  - name: acme
    secret: {env: ACME_SECRET}
    signature: {header: x-shopify-hmac-sha256, encoding: base64, signed: "{body}"}
    id: {source: {header: x-shopify-event-id}}
    event: {name: {header: x-shopify-topic}, data: ""}
"#,
    ),
];

#[test]
fn each_preset_is_exactly_its_row_of_the_table() {
    for (name, written_out) in TABLE {
        let mut merged = preset(name);
        assert_eq!(merged.preset.as_deref(), Some(name));
        merged.preset = None;
        assert_eq!(merged, one(written_out), "{name}");
    }
    // The table's "(signed)" and "(unsigned)": whether the delivery id alone
    // decides the event id.
    for (name, signed) in [
        ("standard-webhooks", true),
        ("github", false),
        ("stripe", true),
        ("shopify", false),
    ] {
        assert_eq!(preset(name).id.unwrap().signed, signed, "{name}");
    }
    let rows: Vec<&str> = TABLE
        .iter()
        .chain(&super::senders_tests::SENDERS)
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(
        super::load::PRESETS.map(|(n, _)| n).to_vec(),
        rows,
        "every preset has its row"
    );
}

#[test]
fn a_preset_merges_key_by_key_and_shows_merged() {
    // Svix's own header names, a longer window, no `time`: the rest stays the preset's.
    let svix = one(r#"  - name: acme
    preset: standard-webhooks
    secret: {env: ACME_SECRET}
    signature: {header: svix-signature}
    timestamp: {source: {header: svix-timestamp}, tolerance_secs: 600}
    id: {source: {header: svix-id}}
    event: {time: null}
"#);
    let sw = preset("standard-webhooks");
    assert_eq!(
        svix.signature.header.as_ref().unwrap().as_str(),
        "svix-signature"
    );
    assert_eq!(svix.signature.signed, sw.signature.signed);
    assert_eq!(svix.signature.separator, sw.signature.separator);
    assert_eq!(svix.secret.encoding, sw.secret.encoding);
    let t = svix.timestamp.as_ref().unwrap();
    assert_eq!(
        (t.format, t.tolerance_secs),
        (sw.timestamp.unwrap().format, Some(600))
    );
    assert_eq!(
        svix.id.as_ref().unwrap().source.to_string(),
        "{header: svix-id}"
    );
    assert!(
        svix.id.unwrap().signed,
        "{{id}} in the preset's template still covers it"
    );
    assert!(svix.event.time.is_none());
    assert_eq!(svix.event.name, sw.event.name);

    // `providers show` prints the merged definition, which loads back unchanged.
    let yaml = "providers:\n  - {name: acme, preset: stripe, secret: {env: ACME_SECRET}, timestamp: {tolerance_secs: 900}}\n";
    let defs = Definitions::with_file(Some((FILE, yaml))).unwrap();
    let shown = super::show::show(&defs, Some("acme")).unwrap();
    for line in [
        "preset: stripe",
        "header: stripe-signature",
        "signed: '{timestamp}.{body}'",
        "tolerance_secs: 900",
        "source: /id",
        "time: /created",
    ] {
        assert!(shown.contains(line), "{line}: {shown}");
    }
    let back = Definitions::with_file(Some((FILE, &shown))).unwrap();
    assert_eq!(back.configured(), defs.configured());
}

pub(super) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.insert(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

pub(super) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// Verifies as the gateway does, with the secrets decoded as the preset says.
pub(super) fn check(
    def: &Definition,
    secrets: &[&str],
    pairs: &[(&str, &str)],
    body: &[u8],
    now: SystemTime,
) -> Result<(), VerifyError> {
    let keys = KeyRing::new(def.signature.algorithm, def.secret.encoding, secrets).unwrap();
    // A default far wider than any vector's age: only a preset's own window applies.
    let default = Duration::from_secs(100 * 365 * 86_400);
    verify(def, &keys, Line::POST, &headers(pairs), body, now, default).map(|_| ())
}

// Standard Webhooks: the reference libraries' vector, in
// standard-webhooks/standard-webhooks libraries/javascript/src/webhook.test.ts
// ("sign function works"); the same values are Svix's example in "How to
// Verify Webhooks with the Svix Libraries" (docs.svix.com/receiving/verifying-payloads/how).
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TIMESTAMP: u64 = 1_614_265_330;
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

#[test]
fn standard_webhooks_verifies_its_published_vector() {
    let def = preset("standard-webhooks");
    let ts = SW_TIMESTAMP.to_string();
    let sw = |secret: &str, id: &str, sig: &str, body: &[u8], now: u64| {
        let pairs = [
            ("webhook-id", id),
            ("webhook-timestamp", ts.as_str()),
            ("webhook-signature", sig),
        ];
        check(&def, &[secret], &pairs, body, at(now))
    };
    assert_eq!(
        sw(SW_SECRET, SW_ID, SW_SIGNATURE, SW_BODY, SW_TIMESTAMP),
        Ok(())
    );
    // The libraries take the secret with or without its "whsec_" prefix.
    let bare = SW_SECRET.strip_prefix("whsec_").unwrap();
    assert_eq!(sw(bare, SW_ID, SW_SIGNATURE, SW_BODY, SW_TIMESTAMP), Ok(()));
    // The library's multi-signature case: other versions and wrong v1s beside the right one.
    let several = format!(
        "v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc= {SW_SIGNATURE} v1,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc="
    );
    assert_eq!(
        sw(SW_SECRET, SW_ID, &several, SW_BODY, SW_TIMESTAMP),
        Ok(())
    );
    // An entry without its version is no v1 signature, whatever it decodes to.
    let unversioned = SW_SIGNATURE.strip_prefix("v1,").unwrap();
    assert_eq!(
        sw(SW_SECRET, SW_ID, unversioned, SW_BODY, SW_TIMESTAMP),
        Err(VerifyError::Malformed)
    );
    let v2 = SW_SIGNATURE.replace("v1,", "v2,");
    assert_eq!(
        sw(SW_SECRET, SW_ID, &v2, SW_BODY, SW_TIMESTAMP),
        Err(VerifyError::Malformed)
    );
    // The preset's 300 s window, either way, after the MAC.
    for (now, want) in [
        (SW_TIMESTAMP + 300, Ok(())),
        (SW_TIMESTAMP - 300, Ok(())),
        (SW_TIMESTAMP + 301, Err(VerifyError::StaleTimestamp)),
        (SW_TIMESTAMP - 301, Err(VerifyError::StaleTimestamp)),
    ] {
        assert_eq!(
            sw(SW_SECRET, SW_ID, SW_SIGNATURE, SW_BODY, now),
            want,
            "{now}"
        );
    }
    // Body, id and secret are all covered.
    let tampered = br#"{"test": 2432232315}"#;
    for (secret, id, body) in [
        (SW_SECRET, SW_ID, &tampered[..]),
        (SW_SECRET, "msg_other", SW_BODY),
        ("whsec_c2VjcmV0LW9mLWFub3RoZXItZW5kcG9pbnQ=", SW_ID, SW_BODY),
    ] {
        assert_eq!(
            sw(secret, id, SW_SIGNATURE, body, SW_TIMESTAMP),
            Err(VerifyError::Mismatch)
        );
    }
}

// GitHub: "Validating webhook deliveries", section "Testing the webhook payload
// validation" (docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries;
// github/docs content/webhooks/using-webhooks/validating-webhook-deliveries.md).
const GH_SECRET: &str = "It's a Secret to Everybody";
const GH_BODY: &[u8] = b"Hello, World!";
const GH_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

#[test]
fn github_verifies_its_published_vector() {
    let def = preset("github");
    let gh = |secret: &str, sig: &str, body: &[u8]| {
        check(
            &def,
            &[secret],
            &[("x-hub-signature-256", sig)],
            body,
            at(0),
        )
    };
    assert_eq!(gh(GH_SECRET, GH_SIGNATURE, GH_BODY), Ok(()));
    // "The hash signature always starts with sha256=": without it, refused.
    let bare = GH_SIGNATURE.strip_prefix("sha256=").unwrap();
    assert_eq!(gh(GH_SECRET, bare, GH_BODY), Err(VerifyError::Malformed));
    assert_eq!(
        gh(GH_SECRET, GH_SIGNATURE, b"Hello, World?"),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        gh("It's a Secret to Nobody", GH_SIGNATURE, GH_BODY),
        Err(VerifyError::Mismatch)
    );
    // No timestamp: the clock plays no part.
    assert!(def.timestamp.is_none());
}

// Stripe: stripe-dotnet's webhook test, src/StripeTests/Services/Events/EventUtilityTest.cs
// (timestamp, secret and header) over its fixture
// src/StripeTests/Resources/event_test_signature.json, reproduced byte for byte
// (line feeds, final one included: the test reads it with "\r\n" replaced by "\n").
const STRIPE_SECRET: &str = "webhook_secret";
const STRIPE_TIMESTAMP: u64 = 1_533_204_620;
const STRIPE_HEADER: &str = "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";
const STRIPE_BODY: &str = include_str!("../../tests/vectors/stripe-event_test_signature.json");

#[test]
fn stripe_verifies_its_published_vector() {
    let def = preset("stripe");
    let stripe = |secret: &str, header: &str, body: &[u8], now: u64| {
        check(
            &def,
            &[secret],
            &[("stripe-signature", header)],
            body,
            at(now),
        )
    };
    let body = STRIPE_BODY.as_bytes();
    // As the library's ConstructEvent test: 100 s after signing, tolerance 300 s.
    assert_eq!(
        stripe(STRIPE_SECRET, STRIPE_HEADER, body, STRIPE_TIMESTAMP + 100),
        Ok(())
    );
    // RejectOutdatedTimestamp: 400 s after signing.
    assert_eq!(
        stripe(STRIPE_SECRET, STRIPE_HEADER, body, STRIPE_TIMESTAMP + 400),
        Err(VerifyError::StaleTimestamp)
    );
    // RejectIncorrectSignature: the body changed after signing.
    let changed = format!("{STRIPE_BODY}this_changes_the_json");
    assert_eq!(
        stripe(
            STRIPE_SECRET,
            STRIPE_HEADER,
            changed.as_bytes(),
            STRIPE_TIMESTAMP
        ),
        Err(VerifyError::Mismatch)
    );
    // The v0 entry is not a v1 signature: alone, there is nothing to compare.
    let v0_only = STRIPE_HEADER.replace(
        ",v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7",
        "",
    );
    assert_eq!(
        stripe(STRIPE_SECRET, &v0_only, body, STRIPE_TIMESTAMP),
        Err(VerifyError::Malformed)
    );
    // The timestamp is signed: another `t` under the same signature fails.
    let moved = STRIPE_HEADER.replace("t=1533204620", "t=1533204621");
    assert_eq!(
        stripe(STRIPE_SECRET, &moved, body, STRIPE_TIMESTAMP),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        stripe(
            "whsec_webhook_secret",
            STRIPE_HEADER,
            body,
            STRIPE_TIMESTAMP
        ),
        Err(VerifyError::Mismatch)
    );
}

// Shopify: Shopify's PHP library (Shopify/shopify-api-php), tests/Webhooks/RegistryTest.php:
// `processHeaders`' X-Shopify-Hmac-Sha256 over `json_encode(processBody)`, that is
// {"foo":"bar"}, with the API secret key "steffi" of tests/BaseTestCase.php.
const SHOPIFY_SECRET: &str = "steffi";
const SHOPIFY_BODY: &[u8] = br#"{"foo":"bar"}"#;
const SHOPIFY_HMAC: &str = "/Redz4YXHLnSmmSN8grr5/Jl/Ua3d7yX3iWbjb8R8wo=";

#[test]
fn shopify_verifies_its_published_vector() {
    let def = preset("shopify");
    let shopify = |secret: &str, hmac: &str, body: &[u8]| {
        check(
            &def,
            &[secret],
            &[("x-shopify-hmac-sha256", hmac)],
            body,
            at(0),
        )
    };
    assert_eq!(shopify(SHOPIFY_SECRET, SHOPIFY_HMAC, SHOPIFY_BODY), Ok(()));
    // The library's testProcessThrowsErrorOnInvalidHmac.
    assert_eq!(
        shopify(SHOPIFY_SECRET, "whoops_this_is_wrong", SHOPIFY_BODY),
        Err(VerifyError::Malformed)
    );
    assert_eq!(
        shopify(SHOPIFY_SECRET, SHOPIFY_HMAC, br#"{"foo":"baz"}"#),
        Err(VerifyError::Mismatch)
    );
    assert_eq!(
        shopify("steffi2", SHOPIFY_HMAC, SHOPIFY_BODY),
        Err(VerifyError::Mismatch)
    );
    // Any secret in the rotation list.
    let rotated = check(
        &def,
        &["new-secret", SHOPIFY_SECRET],
        &[("x-shopify-hmac-sha256", SHOPIFY_HMAC)],
        SHOPIFY_BODY,
        at(0),
    );
    assert_eq!(rotated, Ok(()));
}
