//! Arbitrary verified bodies: normalization must never panic, and the record
//! must carry the body (dead letter) or a verbatim slice of it (`data`).
#![no_main]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use webhook_gateway::normalize::{normalize, Normalized, RequestMeta};
use webhook_gateway::providers::ProviderId;
use webhook_gateway::sign::signature_headers;
use webhook_gateway::verify::{verify, KeyRing};

fuzz_target!(|input: (bool, Vec<u8>)| {
    let (m2m, body) = input;
    let provider = if m2m { ProviderId::M2m } else { ProviderId::Transfers };
    let now: SystemTime = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let mut headers = http::HeaderMap::new();
    for (name, value) in signature_headers(provider, "k", &body, "1790000000") {
        headers.insert(name, value.parse().unwrap());
    }
    let keys = KeyRing::new(&["k"]);
    let verified = verify(&provider.provider().scheme, &keys, &headers, &body[..], now, Duration::from_secs(300)).unwrap();
    match normalize(provider.provider(), &verified, &RequestMeta::default(), now) {
        Normalized::Event(e) => {
            let data = e.data.get().as_bytes();
            assert!(body.windows(data.len()).any(|w| w == data));
            // The record is a JSON object whose `data` is the same bytes.
            let record = e.to_record("t".into());
            let parsed: Record = serde_json::from_slice(&record.value).expect("the record is JSON");
            assert_eq!(parsed.data.get().as_bytes(), data);
        }
        Normalized::DeadLetter(d) => assert_eq!(d.to_record("t".into()).value, body),
    }
});

#[derive(serde::Deserialize)]
struct Record<'a> {
    #[serde(borrow)]
    data: &'a serde_json::value::RawValue,
}
