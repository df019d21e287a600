//! Micro benchmarks of the per-request CPU work: verification (HMAC over the
//! raw body) and normalization into the canonical record (parse, id,
//! envelope, headers), for 1 KiB and 16 KiB bodies.
//!
//! cargo bench --bench pipeline

use std::hint::black_box;
use std::time::{Duration, SystemTime};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use http::HeaderMap;
use webhook_gateway::normalize::{normalize, RequestMeta};
use webhook_gateway::providers::ProviderId;
use webhook_gateway::routing::Topics;
use webhook_gateway::sign::signature_headers;
use webhook_gateway::verify::{verify, KeyRing};

#[path = "support/mod.rs"]
mod support;
use support::body;

const TOLERANCE: Duration = Duration::from_secs(300);

fn signed(provider: ProviderId, body: &[u8]) -> HeaderMap {
    let ts = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let mut headers = HeaderMap::new();
    for (k, v) in signature_headers(provider, "bench-secret", body, &ts) {
        headers.insert(k, v.parse().unwrap());
    }
    headers
}

fn verification(c: &mut Criterion) {
    let keys = KeyRing::new(&["bench-secret"]);
    let mut group = c.benchmark_group("verify");
    for provider in ProviderId::ALL {
        for size in [1024, 16 * 1024] {
            let body = body(provider, size);
            let headers = signed(provider, &body);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(provider.name(), size), &body, |b, body| {
                b.iter(|| {
                    let v = verify(
                        &provider.provider().scheme,
                        &keys,
                        &headers,
                        &body[..],
                        SystemTime::now(),
                        TOLERANCE,
                    );
                    black_box(v.is_ok())
                })
            });
        }
    }
    group.finish();
}

/// The whole CPU path of one accepted request after the body is read.
fn verify_and_normalize(c: &mut Criterion) {
    let keys = KeyRing::new(&["bench-secret"]);
    let topics = Topics::new("webhooks", &Default::default()).unwrap();
    let meta = RequestMeta {
        content_type: Some("application/json".into()),
        traceparent: None,
    };
    let mut group = c.benchmark_group("verify+normalize");
    for provider in ProviderId::ALL {
        for size in [1024, 16 * 1024] {
            let body = body(provider, size);
            let headers = signed(provider, &body);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_with_input(BenchmarkId::new(provider.name(), size), &body, |b, body| {
                b.iter(|| {
                    let now = SystemTime::now();
                    let verified = verify(
                        &provider.provider().scheme,
                        &keys,
                        &headers,
                        &body[..],
                        now,
                        TOLERANCE,
                    )
                    .unwrap();
                    let normalized = normalize(provider.provider(), &verified, &meta, now);
                    black_box(topics.record(&normalized))
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, verification, verify_and_normalize);
criterion_main!(benches);
