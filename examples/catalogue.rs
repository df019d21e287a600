//! Prints one example Kafka record per route, made by the gateway's own code
//! (verify, normalize, route, envelope): the README's event catalogue.
//!
//! cargo run --example catalogue

use std::time::{Duration, UNIX_EPOCH};

use webhook_gateway::config::{key_ring, Config, RunArgs};
use webhook_gateway::contract::DataSchemas;
use webhook_gateway::normalize::{normalize, Plan, RequestMeta};
use webhook_gateway::sign::{signature_headers, Parts};
use webhook_gateway::verify::verify;

const SAMPLES: &[(&str, &str)] = &[
    (
        "m2m",
        r#"{"event":"link.created","data":{"linkId":"lnk-1","referenceId":"user-42","url":"https://widget.example/l/lnk-1","expiresAt":"2026-11-24T10:00:00Z","createdAt":"2026-11-23T10:00:00Z"}}"#,
    ),
    (
        "m2m",
        r#"{"event":"link.opened","data":{"linkId":"lnk-1","referenceId":"user-42"}}"#,
    ),
    (
        "m2m",
        r#"{"event":"user.data_request","data":{"dataRequestId":"dr-7","referenceId":"user-42"}}"#,
    ),
    (
        "m2m",
        r#"{"event":"operation.created","data":{"operationId":"op-1001","referenceId":"user-42","amount":{"send":100.00,"receive":98.50,"fee":1.50},"status":"completed","createdAt":"2026-11-23T10:05:00Z"}}"#,
    ),
    (
        "m2m",
        r#"{"event":"operation.cancelled","data":{"operationId":"op-1001","referenceId":"user-42"}}"#,
    ),
    (
        "transfers",
        r#"{"event":"Payment.Status","data":{"status":"Completed","userId":"user-42","paymentReference":"pay-2001","amount":100.23,"description":"Transaction Successful","senderAccountName":"…","sourceAccountNumber":"…","sourceBankCode":"…","destinationAccountNumber":"…","destinationBankCode":"…"}}"#,
    ),
    (
        "transfers",
        r#"{"event":"Payment.Status","data":{"status":"Failed","userId":"user-42","paymentReference":"pay-2002","amount":5.00,"description":"Insufficient funds"}}"#,
    ),
    (
        "m2m",
        r#"{"event":"link.expired","data":{"linkId":"lnk-1","referenceId":"user-42"}}"#,
    ),
    ("transfers", r#"amount=100.23&status=Completed"#),
];

fn main() {
    let env = [("KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let config = Config::from_sources(&RunArgs::default(), &env).expect("defaults");
    let schemas = DataSchemas::load(&config.providers).expect("the built-ins' schemas");
    let received = UNIX_EPOCH + Duration::from_millis(1_795_428_002_512); // 2026-11-23T10:00:02.512Z
    for (provider, body) in SAMPLES {
        let def = config.providers.get(provider).expect("a built-in");
        let keys = key_ring(def, &["example".to_owned()]).expect("a text secret");
        let parts = Parts {
            timestamp: Some("1795428002".into()),
            id: None,
        };
        let mut headers = http::HeaderMap::new();
        for (k, v) in signature_headers(def, "example", body.as_bytes(), &parts).expect("signs") {
            headers.insert(
                http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        let verified = verify(
            def,
            &keys,
            &headers,
            body.as_bytes(),
            received,
            Duration::from_secs(300),
        )
        .expect("signed");
        let meta = RequestMeta {
            content_type: Some("application/x-www-form-urlencoded".into()),
            traceparent: None,
        };
        // Records carry their type's `dataschema` (the consumer contract's URI).
        let plan = Plan::new(def).with_dataschemas(|ty| schemas.uri(ty).map(str::to_owned));
        let normalized = normalize(&plan, &verified, &headers, &meta, received);
        let record = config.topics.record(&normalized);
        println!("topic: {}\nkey: {}", record.topic, record.key);
        for (k, v) in &record.headers {
            println!("header {k}: {}", String::from_utf8_lossy(v));
        }
        match serde_json::from_slice::<serde_json::Value>(&record.value) {
            Ok(_) => println!("value: {}\n", String::from_utf8_lossy(&record.value)),
            Err(_) => println!(
                "value (raw body): {}\n",
                String::from_utf8_lossy(&record.value)
            ),
        }
    }
}
