//! Arbitrary signature header, timestamp and body under every scheme family:
//! verification must never panic, and must never accept what it was not
//! given a valid signature for.
#![no_main]

use std::time::{Duration, UNIX_EPOCH};

use libfuzzer_sys::fuzz_target;
use webhook_gateway::settings::key_ring;
use webhook_gateway::definitions::definition::Source;
use webhook_gateway::definitions::Definitions;
use webhook_gateway::engine::verify::{verify, Line};

/// A multi-signature base64 scheme and a `fields` one, beside the built-ins.
const SCHEMES: &str = "providers:
  - name: multi
    secret: {env: MULTI_SECRET}
    signature: {header: sig, encoding: base64, prefix: 'v1,', prefix_required: true, separator: ' ', signed: '{id}.{timestamp}.{body}'}
    timestamp: {source: {header: ts}, format: unix}
    id: {source: {header: id}}
    event: {name: /type, data: /data}
  - name: fields
    secret: {env: FIELDS_SECRET}
    signature: {header: sig, fields: {separator: ',', signature: v1}, signed: '{timestamp}.{body}'}
    timestamp: {source: {field: t}, format: unix}
    event: {name: /type, data: /data}
";

fuzz_target!(|input: (u8, Vec<u8>, Vec<u8>, Vec<u8>)| {
    let (which, signature, timestamp, body) = input;
    let defs = Definitions::with_file(Some(("fuzz", SCHEMES))).unwrap();
    let def = &defs.list[which as usize % defs.list.len()];
    let mut headers = http::HeaderMap::new();
    if let Ok(v) = http::HeaderValue::from_bytes(&signature) {
        headers.insert(
            http::HeaderName::from_bytes(def.signature.header.as_ref().expect("a header scheme").as_str().as_bytes()).unwrap(),
            v,
        );
    }
    for source in [def.timestamp.as_ref().map(|t| &t.source), def.id.as_ref().map(|i| &i.source)]
        .into_iter()
        .flatten()
    {
        if let (Source::Header(h), Ok(v)) = (source, http::HeaderValue::from_bytes(&timestamp)) {
            headers.insert(http::HeaderName::from_bytes(h.as_str().as_bytes()).unwrap(), v);
        }
    }
    let now = UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    let keys = key_ring(def, &["fuzz-secret".to_owned()]).unwrap();
    // A random signature matching an HMAC is out of reach: any Ok is a bug.
    assert!(verify(def, &keys, Line::POST, &headers, &body[..], now, Duration::from_secs(300)).is_err());
});
