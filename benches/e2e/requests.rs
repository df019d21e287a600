//! What the driver sends: ~1 KiB webhooks, signed before the clock starts (a
//! pool of distinct bodies, or one body repeated), and the canonical records
//! the gateway would publish for them (limit A's input).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::HeaderMap;
use http_body_util::Full;
use webhook_gateway::contract::DataSchemas;
use webhook_gateway::definitions::{Definition, Definitions};
use webhook_gateway::engine::envelope::Record;
use webhook_gateway::engine::normalize::RequestMeta;
use webhook_gateway::engine::pipeline::{self, Limits};
use webhook_gateway::engine::provider::Provider;
use webhook_gateway::engine::route::Topics;
use webhook_gateway::settings::key_ring;
use webhook_gateway::sign::{signature_headers, Parts};

pub const SECRET: &str = "bench-secret";
pub const TOPICS: [&str; 3] = [
    "webhooks.m2m.operation.created",
    "webhooks.transfers.payment.completed",
    "webhooks.unrouted",
];

#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Accepted,
    /// Signed with the wrong secret: answered 401.
    Rejected,
}

/// Webhook `n`: a ~1 KiB M2M operation.created, every fourth a Transfers payment.
pub fn webhook(n: u64) -> (&'static str, Vec<u8>) {
    let pad = "x".repeat(760);
    if n % 4 == 3 {
        transfers(n, &pad)
    } else {
        m2m(n, &pad)
    }
}

/// An M2M operation.created.
pub fn m2m(n: u64, pad: &str) -> (&'static str, Vec<u8>) {
    let body = format!(
        r#"{{"event":"operation.created","data":{{"operationId":"op-{n}","referenceId":"user-{n}","amount":{{"send":"100.00","receive":"98.50","fee":"1.50"}},"status":"completed","createdAt":"2026-11-23T10:00:00Z","note":"{pad}"}}}}"#
    );
    ("m2m", body.into_bytes())
}

/// A Transfers payment: signed over the body alone, so one signed copy stays
/// valid for any run's length (what wrk repeats).
pub fn transfers(n: u64, pad: &str) -> (&'static str, Vec<u8>) {
    let body = format!(
        r#"{{"event":"Payment.Status","data":{{"status":"Completed","userId":"user-{n}","paymentReference":"pay-{n}","amount":100.23,"description":"Transaction Successful","senderAccountName":"A Sender","sourceAccountNumber":"0123456789","sourceBankCode":"058","destinationAccountNumber":"9876543210","destinationBankCode":"044","note":"{pad}"}}}}"#
    );
    ("transfers", body.into_bytes())
}

fn builtin(name: &str) -> Definition {
    Definitions::builtin()
        .get(name)
        .expect("a built-in")
        .clone()
}

fn now_secs() -> String {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string()
}

fn signed_headers(def: &Definition, secret: &str, body: &[u8]) -> HeaderMap {
    let parts = Parts {
        headers: Vec::new(),
        timestamp: Some(now_secs()),
        id: None,
    };
    let mut headers = HeaderMap::new();
    for (k, v) in signature_headers(def, secret, body, &parts).expect("signs") {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    headers
}

/// One request, signed: its path, every header, its body.
pub struct Signed {
    pub path: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Signed {
    pub fn new(kind: Kind, provider: &str, body: Vec<u8>) -> Signed {
        let secret = match kind {
            Kind::Accepted => SECRET,
            Kind::Rejected => "wrong-secret",
        };
        let mut headers = signed_headers(&builtin(provider), secret, &body);
        headers.insert("host", "gateway".parse().unwrap());
        headers.insert("content-type", "application/json".parse().unwrap());
        Signed {
            path: format!("/webhooks/{provider}"),
            headers,
            body: Bytes::from(body),
        }
    }
}

/// Requests signed before a phase's clock starts (M2M's signed timestamp
/// allows 5 minutes, so each phase signs its own), sent in turn: the driver
/// only copies headers and a reference-counted body per request.
pub struct Pool(Vec<Signed>);

impl Pool {
    /// `distinct` different webhooks (distinct ids, as real traffic), or one
    /// repeated when `distinct` is 1.
    pub fn new(kind: Kind, distinct: u64) -> Pool {
        Pool(
            (0..distinct)
                .map(|n| {
                    let (provider, body) = webhook(n);
                    Signed::new(kind, provider, body)
                })
                .collect(),
        )
    }

    /// `distinct` webhooks of one provider (`m2m` or `transfers`) only.
    pub fn of(kind: Kind, provider: &str, distinct: u64) -> Pool {
        let pad = "x".repeat(760);
        Pool(
            (0..distinct)
                .map(|n| {
                    let (provider, body) = match provider {
                        "transfers" => transfers(n, &pad),
                        _ => m2m(n, &pad),
                    };
                    Signed::new(kind, provider, body)
                })
                .collect(),
        )
    }

    pub fn request(&self, n: u64) -> http::Request<Full<Bytes>> {
        let s = &self.0[(n % self.0.len() as u64) as usize];
        let mut request = http::Request::post(s.path.as_str())
            .body(Full::new(s.body.clone()))
            .unwrap();
        *request.headers_mut() = s.headers.clone();
        request
    }
}

/// The canonical records the gateway would publish for webhooks 0..count:
/// the gateway's own pipeline, each provider compiled as it compiles them.
pub fn records(count: u64) -> Vec<Record> {
    let defs = Definitions::builtin();
    let topics = Topics::new(&defs.list, "webhooks", &Default::default()).unwrap();
    let schemas = DataSchemas::load(&defs).unwrap();
    let providers: Vec<Provider> = defs
        .list
        .iter()
        .map(|def| {
            let keys = key_ring(def, &[SECRET.to_owned()]).unwrap();
            Provider::new(def.clone(), &topics, schemas.uris(), Some(keys))
        })
        .collect();
    let limits = Limits {
        replay_tolerance: Duration::from_secs(300),
        max_record_bytes: 1 << 20,
    };
    (0..count)
        .map(|n| {
            let (name, body) = webhook(n);
            let provider = providers.iter().find(|p| p.name() == name).unwrap();
            let headers = signed_headers(&provider.definition, SECRET, &body);
            let request = pipeline::Request {
                line: webhook_gateway::engine::verify::Line::POST,
                headers: &headers,
                meta: &RequestMeta::default(),
                received_at: SystemTime::now(),
            };
            let mut processed = pipeline::process(provider, &body[..], request, limits).unwrap();
            processed.records.remove(0).record
        })
        .collect()
}
