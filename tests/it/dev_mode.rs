//! `--dev` as a newcomer meets it: started as a subprocess, the printed curl
//! command run through a shell, the record line appearing on its output.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::binary;

struct Dev {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Dev {
    fn start() -> Dev {
        let mut child = Command::new(binary())
            .arg("--dev")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("GATEWAY_LISTEN_ADDR", "127.0.0.1:0")
            .env("GATEWAY_ADMIN_ADDR", "127.0.0.1:0")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("start --dev");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Dev { child, lines }
    }

    /// The next output line satisfying `pred`, within `within`.
    fn line(&self, within: Duration, pred: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if pred(&line) => return line,
                Ok(_) => continue,
                Err(_) => panic!("no matching line on --dev's output within {within:?}"),
            }
        }
    }
}

fn run_in_shell(command: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(command)
        .output()
        .expect("sh");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_printed_curl_commands_are_accepted_and_their_records_are_shown() {
    let dev = Dev::start();
    dev.line(Duration::from_secs(30), |l| {
        l.starts_with("Send a signed M2M webhook")
    });
    let m2m = dev.line(Duration::from_secs(5), |l| l.contains("| sh"));
    dev.line(Duration::from_secs(5), |l| {
        l.starts_with("Send a signed Transfers webhook")
    });
    let transfers = dev.line(Duration::from_secs(5), |l| l.contains("| sh"));
    dev.line(Duration::from_secs(5), |l| {
        l.starts_with("Records appear below")
    });

    for (command, topic) in [
        (m2m, "webhooks.m2m.operation.created"),
        (transfers, "webhooks.transfers.payment.completed"),
    ] {
        // Readiness follows start-up shortly; a 503 before it is retried as a provider would.
        let deadline = Instant::now() + Duration::from_secs(20);
        let response = loop {
            let response = run_in_shell(command.trim());
            if response.starts_with("HTTP/1.1 200") || Instant::now() > deadline {
                break response;
            }
            std::thread::sleep(Duration::from_millis(300));
        };
        assert!(
            response.starts_with("HTTP/1.1 200"),
            "{command}\n{response}"
        );
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let id: serde_json::Value = serde_json::from_str(body).unwrap();
        let id = id["id"].as_str().unwrap().to_owned();
        let record = dev.line(Duration::from_secs(20), |l| {
            l.starts_with("record") && l.contains(&id)
        });
        assert!(record.contains(&format!("topic={topic}")), "{record}");
    }
}

#[test]
fn dev_refuses_production_settings_it_would_ignore() {
    let out = Command::new(binary())
        .arg("--dev")
        .env_clear()
        .env("KAFKA_BOOTSTRAP_SERVERS", "kafka.prod:9092")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("KAFKA_BOOTSTRAP_SERVERS"));
}
