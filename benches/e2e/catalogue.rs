//! Memory that grows with the catalogue: the release gateway's resident set
//! once started, idle, for providers files of Standard Webhooks providers
//! (30 routed types each; one provider of one type for the smallest), per
//! `--variants` entry (`bin=` for an A/B of two builds). Each size is
//! measured twice: with no broker reachable (what the definitions and the
//! consumer contract hold), and ready against a fresh tansu holding every
//! routed topic (librdkafka's metadata for them added).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::processes::{free_port, peak_rss_kib, rss_kib, Broker};
use crate::{Killed, Setting};

/// Routed types per provider, as the issue measured them (300 x 30 = 9 000).
const EVENTS_PER_PROVIDER: usize = 30;

/// One size's figures, in KiB.
pub struct Row {
    pub types: usize,
    pub variant: String,
    pub alone: (u64, u64),
    pub with_broker: (u64, u64),
}

/// A providers file of `types` routed types, and the secrets it names.
fn providers(dir: &Path, types: usize) -> (std::path::PathBuf, Vec<(String, String)>) {
    let mut yaml = String::from("providers:\n");
    let mut secrets = Vec::new();
    let providers = types.div_ceil(EVENTS_PER_PROVIDER);
    for p in 0..providers {
        let name = format!("p{p:03}");
        let var = format!("{}_SECRET", name.to_uppercase());
        yaml += &format!(
            "  - name: {name}\n    preset: standard-webhooks\n    secret: {{env: {var}}}\n    events:\n"
        );
        let events = (types - p * EVENTS_PER_PROVIDER).min(EVENTS_PER_PROVIDER);
        for e in 0..events {
            yaml += &format!(
                "      - {{name: thing{e}.happened, type: {name}.thing{e}.happened, subject: /data/id}}\n"
            );
        }
        secrets.push((var, "whsec_YWNtZSBrZXk=".to_owned()));
    }
    let file = dir.join(format!("providers-{types}.yaml"));
    std::fs::write(&file, yaml).unwrap();
    (file, secrets)
}

/// The gateway with `file`'s providers against `bootstrap`: its resident
/// set and peak (KiB) once its admin port answers (`ready`: once `/readyz`
/// is 200) and a second has passed.
fn measure(
    setting: &Setting,
    file: &Path,
    secrets: &[(String, String)],
    bootstrap: &str,
    ready: bool,
) -> (u64, u64) {
    let admin = format!("127.0.0.1:{}", free_port());
    let gateway = Killed(
        Command::new(&setting.bin)
            .envs(setting.env.iter().cloned())
            .envs(secrets.iter().cloned())
            .env("GATEWAY_PROVIDERS_FILE", file)
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("GATEWAY_LISTEN_ADDR", "127.0.0.1:0")
            .env("GATEWAY_ADMIN_ADDR", &admin)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the gateway"),
    );
    let deadline = Instant::now() + Duration::from_secs(120);
    let path = if ready { "/readyz" } else { "/healthz" };
    while !answers_200(&admin, path) {
        assert!(Instant::now() < deadline, "gateway not up within 120 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_secs(1));
    let pid = gateway.0.id();
    (rss_kib(pid).unwrap_or(0), peak_rss_kib(pid).unwrap_or(0))
}

fn answers_200(addr: &str, path: &str) -> bool {
    use std::io::{Read, Write};
    let Ok(mut stream) = std::net::TcpStream::connect(addr) else {
        return false;
    };
    let request = format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\nconnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && &head[9..12] == b"200"
}

pub fn run(sizes: &[usize], variants: &[(String, Setting)]) -> Vec<Row> {
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for &types in sizes {
        let (file, secrets) = providers(dir.path(), types);
        for (name, setting) in variants {
            eprintln!("catalogue: {types} routed types, {name}");
            // No broker listens there: start-up completes, readiness never.
            let nowhere = format!("127.0.0.1:{}", free_port());
            let alone = measure(setting, &file, &secrets, &nowhere, false);
            let broker = Broker::start();
            let created = Command::new(&setting.bin)
                .args(["topics", "create"])
                .envs(setting.env.iter().cloned())
                .env("GATEWAY_PROVIDERS_FILE", &file)
                .env("KAFKA_BOOTSTRAP_SERVERS", broker.bootstrap())
                .stdout(Stdio::null())
                .status()
                .expect("webhook-gateway topics create");
            assert!(created.success(), "creating {types} types' topics");
            let with_broker = measure(setting, &file, &secrets, &broker.bootstrap(), true);
            rows.push(Row {
                types,
                variant: name.clone(),
                alone,
                with_broker,
            });
        }
    }
    rows
}

pub const HEADER: &str = "| routed types | gateway | RSS, no broker | peak | RSS, ready with every topic | peak |\n| --- | --- | --- | --- | --- | --- |\n";

pub fn report(rows: &[Row]) -> String {
    let mib = |kib: u64| format!("{:.1} MiB", kib as f64 / 1024.0);
    rows.iter()
        .map(|r| {
            format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                r.types,
                r.variant,
                mib(r.alone.0),
                mib(r.alone.1),
                mib(r.with_broker.0),
                mib(r.with_broker.1)
            )
        })
        .collect()
}
