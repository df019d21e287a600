//! Arbitrary verified bodies under the built-ins and a `body: any` definition:
//! normalization must never panic, and the record must carry the body (dead
//! letter), a verbatim slice of it (`data`) or all of it (`data_base64`).
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use webhook_gateway::settings::key_ring;
use webhook_gateway::engine::envelope::Data;
use webhook_gateway::engine::normalize::{normalize, Normalized, Plan, RequestMeta};
use webhook_gateway::definitions::Definitions;
use webhook_gateway::engine::route::Topics;
use webhook_gateway::sign::{signature_headers, Parts};
use webhook_gateway::engine::verify::{verify, Line};

const ANY: &str = "providers:
  - name: raw
    secret: {env: RAW_SECRET}
    signature: {header: sig}
    body: any
    event: {name: /type, join: /action, data: /data, time: /at}
    unrouted_subject: [/data/id, /0]
    events:
      - {name: a, when: {/data/s: x}, type: raw.a, subject: /data/id}
";

fuzz_target!(|input: (u8, Vec<u8>)| {
    let (which, body) = input;
    let defs = Definitions::with_file(Some(("fuzz", ANY))).unwrap();
    let def = &defs.list[which as usize % defs.list.len()];
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let parts = Parts {
        headers: Vec::new(),
        timestamp: Some("1790000000".into()),
        id: None,
    };
    let mut headers = http::HeaderMap::new();
    for (name, value) in signature_headers(def, "k", &body, &parts).unwrap() {
        headers.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    let keys = key_ring(def, &["k".to_owned()]).unwrap();
    let verified = verify(def, &keys, Line::POST, &headers, &body[..], now, Duration::from_secs(300)).unwrap();
    let topics = Topics::new(&defs.list, "wh", &Default::default()).unwrap();
    let plan = Plan::new(def, &topics);
    match normalize(&plan, &verified, &headers, &RequestMeta::default(), now) {
        Normalized::Event(e) => {
            let record = e.to_record();
            let parsed: serde_json::Value =
                serde_json::from_slice(&record.value).expect("the record is JSON");
            match e.data {
                Data::Json(data) => {
                    assert!(body.windows(data.len()).any(|w| w == data.as_bytes()));
                    let written: Record = serde_json::from_slice(&record.value).unwrap();
                    assert_eq!(written.data.get(), data);
                }
                Data::Binary(bytes) => {
                    assert_eq!(bytes, &body[..]);
                    assert!(parsed["data_base64"].is_string());
                }
            }
        }
        Normalized::DeadLetter(d) => assert_eq!(d.to_record().value, body),
    }
});

#[derive(serde::Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
}
