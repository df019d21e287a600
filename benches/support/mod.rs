//! What the CPU benches share: the providers they measure (the built-ins and
//! one configured provider defined by hand), their bodies and signatures.

#![allow(dead_code)] // each bench uses its own part

use base64::Engine;
use http::HeaderMap;
use webhook_gateway::contract::DataSchemas;
use webhook_gateway::definitions::{Definition, Definitions};
use webhook_gateway::engine::pipeline::Limits;
use webhook_gateway::engine::provider::Provider;
use webhook_gateway::engine::route::Topics;
use webhook_gateway::engine::verify::KeyRing;
use webhook_gateway::settings::key_ring;
use webhook_gateway::sign::{signature_headers, Parts};

/// A configured provider as an operator would write one, without a preset:
/// the costliest scheme family (a signed id and timestamp, base64, a secret
/// to decode, several signatures allowed), against the timestamped built-in.
pub const CONFIGURED: &str = "providers:
  - name: acme
    secret: {env: ACME_WEBHOOK_SECRET, encoding: whsec}
    signature:
      header: webhook-signature
      encoding: base64
      prefix: 'v1,'
      prefix_required: true
      separator: ' '
      signed: '{id}.{timestamp}.{body}'
    timestamp: {source: {header: webhook-timestamp}, format: unix}
    id: {source: {header: webhook-id}}
    event: {name: /type, data: /data, user: /data/customerId, time: /timestamp}
    unrouted_subject: [/data/invoiceId]
    events:
      - {name: invoice.created, type: acme.invoice.created, subject: /data/invoiceId}
      - {name: invoice.paid, when: {/data/status: paid}, type: acme.invoice.paid, subject: /data/invoiceId}
      - {name: invoice.paid, when: {/data/status: partial}, type: acme.invoice.partial, subject: /data/invoiceId}
  - name: edkey
    key: {env: EDKEY_PUBLIC_KEY, encoding: hex}
    signature: {header: x-signature-ed25519, algorithm: ed25519, encoding: hex, signed: '{timestamp}{body}'}
    timestamp: {source: {header: x-signature-timestamp}, format: unix}
    event: {name: /type, data: /data}
    events:
      - {name: invoice.paid, type: edkey.invoice.paid, subject: /data/invoiceId}
  - name: eckey
    key: {env: ECKEY_PUBLIC_KEY, encoding: base64}
    signature: {header: x-ecdsa-signature, algorithm: ecdsa-p256, encoding: base64, signed: '{timestamp}{body}'}
    timestamp: {source: {header: x-ecdsa-timestamp}, format: unix}
    event: {name: /type, data: /data}
    events:
      - {name: invoice.paid, type: eckey.invoice.paid, subject: /data/invoiceId}
  - name: tokeny
    secret: {env: TOKENY_TOKEN}
    signature: {header: x-token, algorithm: token}
    event: {name: /type, data: /data}
    events:
      - {name: invoice.paid, type: tokeny.invoice.paid, subject: /data/invoiceId}
";

/// The public-key providers' key pairs, made when the bench starts (never a
/// private key in the repository): (PKCS#8 PEM private key, public key as
/// the definition's `key.encoding` reads it).
fn key_pair(def: &Definition) -> (String, String) {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, EncodePublicKey};
    use sha2::Digest;
    static SEED: std::sync::OnceLock<[u8; 32]> = std::sync::OnceLock::new();
    let seed = SEED.get_or_init(|| {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        sha2::Sha256::digest(format!("bench-{now}-{}", std::process::id())).into()
    });
    let lf = ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF;
    match def.name.as_str() {
        "edkey" => {
            let key = ed25519_dalek::SigningKey::from_bytes(seed);
            (
                key.to_pkcs8_pem(lf).unwrap().to_string(),
                hex::encode(key.verifying_key().as_bytes()),
            )
        }
        _ => {
            let key = p256::ecdsa::SigningKey::from_slice(seed).unwrap();
            let public = key.verifying_key().to_public_key_der().unwrap();
            (
                p256::SecretKey::from(&key)
                    .to_pkcs8_pem(lf)
                    .unwrap()
                    .to_string(),
                base64::engine::general_purpose::STANDARD.encode(public.as_bytes()),
            )
        }
    }
}

/// The built-ins and the configured provider.
pub fn definitions() -> Definitions {
    Definitions::with_file(Some(("bench", CONFIGURED))).expect("a valid definition")
}

pub fn definition(name: &str) -> Definition {
    definitions().get(name).expect("defined").clone()
}

/// The secret as its variable would hold it (a public-key provider's: its
/// public key).
pub fn secret(def: &Definition) -> String {
    let raw = "bench-secret";
    if def.signature.algorithm.is_public_key() {
        return key_pair(def).1;
    }
    match def.name.as_str() {
        "acme" => format!(
            "whsec_{}",
            base64::engine::general_purpose::STANDARD.encode(raw)
        ),
        _ => raw.to_owned(),
    }
}

pub fn keys(def: &Definition) -> KeyRing {
    key_ring(def, &[secret(def)]).expect("a valid secret")
}

/// `name` compiled as the gateway compiles it with the default topic
/// settings, its secret in force.
pub fn provider(name: &str) -> Provider {
    let defs = definitions();
    let topics = Topics::new(&defs.list, "webhooks", &Default::default()).expect("valid topics");
    let schemas = DataSchemas::load(&defs).expect("the built-ins' schemas");
    let def = definition(name);
    let keys = keys(&def);
    Provider::new(def, &topics, schemas.uris(), Some(keys))
}

/// The gateway's default limits: a 300 s replay window, 1 MiB records.
pub const LIMITS: Limits = Limits {
    replay_tolerance: std::time::Duration::from_secs(300),
    max_record_bytes: 1 << 20,
};

/// The headers its sender would send with `body`, signed at `timestamp`.
pub fn signed(def: &Definition, body: &[u8], timestamp: u64) -> HeaderMap {
    let parts = Parts {
        headers: Vec::new(),
        timestamp: Some(timestamp.to_string()),
        id: Some("msg_2Kq4bR1vX9".into()),
    };
    let mut headers = HeaderMap::new();
    // A public-key sender signs with its private key.
    let signer = match def.signature.algorithm.is_public_key() {
        true => key_pair(def).0,
        false => secret(def),
    };
    for (k, v) in signature_headers(def, &signer, body, &parts).expect("signs") {
        headers.insert(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    headers
}

/// A realistic event of `provider` padded to `size` bytes.
pub fn body(provider: &str, size: usize) -> Vec<u8> {
    let head = match provider {
        "m2m" => {
            r#"{"event":"operation.created","data":{"operationId":"op-123456","referenceId":"user-42","amount":{"send":"100.00","receive":"98.50","fee":"1.50"},"status":"completed","createdAt":"2026-11-23T10:00:00Z","note":""#
        }
        "transfers" => {
            r#"{"event":"Payment.Status","data":{"status":"Completed","userId":"user-42","paymentReference":"pay-123456","amount":100.23,"description":"Transaction Successful","senderAccountName":"A Sender","sourceAccountNumber":"0123456789","sourceBankCode":"058","destinationAccountNumber":"9876543210","destinationBankCode":"044","note":""#
        }
        "acme" | "edkey" | "eckey" | "tokeny" => {
            r#"{"type":"invoice.paid","timestamp":"2026-11-23T10:00:00Z","data":{"invoiceId":"inv-123456","customerId":"user-42","status":"paid","amount":100.23,"currency":"EUR","lines":[{"sku":"a-1","quantity":2}],"note":""#
        }
        other => panic!("no body for {other}"),
    };
    let tail = r#""}}"#;
    let mut b = head.as_bytes().to_vec();
    b.resize(size - tail.len(), b'x');
    b.extend_from_slice(tail.as_bytes());
    b
}
