//! Arbitrary signature, timestamp and body: verification must never panic, and
//! must never accept what it was not given a valid signature for.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use webhook_gateway::providers::ProviderId;
use webhook_gateway::verify::{verify, KeyRing};

fuzz_target!(|input: (bool, Vec<u8>, Vec<u8>, Vec<u8>)| {
    let (m2m, signature, timestamp, body) = input;
    let provider = if m2m { ProviderId::M2m } else { ProviderId::Transfers };
    let scheme = &provider.provider().scheme;
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(&signature) {
        headers.insert(scheme.signature_header, v);
    }
    if let (Some(name), Ok(v)) = (scheme.timestamp_header, http::HeaderValue::from_bytes(&timestamp)) {
        headers.insert(name, v);
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let keys = KeyRing::new(&["fuzz-secret"]);
    // A random 32-byte signature matching HMAC-SHA256 is out of reach: any Ok is a bug.
    assert!(verify(scheme, &keys, &headers, &body[..], now, Duration::from_secs(300)).is_err());
});
