//! The four presets as an operator enables them (a name, a secret variable, a
//! catalogue), served end to end: real HTTP in, the real broker out, each
//! record read back. Signatures are computed here from each sender's published
//! scheme, independently of the gateway's code; the senders' own published
//! vectors go through HTTP too, checked at their own time by a gateway whose
//! clock is set to it (they are years old).

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rdkafka::message::{Message, OwnedMessage};

use crate::common::*;
use webhook_gateway::Inputs;

const PROVIDERS: &str = r#"providers:
  - name: acme
    preset: standard-webhooks
    secret: {env: ACME_WEBHOOK_SECRET}
    events:
      - {name: invoice.paid, type: acme.invoice.paid, subject: /data/invoiceId}
  - name: github
    preset: github
    secret: {env: GITHUB_WEBHOOK_SECRET}
    events:
      - {name: issues.opened, type: github.issues.opened, subject: /issue/number}
  - name: stripe
    preset: stripe
    secret: {env: STRIPE_WEBHOOK_SECRET}
    events:
      - {name: invoice.paid, type: stripe.invoice.paid, subject: /data/object/id}
      - {name: customer.created, type: stripe.customer.created, subject: /data/object/id}
  - name: shopify
    preset: shopify
    secret: {env: SHOPIFY_WEBHOOK_SECRET}
    events:
      - {name: orders/create, type: shopify.orders.create, subject: /id}
      - {name: products/update, type: shopify.products.update, subject: /id}
"#;

// Rotation lists: the old secret first, the new one second.
/// Standard Webhooks keys, configured once with "whsec_" and once without.
const ACME_OLD: &[u8] = b"acme old signing key";
const ACME_NEW: &[u8] = b"acme new signing key";
const GITHUB: [&str; 2] = ["github-old-secret", "github-new-secret"];
/// Stripe's signing secret is used as text, "whsec_" included, although what
/// follows the prefix happens to be valid base64 ("stripe key").
const STRIPE: [&str; 2] = ["whsec_c3RyaXBlIGtleQ==", "whsec_rolled_secret"];
const SHOPIFY: [&str; 2] = ["shopify-old-secret", "shopify-new-secret"];

/// Standard Webhooks: "v1,<base64>" over "<id>.<timestamp>.<body>".
fn sw_signature(key: &[u8], id: &str, ts: u64, body: &[u8]) -> String {
    let ts = ts.to_string();
    let tag = hmac_sha256(key, &[id.as_bytes(), b".", ts.as_bytes(), b".", body]);
    format!("v1,{}", b64(&tag))
}

fn sw_headers(id: &str, ts: u64, signature: String) -> Vec<(String, String)> {
    json_headers(&[
        ("webhook-id", id.to_owned()),
        ("webhook-timestamp", ts.to_string()),
        ("webhook-signature", signature),
    ])
}

/// GitHub: "sha256=<hex>" over the body; the delivery and the event in headers.
fn github_headers(secret: &str, event: &str, delivery: &str, body: &[u8]) -> Vec<(String, String)> {
    json_headers(&[
        (
            "x-hub-signature-256",
            format!("sha256={}", hmac_hex(secret, &[body])),
        ),
        ("x-github-event", event.to_owned()),
        ("x-github-delivery", delivery.to_owned()),
    ])
}

/// Stripe: hex over "<t>.<body>", the key being the secret's text.
fn stripe_v1(key: &[u8], t: u64, body: &[u8]) -> String {
    let t = t.to_string();
    hex::encode(hmac_sha256(key, &[t.as_bytes(), b".", body]))
}

fn stripe_headers(value: String) -> Vec<(String, String)> {
    json_headers(&[("stripe-signature", value)])
}

/// Shopify: base64 over the body; the topic and the event id in headers.
fn shopify_headers(
    secret: &str,
    topic: &str,
    event_id: &str,
    body: &[u8],
) -> Vec<(String, String)> {
    json_headers(&[
        (
            "x-shopify-hmac-sha256",
            b64(&hmac_sha256(secret.as_bytes(), &[body])),
        ),
        ("x-shopify-topic", topic.to_owned()),
        ("x-shopify-event-id", event_id.to_owned()),
        ("x-shopify-shop-domain", "example.myshopify.com".to_owned()),
    ])
}

struct Setup {
    broker: Broker,
    file: std::path::PathBuf,
    topics_created: std::cell::Cell<bool>,
    _dir: tempfile::TempDir,
}

impl Setup {
    fn new() -> Setup {
        let broker = Broker::start();
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("providers.yaml");
        std::fs::write(&file, PROVIDERS).unwrap();
        Setup {
            broker,
            file,
            topics_created: Default::default(),
            _dir: dir,
        }
    }

    /// The configuration with these secrets; every topic it routes to exists
    /// (created with the first).
    fn config(&self, secrets: [(&str, &str); 4]) -> webhook_gateway::settings::Config {
        let mut extra = vec![("GATEWAY_PROVIDERS_FILE", self.file.to_str().unwrap())];
        extra.extend(secrets);
        let env = gateway_env(&self.broker.bootstrap(), &extra);
        let config =
            webhook_gateway::settings::Config::from_env(&env).expect("the providers file is valid");
        if !self.topics_created.replace(true) {
            for topic in config.published.topics.all() {
                self.broker.create_topic(&topic);
            }
        }
        config
    }

    /// The records on `topic`, by CloudEvents id.
    fn records(&self, topic: &str, expected: usize) -> HashMap<String, OwnedMessage> {
        records_by_id(&self.broker.bootstrap(), topic, expected)
    }
}

/// What every routed record of these tests carries: its type (attribute and
/// header), key and subject, delivery id and source.
fn assert_record(m: &OwnedMessage, provider: &str, ty: &str, subject: &str, delivery: &str) {
    let v = value_json(m);
    assert_eq!(header(m, "event-type").as_deref(), Some(ty));
    assert_eq!(v["type"], ty);
    assert_eq!(v["source"], format!("/providers/{provider}"));
    assert_eq!(record_key(m), subject, "{ty}: the key is the subject");
    assert_eq!(v["subject"], subject);
    assert_eq!(v["deliveryid"], delivery);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn each_preset_is_served_end_to_end() {
    let s = Setup::new();
    let acme_secrets = format!("whsec_{},{}", b64(ACME_OLD), b64(ACME_NEW));
    let (github, stripe, shopify) = (GITHUB.join(","), STRIPE.join(","), SHOPIFY.join(","));
    let config = s.config([
        ("ACME_WEBHOOK_SECRET", &acme_secrets),
        ("GITHUB_WEBHOOK_SECRET", &github),
        ("STRIPE_WEBHOOK_SECRET", &stripe),
        ("SHOPIFY_WEBHOOK_SECRET", &shopify),
    ]);
    let gw = Gateway::start_config(config).await;
    gw.wait_ready().await;
    let now = now_secs();

    // ---- Standard Webhooks.
    let paid = br#"{"type":"invoice.paid","timestamp":"2026-11-23T10:00:00Z","data":{"invoiceId":"inv-1","amount":12.50}}"#;
    let id = "msg_2Kq7Yv0c";
    let good = sw_signature(ACME_OLD, id, now, paid);
    let other_key = sw_signature(b"a key of another endpoint", id, now, paid);
    let bare = good.strip_prefix("v1,").unwrap().to_owned();
    // Several signatures: other versions and another key's are skipped, one v1 matches.
    let several = format!("v1a,{bare} v2,{bare} {other_key} {good}");
    let acme_first = gw
        .accepted("acme", sw_headers(id, now, several), paid)
        .await;
    // A retry, re-signed with a new timestamp and the new key (configured
    // without "whsec_"): the signed webhook-id keeps the event id.
    let retry = sw_signature(ACME_NEW, id, now + 7, paid);
    let acme_retry = gw
        .accepted("acme", sw_headers(id, now + 7, retry), paid)
        .await;
    assert_eq!(acme_first, acme_retry, "a retry keeps its event id");
    for (signature, why) in [
        (bare.clone(), "an entry without its version"),
        (format!("v1a,{bare} v2,{bare}"), "only foreign versions"),
    ] {
        assert_eq!(
            gw.refused("acme", sw_headers(id, now, signature), paid)
                .await,
            "signature_malformed",
            "{why}"
        );
    }
    let stale = sw_signature(ACME_OLD, id, now - 3600, paid);
    assert_eq!(
        gw.refused("acme", sw_headers(id, now - 3600, stale), paid)
            .await,
        "timestamp_outside_window"
    );
    let tampered = br#"{"type":"invoice.paid","timestamp":"2026-11-23T10:00:00Z","data":{"invoiceId":"inv-1","amount":1250}}"#;
    assert_eq!(
        gw.refused("acme", sw_headers(id, now, good.clone()), tampered)
            .await,
        "signature_mismatch"
    );
    assert_eq!(
        gw.refused("acme", sw_headers(id, now, other_key), paid)
            .await,
        "signature_mismatch"
    );
    // The secret is decoded: its text used as the key is not it.
    let as_text = format!("whsec_{}", b64(ACME_OLD));
    let text_keyed = sw_signature(as_text.as_bytes(), id, now, paid);
    assert_eq!(
        gw.refused("acme", sw_headers(id, now, text_keyed), paid)
            .await,
        "signature_mismatch"
    );
    // The signed id cannot be swapped for another under the same signature.
    assert_eq!(
        gw.refused("acme", sw_headers("msg_other", now, good), paid)
            .await,
        "signature_mismatch"
    );
    let voided = br#"{"type":"invoice.voided","timestamp":"2026-11-23T11:00:00Z","data":{"invoiceId":"inv-1"}}"#;
    let signature = sw_signature(ACME_NEW, "msg_9", now, voided);
    let acme_unknown = gw
        .accepted("acme", sw_headers("msg_9", now, signature), voided)
        .await;

    // ---- GitHub.
    let opened =
        br#"{"action":"opened","issue":{"number":42,"title":"Crash on start"},"repository":{"full_name":"acme/app"}}"#;
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let gh_first = gw
        .accepted(
            "github",
            github_headers(GITHUB[0], "issues", delivery, opened),
            opened,
        )
        .await;
    let gh_again = gw
        .accepted(
            "github",
            github_headers(GITHUB[1], "issues", delivery, opened),
            opened,
        )
        .await;
    assert_eq!(gh_first, gh_again, "the same delivery, either secret");
    // The delivery id is not signed: the same body under another one is another event.
    let replayed = gw
        .accepted(
            "github",
            github_headers(GITHUB[1], "issues", "another-delivery", opened),
            opened,
        )
        .await;
    assert_ne!(gh_first, replayed, "replayed under another delivery id");
    let mut unprefixed = github_headers(GITHUB[0], "issues", delivery, opened);
    for (k, v) in &mut unprefixed {
        if k == "x-hub-signature-256" {
            *v = v.trim_start_matches("sha256=").to_owned();
        }
    }
    assert_eq!(
        gw.refused("github", unprefixed, opened).await,
        "signature_malformed",
        "the sha256= prefix is required"
    );
    let signed_for_opened = github_headers(GITHUB[0], "issues", delivery, opened);
    let closed =
        br#"{"action":"closed","issue":{"number":42,"title":"Crash on start"},"repository":{"full_name":"acme/app"}}"#;
    assert_eq!(
        gw.refused("github", signed_for_opened, closed).await,
        "signature_mismatch"
    );
    assert_eq!(
        gw.refused(
            "github",
            github_headers("not-the-secret", "issues", delivery, opened),
            opened
        )
        .await,
        "signature_mismatch"
    );
    let ping = br#"{"zen":"Keep it logically awesome.","hook_id":1}"#;
    let gh_unknown = gw
        .accepted(
            "github",
            github_headers(GITHUB[0], "ping", "ping-delivery", ping),
            ping,
        )
        .await;
    // A form-encoded delivery (GitHub's other content type) is verified, then dead-lettered.
    let form = b"payload=%7B%22zen%22%3A%22hi%22%7D";
    let mut form_headers = github_headers(GITHUB[0], "ping", "form-delivery", form);
    form_headers.retain(|(k, _)| k != "content-type");
    form_headers.push((
        "content-type".into(),
        "application/x-www-form-urlencoded".into(),
    ));
    let gh_form = gw.accepted("github", form_headers, form).await;

    // ---- Stripe.
    let invoice = |event: &str| {
        format!(
            r#"{{"id":"{event}","object":"event","type":"invoice.paid","created":1700000000,"data":{{"object":{{"id":"in_1","amount_paid":2000}}}}}}"#
        )
    };
    let evt_1 = invoice("evt_1");
    let body = evt_1.as_bytes();
    let stripe_key = STRIPE[0].as_bytes();
    let v1 = stripe_v1(stripe_key, now, body);
    // Several v1 (a wrong one first), and v0 (another scheme) skipped.
    let several = format!(
        "t={now},v0={v1},v1={},v1={v1}",
        stripe_v1(b"whsec_another_endpoint", now, body)
    );
    let stripe_first = gw.accepted("stripe", stripe_headers(several), body).await;
    // Stripe's retry: the same event re-signed later, here with the rolled secret.
    let later = now + 30;
    let resent = format!(
        "t={later},v1={}",
        stripe_v1(STRIPE[1].as_bytes(), later, body)
    );
    let stripe_retry = gw.accepted("stripe", stripe_headers(resent), body).await;
    assert_eq!(stripe_first, stripe_retry, "the event id comes from /id");
    let evt_2 = invoice("evt_2");
    let stripe_second = gw
        .accepted(
            "stripe",
            stripe_headers(format!(
                "t={now},v1={}",
                stripe_v1(stripe_key, now, evt_2.as_bytes())
            )),
            evt_2.as_bytes(),
        )
        .await;
    assert_ne!(stripe_first, stripe_second, "another /id, another event");
    assert_eq!(
        gw.refused("stripe", stripe_headers(format!("t={now},v0={v1}")), body)
            .await,
        "signature_malformed",
        "no v1 at all"
    );
    let old = now - 3600;
    assert_eq!(
        gw.refused(
            "stripe",
            stripe_headers(format!("t={old},v1={}", stripe_v1(stripe_key, old, body))),
            body
        )
        .await,
        "timestamp_outside_window"
    );
    let tampered = evt_1.replace("2000", "20000");
    assert_eq!(
        gw.refused(
            "stripe",
            stripe_headers(format!("t={now},v1={v1}")),
            tampered.as_bytes()
        )
        .await,
        "signature_mismatch"
    );
    // The secret is text, prefix included: neither its base64 reading nor
    // the text without "whsec_" is the key.
    let tail = STRIPE[0].strip_prefix("whsec_").unwrap();
    use base64::Engine;
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(tail)
        .unwrap();
    assert_eq!(decoded, b"stripe key");
    for wrong in [&decoded[..], tail.as_bytes(), b"whsec_wrong"] {
        let value = format!("t={now},v1={}", stripe_v1(wrong, now, body));
        assert_eq!(
            gw.refused("stripe", stripe_headers(value), body).await,
            "signature_mismatch"
        );
    }
    let refunded = br#"{"id":"evt_3","object":"event","type":"charge.refunded","created":1700000100,"data":{"object":{"id":"ch_1"}}}"#;
    let stripe_unknown = gw
        .accepted(
            "stripe",
            stripe_headers(format!(
                "t={now},v1={}",
                stripe_v1(stripe_key, now, refunded)
            )),
            refunded,
        )
        .await;

    // ---- Shopify.
    let order = br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"12.50"}"#;
    let event_id = "98880550-7158-44d4-b7cd-2c97c8a091b5";
    let shop_first = gw
        .accepted(
            "shopify",
            shopify_headers(SHOPIFY[0], "orders/create", event_id, order),
            order,
        )
        .await;
    let shop_again = gw
        .accepted(
            "shopify",
            shopify_headers(SHOPIFY[1], "orders/create", event_id, order),
            order,
        )
        .await;
    assert_eq!(shop_first, shop_again, "the same event id, either secret");
    let shop_replayed = gw
        .accepted(
            "shopify",
            shopify_headers(SHOPIFY[0], "orders/create", "another-event-id", order),
            order,
        )
        .await;
    assert_ne!(shop_first, shop_replayed, "replayed under another event id");
    let changed = br#"{"id":820982911946154508,"email":"jon@example.com","total_price":"1.25"}"#;
    assert_eq!(
        gw.refused(
            "shopify",
            shopify_headers(SHOPIFY[0], "orders/create", event_id, order),
            changed
        )
        .await,
        "signature_mismatch"
    );
    assert_eq!(
        gw.refused(
            "shopify",
            shopify_headers("not-the-secret", "orders/create", event_id, order),
            order
        )
        .await,
        "signature_mismatch"
    );
    let redact = br#"{"shop_id":954889,"shop_domain":"example.myshopify.com"}"#;
    let shop_unknown = gw
        .accepted(
            "shopify",
            shopify_headers(SHOPIFY[1], "shop/redact", "redact-1", redact),
            redact,
        )
        .await;

    // ---- Read everything back.
    let invoices = s.records("webhooks.acme.invoice.paid", 2);
    assert_eq!(invoices.len(), 1, "both deliveries carry the one id");
    let m = &invoices[&acme_first];
    assert_record(m, "acme", "acme.invoice.paid", "inv-1", id);
    assert_eq!(value_json(m)["time"], "2026-11-23T10:00:00Z");
    assert_eq!(value_json(m)["providerevent"], "invoice.paid");
    assert_eq!(data_text(m), r#"{"invoiceId":"inv-1","amount":12.50}"#);

    let issues = s.records("webhooks.github.issues.opened", 3);
    assert_eq!(issues.len(), 2);
    let m = &issues[&gh_first];
    assert_record(m, "github", "github.issues.opened", "42", delivery);
    let v = value_json(m);
    assert_eq!(
        v["providerevent"], "issues.opened",
        "the event header joined with /action"
    );
    assert_eq!(
        v["time"], v["receivedat"],
        "no time source: the receive time"
    );
    assert_eq!(
        data_text(m),
        std::str::from_utf8(opened).unwrap(),
        "the whole body"
    );
    assert_eq!(
        value_json(&issues[&replayed])["deliveryid"],
        "another-delivery"
    );

    let stripe_invoices = s.records("webhooks.stripe.invoice.paid", 3);
    assert_eq!(stripe_invoices.len(), 2);
    let m = &stripe_invoices[&stripe_first];
    assert_record(m, "stripe", "stripe.invoice.paid", "in_1", "evt_1");
    assert_eq!(
        value_json(m)["time"],
        "2023-11-14T22:13:20Z",
        "from /created"
    );
    assert_eq!(
        data_text(m),
        r#"{"object":{"id":"in_1","amount_paid":2000}}"#
    );
    assert_eq!(
        value_json(&stripe_invoices[&stripe_second])["deliveryid"],
        "evt_2"
    );

    let orders = s.records("webhooks.shopify.orders.create", 3);
    assert_eq!(orders.len(), 2);
    let m = &orders[&shop_first];
    assert_record(
        m,
        "shopify",
        "shopify.orders.create",
        "820982911946154508",
        event_id,
    );
    let v = value_json(m);
    assert_eq!(v["providerevent"], "orders/create");
    assert_eq!(v["time"], v["receivedat"]);
    assert_eq!(data_text(m), std::str::from_utf8(order).unwrap());

    // Events the catalogues do not know: unrouted, keyed by their event id.
    let unrouted = s.records("webhooks.unrouted", 4);
    for (id, ty, event) in [
        (&acme_unknown, "acme.unknown", "invoice.voided"),
        (&gh_unknown, "github.unknown", "ping"),
        (&stripe_unknown, "stripe.unknown", "charge.refunded"),
        (&shop_unknown, "shopify.unknown", "shop/redact"),
    ] {
        let m = &unrouted[id];
        assert_eq!(header(m, "event-type").as_deref(), Some(ty));
        assert_eq!(value_json(m)["providerevent"], event);
        assert_eq!(record_key(m), *id);
    }
    assert_eq!(
        value_json(&unrouted[&stripe_unknown])["deliveryid"],
        "evt_3"
    );

    let dead = s.records("webhooks.deadletter", 1);
    let d = &dead[&gh_form];
    assert_eq!(d.payload(), Some(&form[..]));
    assert_eq!(header(d, "x-provider").as_deref(), Some("github"));
    assert_eq!(
        header(d, "x-deadletter-reason").as_deref(),
        Some("not_json")
    );
    gw.stop().await;
}

// ---- The senders' published vectors, through HTTP. Where each was published
// is noted in src/definitions/presets_tests.rs, which checks them with verify().

const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_ID: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
const SW_TIMESTAMP: &str = "1614265330";
const SW_BODY: &[u8] = br#"{"test": 2432232314}"#;
const SW_SIGNATURE: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

const GH_SECRET: &str = "It's a Secret to Everybody";
const GH_BODY: &[u8] = b"Hello, World!";
const GH_SIGNATURE: &str =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

const STRIPE_SECRET: &str = "webhook_secret";
const STRIPE_HEADER: &str = "t=1533204620,v1=2220f87ef101a04665f11cdf770523143f875572008577fa0f20882ddb9cc3c7,v0=63f3a72374a733066c4be69ed7f8e5ac85c22c9f0a6a612ab9a025a9e4ee7eef";
/// stripe-dotnet's fixture, src/StripeTests/Resources/event_test_signature.json.
const STRIPE_BODY: &str = include_str!("../vectors/stripe-event_test_signature.json");

const SHOPIFY_SECRET: &str = "steffi";
const SHOPIFY_BODY: &[u8] = br#"{"foo":"bar"}"#;
const SHOPIFY_HMAC: &str = "/Redz4YXHLnSmmSN8grr5/Jl/Ua3d7yX3iWbjb8R8wo=";

/// Ten seconds after the Standard Webhooks vector was signed.
fn standard_webhooks_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_614_265_340)
}

/// 100 s after the Stripe vector was signed, as stripe-dotnet's own test.
fn stripe_time() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_533_204_720)
}

fn pairs(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    json_headers(
        &pairs
            .iter()
            .map(|(k, v)| (*k, v.to_string()))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn the_senders_published_vectors_pass_through_http_at_their_own_time() {
    let s = Setup::new();
    let secrets = [
        ("ACME_WEBHOOK_SECRET", SW_SECRET),
        ("GITHUB_WEBHOOK_SECRET", GH_SECRET),
        ("STRIPE_WEBHOOK_SECRET", STRIPE_SECRET),
        ("SHOPIFY_WEBHOOK_SECRET", SHOPIFY_SECRET),
    ];
    let sw = pairs(&[
        ("webhook-id", SW_ID),
        ("webhook-timestamp", SW_TIMESTAMP),
        ("webhook-signature", SW_SIGNATURE),
    ]);
    let stripe = pairs(&[("stripe-signature", STRIPE_HEADER)]);

    let config = s.config(secrets);
    let at_vectors_time = Inputs {
        clock: standard_webhooks_time,
        ..Inputs::default()
    };
    let gw = Gateway::start_with(config, at_vectors_time).await;
    gw.wait_ready().await;
    // Standard Webhooks' vector body has no `type`: verified, then dead-lettered.
    let sw_id = gw.accepted("acme", sw.clone(), SW_BODY).await;
    // GitHub's is not JSON: verified, then dead-lettered (the preset takes JSON only).
    let gh = pairs(&[
        ("x-hub-signature-256", GH_SIGNATURE),
        ("x-github-event", "ping"),
        ("x-github-delivery", "d-hello"),
    ]);
    let gh_id = gw.accepted("github", gh, GH_BODY).await;
    let shop = pairs(&[
        ("x-shopify-hmac-sha256", SHOPIFY_HMAC),
        ("x-shopify-topic", "products/update"),
        ("x-shopify-event-id", "e-foo"),
    ]);
    let shop_id = gw.accepted("shopify", shop, SHOPIFY_BODY).await;
    // The window is real: at this time, Stripe's vector is years old.
    assert_eq!(
        gw.refused("stripe", stripe.clone(), STRIPE_BODY.as_bytes())
            .await,
        "timestamp_outside_window"
    );
    gw.stop().await;

    let config = s.config(secrets);
    let at_stripes_time = Inputs {
        clock: stripe_time,
        ..Inputs::default()
    };
    let gw = Gateway::start_with(config, at_stripes_time).await;
    gw.wait_ready().await;
    let stripe_id = gw.accepted("stripe", stripe, STRIPE_BODY.as_bytes()).await;
    assert_eq!(
        gw.refused("acme", sw, SW_BODY).await,
        "timestamp_outside_window"
    );
    gw.stop().await;

    let customers = s.records("webhooks.stripe.customer.created", 1);
    let m = &customers[&stripe_id];
    assert_record(m, "stripe", "stripe.customer.created", "cus_123", "evt_123");
    let v = value_json(m);
    assert_eq!(v["time"], "2018-08-02T10:10:20Z", "from /created");
    assert_eq!(
        v["receivedat"], "2018-08-02T10:12:00Z",
        "the gateway's clock"
    );
    let data = &STRIPE_BODY[STRIPE_BODY.find("{\n    \"object\"").unwrap()..];
    let data = &data[..data.find("\n  },\n").unwrap() + 4];
    assert_eq!(
        data_text(m),
        data,
        "data byte for byte, line feeds included"
    );

    let products = s.records("webhooks.shopify.products.update", 1);
    let m = &products[&shop_id];
    assert_eq!(
        header(m, "event-type").as_deref(),
        Some("shopify.products.update")
    );
    assert_eq!(record_key(m), shop_id, "no /id: keyed by the event id");
    assert_eq!(value_json(m)["deliveryid"], "e-foo");
    assert_eq!(data_text(m), r#"{"foo":"bar"}"#);

    let dead = s.records("webhooks.deadletter", 2);
    for (id, body, reason) in [
        (&sw_id, SW_BODY, "missing_event"),
        (&gh_id, GH_BODY, "not_json"),
    ] {
        let d = &dead[id];
        assert_eq!(d.payload(), Some(body));
        assert_eq!(header(d, "x-deadletter-reason").as_deref(), Some(reason));
    }
}

/// `webhook-gateway sign`, as docs/providers.md's "Add a provider" uses it, signs each
/// published vector exactly as its sender did.
#[test]
fn sign_reproduces_each_published_vector() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, PROVIDERS).unwrap();
    let file = file.to_str().unwrap();
    let stripe_t = STRIPE_HEADER[2..12].to_owned();
    let stripe_v1 = STRIPE_HEADER[..STRIPE_HEADER.find(",v0=").unwrap()].to_owned();
    for (provider, var, secret, extra, body, want) in [
        (
            "acme",
            "ACME_WEBHOOK_SECRET",
            SW_SECRET,
            vec!["--id", SW_ID, "--timestamp", SW_TIMESTAMP],
            SW_BODY,
            vec![
                format!("webhook-id: {SW_ID}"),
                format!("webhook-timestamp: {SW_TIMESTAMP}"),
                format!("webhook-signature: {SW_SIGNATURE}"),
            ],
        ),
        (
            "github",
            "GITHUB_WEBHOOK_SECRET",
            GH_SECRET,
            vec!["--id", "d-1"],
            GH_BODY,
            vec![
                "x-github-delivery: d-1".to_owned(),
                format!("x-hub-signature-256: {GH_SIGNATURE}"),
            ],
        ),
        (
            "stripe",
            "STRIPE_WEBHOOK_SECRET",
            STRIPE_SECRET,
            vec!["--timestamp", &stripe_t],
            STRIPE_BODY.as_bytes(),
            vec![format!("stripe-signature: {stripe_v1}")],
        ),
        (
            "shopify",
            "SHOPIFY_WEBHOOK_SECRET",
            SHOPIFY_SECRET,
            vec!["--id", "e-1"],
            SHOPIFY_BODY,
            vec![
                "x-shopify-event-id: e-1".to_owned(),
                format!("x-shopify-hmac-sha256: {SHOPIFY_HMAC}"),
            ],
        ),
    ] {
        let mut args = vec!["sign", provider, "--providers-file", file];
        args.extend(extra);
        let out = sign(&args, var, secret, body);
        assert!(out.status.success(), "{provider}: {out:?}");
        let printed = String::from_utf8(out.stdout).unwrap();
        let mut lines: Vec<_> = printed.lines().map(str::to_owned).collect();
        lines.sort();
        let mut want = want;
        want.sort();
        assert_eq!(lines, want, "{provider}");
    }
}

fn sign(args: &[&str], var: &str, secret: &str, body: &[u8]) -> std::process::Output {
    use std::io::Write;
    use std::process::{Command, Stdio};
    let mut child = Command::new(binary())
        .args(args)
        .env_clear()
        .env(var, secret)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run the gateway binary");
    child.stdin.take().unwrap().write_all(body).unwrap();
    child.wait_with_output().unwrap()
}
