//! Properties of the trust boundary and the normalizer, over generated input:
//! nothing panics; a correctly signed body always verifies and any change to
//! it, its timestamp or its signature fails; every verified body yields
//! exactly one record whose `data` (or dead-letter value) is the bytes sent.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderName, HeaderValue};
use proptest::prelude::*;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::Sha256;
use webhook_gateway::definitions::compiled::{Algorithm, SecretEncoding};
use webhook_gateway::definitions::{Definition, Definitions};
use webhook_gateway::engine::normalize::{normalize, Normalized, Plan, RequestMeta};
use webhook_gateway::engine::verify::{verify, KeyRing, Line, VerifyError};

/// The two built-ins, whose definitions these properties exercise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ProviderId {
    M2m,
    Transfers,
}

impl ProviderId {
    fn def(self) -> Definition {
        let name = match self {
            ProviderId::M2m => "m2m",
            ProviderId::Transfers => "transfers",
        };
        Definitions::builtin().get(name).unwrap().clone()
    }
}

fn ring<S: AsRef<str>>(secrets: &[S]) -> KeyRing {
    KeyRing::new(Algorithm::Sha256, SecretEncoding::Text, secrets).unwrap()
}

const NOW: u64 = 1_790_000_000;
const TOLERANCE: Duration = Duration::from_secs(300);

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW)
}

fn hmac(secret: &str, parts: &[&[u8]]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    for p in parts {
        mac.update(p);
    }
    mac.finalize().into_bytes().to_vec()
}

/// A timestamp inside the window, in one of the three accepted forms.
fn timestamp() -> impl Strategy<Value = String> {
    (-299i64..299, 0u8..3).prop_map(|(offset, form)| {
        let secs = (NOW as i64 + offset) as u64;
        match form {
            0 => secs.to_string(),
            1 => (secs * 1000 + 123).to_string(),
            _ => time::OffsetDateTime::from_unix_timestamp(secs as i64)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap(),
        }
    })
}

/// Headers for `provider`, signed with `secret` over `body`.
fn signed_headers(
    provider: ProviderId,
    secret: &str,
    ts: &str,
    body: &[u8],
    prefix: bool,
    upper: bool,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    let sig = match provider {
        ProviderId::M2m => {
            h.insert("x-m2m-timestamp", HeaderValue::from_str(ts).unwrap());
            hmac(secret, &[ts.as_bytes(), b".", body])
        }
        ProviderId::Transfers => hmac(secret, &[body]),
    };
    let mut hex = hex::encode(sig);
    if upper {
        hex = hex.to_uppercase();
    }
    if prefix && provider == ProviderId::M2m {
        hex = format!("sha256={hex}");
    }
    let name = HeaderName::from_bytes(
        provider
            .def()
            .signature
            .header
            .as_ref()
            .unwrap()
            .as_str()
            .as_bytes(),
    )
    .unwrap();
    h.insert(name, HeaderValue::from_str(&hex).unwrap());
    h
}

fn provider() -> impl Strategy<Value = ProviderId> {
    prop_oneof![Just(ProviderId::M2m), Just(ProviderId::Transfers)]
}

fn check(
    provider: ProviderId,
    keys: &KeyRing,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), VerifyError> {
    verify(
        &provider.def(),
        keys,
        Line::POST,
        headers,
        body,
        now(),
        TOLERANCE,
    )
    .map(|_| ())
}

/// JSON text with varied whitespace, long numbers, escapes and nesting.
fn json_text() -> impl Strategy<Value = String> {
    let ws = prop_oneof![Just(""), Just(" "), Just("\n  "), Just("\t")];
    let leaf = prop_oneof![
        Just("null".to_owned()),
        Just("true".to_owned()),
        "-?(0|[1-9][0-9]{0,24})(\\.[0-9]{1,20})?([eE][+-]?[0-9]{1,3})?".prop_map(|s| s),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just(r#""caf\u00e9 \ud83d\ude00 \"quoted\" \\ /""#.to_owned()),
    ];
    leaf.prop_recursive(4, 32, 6, move |inner| {
        let ws = ws.clone();
        prop_oneof![
            (prop::collection::vec(inner.clone(), 0..5), ws.clone())
                .prop_map(|(items, w)| format!("[{w}{}{w}]", items.join(","))),
            (prop::collection::vec(("[a-zA-Z]{1,8}", inner), 0..5), ws).prop_map(|(fields, w)| {
                let body: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("{w}\"{k}\"{w}:{w}{v}"))
                    .collect();
                format!("{{{}{w}}}", body.join(","))
            }),
        ]
    })
}

/// A `data` object: generated fields plus, sometimes, the ids the extractors read.
fn data_object() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(("[a-zA-Z]{1,8}", json_text()), 0..6),
        prop::option::of(prop_oneof![
            Just("Completed"),
            Just("Failed"),
            Just("Pending")
        ]),
        prop::option::of("[a-z0-9-]{1,12}"),
    )
        .prop_map(|(fields, status, id)| {
            let mut parts: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("\"{k}\": {v}"))
                .collect();
            if let Some(s) = status {
                parts.push(format!("\"status\":\"{s}\""));
            }
            if let Some(id) = id {
                parts.push(format!(
                    "\"operationId\":\"{id}\",\"paymentReference\":\"{id}\",\"linkId\":{id:?}"
                ));
            }
            format!("{{{}}}", parts.join(", "))
        })
}

fn event_name() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("link.created".to_owned()),
        Just("link.opened".to_owned()),
        Just("user.data_request".to_owned()),
        Just("operation.created".to_owned()),
        Just("operation.cancelled".to_owned()),
        Just("Payment.Status".to_owned()),
        "[a-zA-Z._]{0,20}",
    ]
}

/// Values at the edges of what the providers' fields may carry: timestamps
/// far in the past or future (seconds, milliseconds, microseconds, RFC 3339
/// with any year and offset, leap seconds), huge integers and exponents,
/// strings, and the wrong JSON types.
fn extreme_value() -> impl Strategy<Value = String> {
    let rfc3339 = (
        0u32..10_000,
        1u32..13,
        1u32..32,
        0u32..25,
        0u32..61,
        0u32..62,
        prop_oneof![
            Just("Z".to_owned()),
            (0u32..24, 0u32..60).prop_map(|(h, m)| format!("+{h:02}:{m:02}")),
            (0u32..24, 0u32..60).prop_map(|(h, m)| format!("-{h:02}:{m:02}")),
        ],
        prop::option::of("[0-9]{1,12}"),
    )
        .prop_map(|(y, mo, d, h, mi, s, offset, frac)| {
            let frac = frac.map(|f| format!(".{f}")).unwrap_or_default();
            format!("\"{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}{offset}\"")
        });
    prop_oneof![
        any::<u64>().prop_map(|n| n.to_string()),
        any::<i64>().prop_map(|n| n.to_string()),
        (0u64..4_000_000_000).prop_map(|s| (s * 1_000_000).to_string()),
        "[1-9][0-9]{0,59}",
        "-?(0|[1-9][0-9]{0,2})(\\.[0-9]{1,5})?[eE][+-]?[0-9]{1,5}",
        rfc3339,
        "\"[0-9T:.+Z-]{0,30}\"",
        Just(r#""2016-12-31T23:59:60Z""#.to_owned()),
        Just(r#""9999-12-31T23:59:59.999999999-23:59""#.to_owned()),
        Just(r#""0000-01-01T00:00:00+23:59""#.to_owned()),
        any::<String>().prop_map(|s| serde_json::to_string(&s).unwrap()),
        Just("null".to_owned()),
        Just("true".to_owned()),
        Just("{}".to_owned()),
        Just("[1e999]".to_owned()),
    ]
}

/// A `data` object made of the field names the providers read, with extreme values.
fn provider_fields() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec![
        "createdAt",
        "paymentReference",
        "amount",
        "status",
        "linkId",
        "operationId",
        "dataRequestId",
        "referenceId",
        "userId",
        "currency",
    ]);
    prop::collection::vec((name, extreme_value()), 0..8).prop_map(|fields| {
        let fields: Vec<String> = fields.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
        format!("{{{}}}", fields.join(","))
    })
}

#[derive(Deserialize)]
struct DataOf<'a> {
    #[serde(borrow)]
    data: &'a RawValue,
}

/// Runs a body through a real verification, then the normalizer; returns the
/// record's `data` text (events) or value (dead letters).
fn record_payload(provider: ProviderId, body: &[u8]) -> (bool, Vec<u8>) {
    let keys = ring(&["k"]);
    let headers = signed_headers(provider, "k", &NOW.to_string(), body, false, false);
    let verified = verify(
        &provider.def(),
        &keys,
        Line::POST,
        &headers,
        body,
        now(),
        TOLERANCE,
    )
    .expect("signed");
    let defs = Definitions::builtin();
    let topics =
        webhook_gateway::engine::route::Topics::new(&defs.list, "webhooks", &Default::default())
            .unwrap();
    let plan = Plan::new(&provider.def(), &topics);
    let normalized = normalize(&plan, &verified, &headers, &RequestMeta::default(), now());
    let record = normalized.record();
    match &normalized {
        Normalized::Event(_) => {
            let value: DataOf = serde_json::from_slice(&record.value).expect("the value is JSON");
            (true, value.data.get().as_bytes().to_vec())
        }
        Normalized::DeadLetter(_) => {
            assert_eq!(&*record.topic, "webhooks.deadletter");
            (false, record.value)
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn verification_never_panics_on_any_headers_and_body(
        provider in provider(),
        headers in prop::collection::vec((prop_oneof![Just("x-m2m-signature"), Just("x-m2m-timestamp"), Just("x-transfers-signature"), Just("x-other")], prop::collection::vec(any::<u8>(), 0..80)), 0..5),
        body in prop::collection::vec(any::<u8>(), 0..512),
    ) {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            if let Ok(v) = HeaderValue::from_bytes(&value) {
                map.append(HeaderName::from_static(name), v);
            }
        }
        let _ = check(provider, &ring(&["k"]), &map, &body);
    }

    #[test]
    fn a_correctly_signed_body_always_verifies(
        provider in provider(),
        secrets in prop::collection::vec("[ -~]{1,40}", 1..4),
        pick in any::<prop::sample::Index>(),
        ts in timestamp(),
        body in prop::collection::vec(any::<u8>(), 0..2048),
        prefix in any::<bool>(),
        upper in any::<bool>(),
    ) {
        let secret = pick.get(&secrets).clone();
        let keys = ring(&secrets);
        let headers = signed_headers(provider, &secret, &ts, &body, prefix, upper);
        prop_assert_eq!(check(provider, &keys, &headers, &body), Ok(()));
    }

    #[test]
    fn any_change_to_body_timestamp_or_signature_fails(
        provider in provider(),
        ts in timestamp(),
        body in prop::collection::vec(any::<u8>(), 1..1024),
        at in any::<prop::sample::Index>(),
        bit in 0u8..8,
    ) {
        let keys = ring(&["secret"]);
        let headers = signed_headers(provider, "secret", &ts, &body, false, false);

        let mut changed = body.clone();
        changed[at.index(body.len())] ^= 1 << bit;
        prop_assert_eq!(check(provider, &keys, &headers, &changed), Err(VerifyError::Mismatch));

        let sig_name = HeaderName::from_bytes(provider.def().signature.header.as_ref().unwrap().as_str().as_bytes()).unwrap();
        let mut sig = hex::decode(headers[&sig_name].as_bytes()).unwrap();
        sig[at.index(32)] ^= 1 << bit;
        let mut forged = headers.clone();
        forged.insert(sig_name, HeaderValue::from_str(&hex::encode(&sig)).unwrap());
        prop_assert_eq!(check(provider, &keys, &forged, &body), Err(VerifyError::Mismatch));

        if provider == ProviderId::M2m {
            let mut moved = headers.clone();
            let other = if ts == NOW.to_string() { (NOW + 1).to_string() } else { NOW.to_string() };
            moved.insert("x-m2m-timestamp", HeaderValue::from_str(&other).unwrap());
            prop_assert_eq!(check(provider, &keys, &moved, &body), Err(VerifyError::Mismatch));
        }
    }

    #[test]
    fn every_well_formed_event_keeps_its_data_byte_for_byte(
        provider in provider(),
        event in event_name(),
        data in data_object(),
        ws in prop_oneof![Just(""), Just(" "), Just("\n")],
    ) {
        let body = format!("{ws}{{{ws}\"event\"{ws}:{ws}{}{ws},{ws}\"data\"{ws}:{ws}{data}{ws}}}{ws}", serde_json::to_string(&event).unwrap());
        let (is_event, payload) = record_payload(provider, body.as_bytes());
        prop_assert!(is_event);
        prop_assert_eq!(String::from_utf8(payload).unwrap(), data);
    }

    #[test]
    fn any_verified_bytes_yield_exactly_one_record_carrying_them(
        provider in provider(),
        body in prop_oneof![
            prop::collection::vec(any::<u8>(), 0..512),
            json_text().prop_map(String::into_bytes),
        ],
    ) {
        let (is_event, payload) = record_payload(provider, &body);
        if is_event {
            // An event's `data` is a verbatim slice of the body.
            prop_assert!(body.windows(payload.len()).any(|w| w == payload.as_slice()));
        } else {
            prop_assert_eq!(payload, body);
        }
    }

    #[test]
    fn provider_fields_with_extreme_values_are_always_published_with_a_valid_time(
        provider in provider(),
        event in event_name(),
        data in provider_fields(),
    ) {
        let body = format!(r#"{{"event":{},"data":{data}}}"#, serde_json::to_string(&event).unwrap());
        let (is_event, payload) = record_payload(provider, body.as_bytes());
        prop_assert!(is_event);
        prop_assert_eq!(String::from_utf8(payload).unwrap(), data);
        let keys = ring(&["k"]);
        let headers = signed_headers(provider, "k", &NOW.to_string(), body.as_bytes(), false, false);
        let verified = verify(&provider.def(), &keys, Line::POST, &headers, body.as_bytes(), now(), TOLERANCE).unwrap();
        let topics = webhook_gateway::engine::route::Topics::new(&Definitions::builtin().list, "webhooks", &Default::default()).unwrap();
        let plan = Plan::new(&provider.def(), &topics);
        let Normalized::Event(event) = normalize(&plan, &verified, &headers, &RequestMeta::default(), now()) else {
            panic!("a well-formed body is an event");
        };
        let rfc3339 = &time::format_description::well_known::Rfc3339;
        prop_assert!(time::OffsetDateTime::parse(&event.time, rfc3339).is_ok(), "time {}", event.time);
    }
}
