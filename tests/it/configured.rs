//! Providers defined by hand in a providers file, without a preset, served end
//! to end: real HTTP in, the real broker out, each record read back. The
//! signatures are computed here from the schemes' description, independently
//! of the gateway's own signing code.

use std::collections::HashMap;
use std::time::Duration;

use rdkafka::message::{Message, OwnedMessage};

use crate::common::*;

/// Shared with the tests of `sign`, `--dev` and `topics` for configured providers.
pub const PROVIDERS: &str = r#"providers:
  # Hex over the raw body; an unsigned delivery id; two types on one topic.
  - name: hexa
    secret: {env: HEXA_SECRET}
    signature: {header: x-hexa-signature}
    id: {source: {header: x-hexa-delivery}}
    event: {name: /kind, data: /payload, user: /payload/owner}
    unrouted_subject: [/payload/ref, /payload/id]
    events:
      - {name: order.placed, type: hexa.order.placed, subject: /payload/id, topic: shared.orders}
      - {name: order.shipped, type: hexa.order.shipped, subject: /payload/id, topic: shared.orders}
  # Base64 SHA-512 over "<timestamp>:<body>", milliseconds, a base64 secret.
  - name: basey
    secret: {env: BASEY_SECRET, encoding: base64}
    signature: {header: x-basey-signature, algorithm: sha512, encoding: base64, signed: "{timestamp}:{body}"}
    timestamp: {source: {header: x-basey-timestamp}, format: unix_ms}
    event: {name: /type, data: /data, time: /data/at}
    sample: '{"type":"thing.made","data":{"thing":"t-42"}}'
    events:
      - {name: thing.made, type: basey.thing.made, subject: /data/thing}
  # A fields header (t=..,v1=..,v1=..); the delivery id is a body pointer (signed).
  - name: fieldy
    secret: {env: FIELDY_SECRET}
    signature: {header: x-fieldy-signature, fields: {separator: ",", signature: v1}, signed: "{timestamp}.{body}"}
    timestamp: {source: {field: t}, format: unix}
    id: {source: /id}
    event: {name: /type, data: /data}
    events:
      - {name: charge, when: {/data/state: ok}, type: fieldy.charge.ok, subject: /data/charge}
      - {name: charge, when: {/data/state: failed}, type: fieldy.charge.failed, subject: /data/charge}
  # Several base64 signatures behind "v1,", over "{id}.{timestamp}.{body}", a whsec secret.
  - name: multi
    secret: {env: MULTI_SECRET, encoding: whsec}
    signature: {header: x-multi-signature, encoding: base64, prefix: "v1,", prefix_required: true, separator: " ", signed: "{id}.{timestamp}.{body}"}
    timestamp: {source: {header: x-multi-timestamp}, format: unix}
    id: {source: {header: x-multi-id}}
    event: {name: /type, data: /data}
    events:
      - {name: note.added, type: multi.note.added, subject: /data/note}
  # Any body: the event name from a header.
  - name: blobby
    secret: {env: BLOBBY_SECRET}
    signature: {header: x-blobby-signature}
    body: any
    event: {name: {header: x-blobby-event}, data: /data}
    events:
      - {name: file.uploaded, type: blobby.file.uploaded, subject: {header: x-blobby-file}}
"#;

pub const HEXA: [&str; 2] = ["hexa-old", "hexa-new"];
pub const BASEY_KEY: &[u8] = b"basey raw key bytes";
pub const FIELDY: &str = "fieldy_text_secret";
pub const MULTI_KEY: &[u8] = b"multi-key-0123456789";
pub const BLOBBY: &str = "blobby-secret";

/// Each provider's secret variable, as the gateway is given it.
pub fn secrets() -> Vec<(&'static str, String)> {
    vec![
        ("HEXA_SECRET", HEXA.join(",")),
        ("BASEY_SECRET", b64(BASEY_KEY)),
        ("FIELDY_SECRET", FIELDY.to_owned()),
        ("MULTI_SECRET", format!("whsec_{}", b64(MULTI_KEY))),
        ("BLOBBY_SECRET", BLOBBY.to_owned()),
    ]
}

pub struct Setup {
    pub broker: Broker,
    pub gateway: Gateway,
    /// Holds the providers file, `providers.yaml`.
    pub dir: tempfile::TempDir,
}

pub async fn setup() -> Setup {
    let broker = Broker::start();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, PROVIDERS).unwrap();
    let secrets = secrets();
    let mut extra: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (*k, v.as_str())).collect();
    extra.push(("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()));
    let env = gateway_env(&broker.bootstrap(), &extra);
    let config =
        webhook_gateway::settings::Config::from_env(&env).expect("the providers file is valid");
    for topic in config.published.topics.all() {
        broker.create_topic(&topic);
    }
    let gateway = Gateway::start_config(config).await;
    gateway.wait_ready().await;
    Setup {
        broker,
        gateway,
        dir,
    }
}

/// The records on `topic`, by CloudEvents id.
pub fn records(s: &Setup, topic: &str, expected: usize) -> HashMap<String, OwnedMessage> {
    records_by_id(&s.broker.bootstrap(), topic, expected)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn providers_defined_by_hand_are_served_end_to_end() {
    let s = setup().await;
    let now = now_secs();

    // hexa: hex over the body, either secret of the rotation list; an
    // unsigned delivery id refines the body's id; two types share a topic.
    let placed = br#"{"kind":"order.placed","payload":{"id":"o-1","owner":"u-1","total":12.50}}"#;
    let hexa = |secret: &str, body: &[u8], delivery: &str| {
        json_headers(&[
            ("x-hexa-signature", hmac_hex(secret, &[body])),
            ("x-hexa-delivery", delivery.to_owned()),
        ])
    };
    let first = s
        .gateway
        .accepted("hexa", hexa(HEXA[0], placed, "d-1"), placed)
        .await;
    let retry = s
        .gateway
        .accepted("hexa", hexa(HEXA[1], placed, "d-1"), placed)
        .await;
    assert_eq!(
        first, retry,
        "a retry keeps its id, whichever secret signed it"
    );
    let replayed = s
        .gateway
        .accepted("hexa", hexa(HEXA[1], placed, "d-2"), placed)
        .await;
    assert_ne!(
        first, replayed,
        "the same body under another unsigned delivery id is another event"
    );
    let shipped = br#"{"kind":"order.shipped","payload":{"id":"o-1"}}"#;
    let shipped_id = s
        .gateway
        .accepted("hexa", hexa(HEXA[0], shipped, "d-3"), shipped)
        .await;
    assert_eq!(
        s.gateway
            .refused("hexa", hexa("wrong", placed, "d-1"), placed)
            .await,
        "signature_mismatch"
    );

    // basey: base64 SHA-512 over "<ms>:<body>", a base64-encoded secret.
    let made = br#"{"type":"thing.made","data":{"thing":"t-9","at":"2026-11-23T10:00:00+01:00"}}"#;
    let ms = (now * 1000).to_string();
    let basey = |ms: &str, body: &[u8]| {
        json_headers(&[
            ("x-basey-timestamp", ms.to_owned()),
            (
                "x-basey-signature",
                b64(&hmac_sha512(BASEY_KEY, &[ms.as_bytes(), b":", body])),
            ),
        ])
    };
    let made_id = s.gateway.accepted("basey", basey(&ms, made), made).await;
    let stale = ((now - 3600) * 1000).to_string();
    assert_eq!(
        s.gateway.refused("basey", basey(&stale, made), made).await,
        "timestamp_outside_window"
    );
    let seconds = now.to_string(); // the wrong unit for this scheme: far in the past
    assert_eq!(
        s.gateway
            .refused("basey", basey(&seconds, made), made)
            .await,
        "timestamp_outside_window"
    );

    // fieldy: t=..,v1=..,v1=..; any v1 may match; the id is the body's signed /id.
    let charge = |id: &str, state: &str| {
        format!(r#"{{"id":"{id}","type":"charge","data":{{"charge":"ch-1","state":"{state}"}}}}"#)
    };
    let fieldy = |t: u64, body: &[u8]| {
        let t = t.to_string();
        let sig = hmac_hex(FIELDY, &[t.as_bytes(), b".", body]);
        json_headers(&[(
            "x-fieldy-signature",
            format!("t={t},v1={},v0=ignored,v1={sig}", "ab".repeat(32)),
        )])
    };
    let ok = charge("evt_1", "ok");
    let ok_id = s
        .gateway
        .accepted("fieldy", fieldy(now, ok.as_bytes()), ok.as_bytes())
        .await;
    let resent = s
        .gateway
        .accepted("fieldy", fieldy(now - 5, ok.as_bytes()), ok.as_bytes())
        .await;
    assert_eq!(ok_id, resent, "re-signed with a new timestamp, same id");
    let failed = charge("evt_2", "failed");
    let failed_id = s
        .gateway
        .accepted("fieldy", fieldy(now, failed.as_bytes()), failed.as_bytes())
        .await;
    let pending = charge("evt_3", "pending");
    let pending_id = s
        .gateway
        .accepted(
            "fieldy",
            fieldy(now, pending.as_bytes()),
            pending.as_bytes(),
        )
        .await;

    // multi: several signatures, foreign ones skipped; the id is signed.
    let note = br#"{"type":"note.added","data":{"note":"n-1"}}"#;
    let multi = |ts: u64, id: &str, body: &[u8]| {
        let ts = ts.to_string();
        let sig = b64(&hmac_sha256(
            MULTI_KEY,
            &[id.as_bytes(), b".", ts.as_bytes(), b".", body],
        ));
        let other = b64(&hmac_sha256(b"rotated-away", &[body]));
        json_headers(&[
            ("x-multi-id", id.to_owned()),
            ("x-multi-timestamp", ts),
            (
                "x-multi-signature",
                format!("v1a,{sig} v1,{other} v1,{sig}"),
            ),
        ])
    };
    let note_id = s
        .gateway
        .accepted("multi", multi(now, "msg_1", note), note)
        .await;
    let note_retry = s
        .gateway
        .accepted("multi", multi(now + 7, "msg_1", note), note)
        .await;
    assert_eq!(
        note_id, note_retry,
        "a retry re-signed with a new timestamp keeps its id"
    );
    let mut forged = multi(now, "msg_1", note);
    forged.retain(|(k, _)| k != "x-multi-id");
    forged.push(("x-multi-id".into(), "msg_2".into()));
    assert_eq!(
        s.gateway.refused("multi", forged, note).await,
        "signature_mismatch"
    );

    // blobby: a non-JSON body, routed by a header, published as data_base64.
    let blob = b"\x89PNG\r\n\x1a\n not json at all";
    let blob_headers = vec![
        ("x-blobby-signature".to_string(), hmac_hex(BLOBBY, &[blob])),
        ("x-blobby-event".to_string(), "file.uploaded".to_string()),
        ("x-blobby-file".to_string(), "f-1".to_string()),
        ("content-type".to_string(), "image/png".to_string()),
    ];
    let blob_id = s.gateway.accepted("blobby", blob_headers, blob).await;

    // Unknown to the catalogue: unrouted, keyed by the unrouted subject.
    let unknown = br#"{"kind":"order.refunded","payload":{"id":"o-1","ref":"r-5"}}"#;
    let unknown_id = s
        .gateway
        .accepted("hexa", hexa(HEXA[0], unknown, "d-9"), unknown)
        .await;
    // Not JSON for a JSON provider: dead-lettered, whole.
    let garbage = b"kind=order.placed";
    let dead_id = s
        .gateway
        .accepted("hexa", hexa(HEXA[0], garbage, "d-10"), garbage)
        .await;

    // -- Read everything back.
    let orders = records(&s, "shared.orders", 4);
    let o = &orders[&first];
    assert_eq!(
        header(o, "event-type").as_deref(),
        Some("hexa.order.placed")
    );
    assert_eq!(record_key(o), "o-1");
    let v = value_json(o);
    assert_eq!(v["source"], "/providers/hexa");
    assert_eq!(v["subject"], "o-1");
    assert_eq!(v["userid"], "u-1");
    assert_eq!(v["deliveryid"], "d-1");
    assert_eq!(data_text(o), r#"{"id":"o-1","owner":"u-1","total":12.50}"#);
    assert_eq!(
        header(&orders[&replayed], "event-type").as_deref(),
        Some("hexa.order.placed")
    );
    assert_eq!(
        value_json(&orders[&shipped_id])["type"],
        "hexa.order.shipped"
    );

    let things = records(&s, "webhooks.basey.thing.made", 1);
    let t = &things[&made_id];
    assert_eq!(record_key(t), "t-9");
    assert_eq!(value_json(t)["time"], "2026-11-23T09:00:00Z");
    assert!(value_json(t).get("deliveryid").is_none());

    let ok_records = records(&s, "webhooks.fieldy.charge.ok", 2);
    assert_eq!(ok_records.len(), 1, "both deliveries carry the one id");
    let c = &ok_records[&ok_id];
    assert_eq!(
        (record_key(c), value_json(c)["deliveryid"].clone()),
        ("ch-1".into(), "evt_1".into())
    );
    records(&s, "webhooks.fieldy.charge.failed", 1)
        .get(&failed_id)
        .expect("the failed charge on its own topic");

    let notes = records(&s, "webhooks.multi.note.added", 2);
    assert_eq!(notes.len(), 1, "the retry has the same id");
    assert_eq!(value_json(&notes[&note_id])["deliveryid"], "msg_1");

    let blobs = records(&s, "webhooks.blobby.file.uploaded", 1);
    let b = value_json(&blobs[&blob_id]);
    assert_eq!(b["datacontenttype"], "image/png");
    assert_eq!(b["data_base64"], b64(blob));
    assert!(b.get("data").is_none());
    assert_eq!(record_key(&blobs[&blob_id]), "f-1");

    let unrouted = records(&s, "webhooks.unrouted", 2);
    let u = &unrouted[&unknown_id];
    assert_eq!(value_json(u)["type"], "hexa.unknown");
    assert_eq!(record_key(u), "r-5", "the first present unrouted_subject");
    assert_eq!(value_json(&unrouted[&pending_id])["type"], "fieldy.unknown");

    let dead = records(&s, "webhooks.deadletter", 1);
    let d = &dead[&dead_id];
    assert_eq!(d.payload(), Some(&garbage[..]));
    assert_eq!(header(d, "x-provider").as_deref(), Some("hexa"));
    assert_eq!(
        header(d, "x-deadletter-reason").as_deref(),
        Some("not_json")
    );

    // Each provider is its own label: nothing else from the request becomes one.
    for provider in ["hexa", "basey", "fieldy", "multi", "blobby"] {
        let series =
            format!(r#"webhook_requests_total{{outcome="accepted",provider="{provider}"}}"#);
        assert!(s.gateway.metric(&series).await >= 1.0, "{series}");
    }
    s.gateway.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn a_configured_providers_secret_file_is_re_read_and_decoded_as_its_definition_says() {
    let broker = Broker::start();
    broker.create_default_topics();
    broker.create_topic("webhooks.basey.thing.made");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, PROVIDERS).unwrap();
    let secret = dir.path().join("basey");
    std::fs::write(&secret, format!("{}\n", b64(b"first key"))).unwrap();
    let env = gateway_env(
        &broker.bootstrap(),
        &[
            ("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap()),
            ("BASEY_SECRET_FILE", secret.to_str().unwrap()),
            ("GATEWAY_SECRET_RELOAD_SECS", "1"),
        ],
    );
    let gateway = Gateway::start_ready(env).await;
    let body = br#"{"type":"thing.made","data":{"thing":"t-1"}}"#;
    let public = gateway.public;
    let send = |key: &'static [u8]| async move {
        let ms = (now_secs() * 1000).to_string();
        let headers = json_headers(&[
            (
                "x-basey-signature",
                b64(&hmac_sha512(key, &[ms.as_bytes(), b":", body])),
            ),
            ("x-basey-timestamp", ms),
        ]);
        request(public, "POST", "/webhooks/basey", &headers, body.to_vec()).await
    };
    assert_eq!(send(b"first key").await.unwrap().status, 200);

    std::fs::write(&secret, format!("{}\n", b64(b"second key"))).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while send(b"second key").await.unwrap().status != 200 {
        assert!(
            std::time::Instant::now() < deadline,
            "the rotated secret never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        send(b"first key").await.unwrap().status,
        401,
        "the old key is gone"
    );
    gateway.stop().await;
}

/// Every label value of a scrape, by label name.
fn label_values(scrape: &str) -> HashMap<String, std::collections::BTreeSet<String>> {
    let mut labels: HashMap<String, std::collections::BTreeSet<String>> = HashMap::new();
    for line in scrape.lines().filter(|l| !l.starts_with('#')) {
        let Some((_, rest)) = line.split_once('{') else {
            continue;
        };
        let Some((set, _)) = rest.rsplit_once('}') else {
            continue;
        };
        for pair in set.split("\",").filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once("=\"").expect("name=\"value\"");
            labels
                .entry(name.to_owned())
                .or_default()
                .insert(value.trim_end_matches('"').to_owned());
        }
    }
    labels
}

/// The `provider` label is a defined name or `unknown`, and nothing a request
/// carries (path, query, method, headers, body, event name, signature) becomes
/// a label value: a scanner cannot grow the series without bound.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs tansu: run by scripts/test.sh"]
async fn label_values_come_from_the_definitions_never_from_a_request() {
    let s = setup().await;
    const MARK: &str = "zzrequest";
    let public = s.gateway.public;
    let send = |method: &'static str,
                path: String,
                headers: Vec<(String, String)>,
                body: Vec<u8>| async move {
        request(public, method, &path, &headers, body)
            .await
            .unwrap()
            .status
    };
    let noise = || {
        json_headers(&[
            ("x-provider", MARK.to_owned()),
            ("x-hexa-delivery", MARK.to_owned()),
            ("traceparent", format!("00-{MARK}-{MARK}-01")),
        ])
    };

    // Paths that name no enabled provider: one `unknown` series, whatever they hold.
    for path in [
        format!("/webhooks/{MARK}"),
        format!("/webhooks/hexa/{MARK}"),
        "/webhooks/HEXA".to_owned(),
        "/webhooks/unknown".to_owned(),
        "/webhooks/".to_owned(),
        format!("/webhooks/%2e%2e/{MARK}"),
        format!("/{MARK}"),
        format!("/webhooks/{}", MARK.repeat(200)),
    ] {
        assert_eq!(
            send("POST", path.clone(), noise(), MARK.into()).await,
            404,
            "{path}"
        );
    }
    // A provider's path with a query, another method, a wrong signature.
    let path = format!("/webhooks/hexa?provider={MARK}");
    assert_eq!(send("POST", path, noise(), MARK.into()).await, 401);
    assert_eq!(
        send("GET", "/webhooks/hexa".into(), noise(), vec![]).await,
        405
    );
    let mut forged = noise();
    forged.push(("x-hexa-signature".into(), MARK.into()));
    assert_eq!(
        send("POST", "/webhooks/hexa".into(), forged, vec![]).await,
        401
    );

    // Verified bodies naming events no catalogue has, or none at all.
    let sign = |body: &[u8]| {
        let mut h = noise();
        h.push(("x-hexa-signature".into(), hmac_hex(HEXA[0], &[body])));
        h
    };
    for body in [
        format!(r#"{{"kind":"{MARK}","payload":{{"id":"{MARK}"}}}}"#),
        format!(r#"{{"kind":"{}","payload":{{}}}}"#, MARK.repeat(40)),
        format!("kind={MARK}"),
    ] {
        let body = body.into_bytes();
        assert_eq!(
            send("POST", "/webhooks/hexa".into(), sign(&body), body).await,
            200
        );
    }
    let blob = json_headers(&[
        ("x-blobby-event", MARK.to_owned()),
        ("x-blobby-file", MARK.to_owned()),
        ("x-blobby-signature", hmac_hex(BLOBBY, &[MARK.as_bytes()])),
    ]);
    assert_eq!(
        send("POST", "/webhooks/blobby".into(), blob, MARK.into()).await,
        200
    );

    let scrape = get(s.gateway.admin, "/metrics").await.unwrap().text();
    assert!(
        !scrape.to_lowercase().contains(MARK),
        "a request's text became part of the scrape"
    );
    let labels = label_values(&scrape);
    let config = webhook_gateway::settings::Config::from_env(&gateway_env(
        "127.0.0.1:1",
        &[(
            "GATEWAY_PROVIDERS_FILE",
            s.dir.path().join("providers.yaml").to_str().unwrap(),
        )],
    ))
    .unwrap();
    let defs = &config.published.providers.list;
    let mut allowed: Vec<String> = defs.iter().map(|d| d.name.clone()).collect();
    allowed.push("unknown".into());
    assert_eq!(
        labels["provider"]
            .iter()
            .filter(|p| !allowed.contains(p))
            .count(),
        0,
        "provider labels {:?}, defined {allowed:?}",
        labels["provider"]
    );
    assert!(labels["provider"].contains("unknown") && labels["provider"].contains("hexa"));
    let mut types: Vec<String> = defs
        .iter()
        .flat_map(|d| d.events.iter().map(|e| e.type_name.clone()))
        .collect();
    types.extend(defs.iter().map(|d| d.unknown_type()));
    types.push("deadletter".into());
    assert!(
        labels["type"].iter().all(|t| types.contains(t)),
        "type labels {:?}",
        labels["type"]
    );
    let topics = config.published.topics.all();
    assert!(
        labels["topic"].iter().all(|t| topics.contains(t.as_str())),
        "topic labels {:?}",
        labels["topic"]
    );
    s.gateway.stop().await;
}
