//! Every record the tests read back, kept for the contract check: with
//! `CONTRACT_RECORDS_DIR` set (the test command sets it), each gateway a test
//! starts leaves its contract there, and each record read from a broker is
//! written next to the contracts of the gateways that publish to that broker.
//! `scripts/contract/validate_records.py` then validates every record with an
//! independent JSON Schema validator; one that does not validate fails the
//! test command. Without the variable, nothing is written.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use rdkafka::message::{Headers, Message, OwnedMessage};
use sha2::{Digest, Sha256};
use webhook_gateway::settings::Config;

/// Contract digests by the broker list their gateways publish to.
static CONTRACTS: Mutex<BTreeMap<String, BTreeSet<String>>> = Mutex::new(BTreeMap::new());

fn dir() -> Option<PathBuf> {
    std::env::var_os("CONTRACT_RECORDS_DIR").map(PathBuf::from)
}

/// Keeps the contract of a gateway about to start with `config`.
pub fn register(config: &Config) {
    let Some(dir) = dir() else { return };
    let Some(bootstrap) = config.kafka.get("bootstrap.servers") else {
        return;
    };
    // A configuration the gateway refuses publishes nothing.
    let Ok(document) = webhook_gateway::contract::document(&config.published) else {
        return;
    };
    let text = webhook_gateway::contract::render(&document);
    let digest = hex::encode(&Sha256::digest(text.as_bytes())[..8]);
    let contracts = dir.join("contracts");
    std::fs::create_dir_all(&contracts).expect("CONTRACT_RECORDS_DIR is writable");
    let path = contracts.join(format!("{digest}.json"));
    if !path.exists() {
        // Written whole under another name first: another test process may read the directory.
        let partial = contracts.join(format!("{digest}.{}.partial", std::process::id()));
        std::fs::write(&partial, text).expect("write the contract");
        std::fs::rename(&partial, &path).expect("rename the contract");
    }
    CONTRACTS
        .lock()
        .unwrap()
        .entry(bootstrap.to_owned())
        .or_default()
        .insert(digest);
}

/// As [`register`], for a gateway process started with `env`.
pub fn register_env(env: &std::collections::HashMap<String, String>) {
    if dir().is_none() {
        return;
    }
    if let Ok(config) = Config::from_env(env) {
        register(&config);
    }
}

/// Keeps the records read from `bootstrap`.
pub fn keep(bootstrap: &str, records: &[OwnedMessage]) {
    let Some(dir) = dir() else { return };
    if records.is_empty() {
        return;
    }
    let contracts: Vec<String> = CONTRACTS
        .lock()
        .unwrap()
        .get(bootstrap)
        .map(|s| s.iter().cloned().collect())
        .unwrap_or_default();
    let test = std::thread::current()
        .name()
        .unwrap_or("unnamed")
        .to_owned();
    let mut lines = String::new();
    for m in records {
        let mut line = to_json(m);
        line["test"] = test.clone().into();
        line["contracts"] = contracts.clone().into();
        lines.push_str(&line.to_string());
        lines.push('\n');
    }
    // One file per test process; a lock keeps each batch of lines whole.
    static FILE: Mutex<()> = Mutex::new(());
    let _guard = FILE.lock().unwrap();
    std::fs::create_dir_all(&dir).expect("CONTRACT_RECORDS_DIR is writable");
    let path = dir.join(format!("records-{}.jsonl", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("open the records file");
    file.write_all(lines.as_bytes()).expect("write the records");
}

/// One record as the checks outside Rust read it (`validate_records.py`, the
/// SDK readers): where it was, its key, headers (in order) and value, bytes
/// in hex.
pub fn to_json(m: &OwnedMessage) -> serde_json::Value {
    let headers: Vec<(String, Option<String>)> = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_owned(), h.value.map(hex::encode)))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "topic": m.topic(),
        "partition": m.partition(),
        "offset": m.offset(),
        "key": m.key().map(hex::encode),
        "headers": headers,
        "value": m.payload().map(hex::encode),
    })
}
