//! `--dev` as a newcomer meets it: started as a subprocess, the printed curl
//! command for each provider run through a shell, the record line appearing on
//! its output. With a providers file, every configured provider too.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::common::binary;
use crate::configured::PROVIDERS;

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
    fn start(args: &[&str]) -> Dev {
        let mut child = Command::new(binary())
            .arg("--dev")
            .args(args)
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

    /// The printed command for each provider, in the order given (the order
    /// --dev prints them: built-ins first, then the file's).
    fn commands(&self, providers: &[&str]) -> Vec<String> {
        let mut commands = Vec::new();
        for (i, provider) in providers.iter().enumerate() {
            let heading = format!("Send a signed {provider} webhook:");
            let within = Duration::from_secs(if i == 0 { 30 } else { 5 });
            self.line(within, |l| l == heading);
            commands.push(self.line(Duration::from_secs(5), |l| l.contains("| sh")));
        }
        self.line(Duration::from_secs(5), |l| {
            l.starts_with("Records appear below")
        });
        commands
    }

    /// Runs `command` until it is answered 200 (readiness follows start-up
    /// shortly; a 503 before it is retried as a provider would), then returns
    /// the record line of the event id it was answered with.
    fn send(&self, command: &str) -> String {
        let response = answered(command, "200");
        let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
        let id: serde_json::Value = serde_json::from_str(body).unwrap();
        let id = id["id"].as_str().unwrap().to_owned();
        self.line(Duration::from_secs(20), |l| {
            l.starts_with("record") && l.contains(&id)
        })
    }
}

/// `command`'s response once it starts with `status` (readiness follows
/// start-up shortly: a 503 before it is retried as a provider would), within
/// 20 s; a failure shows the last response.
fn answered(command: &str, status: &str) -> String {
    let expected = format!("HTTP/1.1 {status}");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let response = run_in_shell(command.trim());
        if response.starts_with(&expected) {
            return response;
        }
        assert!(Instant::now() < deadline, "{command}\n{response}");
        std::thread::sleep(Duration::from_millis(300));
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
    let dev = Dev::start(&[]);
    let commands = dev.commands(&["m2m", "transfers"]);
    for (command, topic) in commands.iter().zip([
        "webhooks.m2m.operation.created",
        "webhooks.transfers.payment.completed",
    ]) {
        let record = dev.send(command);
        assert!(record.contains(&format!("topic={topic}")), "{record}");
    }
}

#[test]
fn with_a_providers_file_every_defined_provider_is_served_and_has_a_command() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, PROVIDERS).unwrap();
    let dev = Dev::start(&["--providers-file", file.to_str().unwrap()]);
    // Where each provider's command lands: its `sample:` (m2m, transfers,
    // basey), else the smallest body that reaches its first catalogue entry.
    let expected = [
        ("m2m", "webhooks.m2m.operation.created", "op-1001"),
        (
            "transfers",
            "webhooks.transfers.payment.completed",
            "pay-2001",
        ),
        ("hexa", "shared.orders", "id-1"),
        ("basey", "webhooks.basey.thing.made", "t-42"),
        ("fieldy", "webhooks.fieldy.charge.ok", "charge-1"),
        ("multi", "webhooks.multi.note.added", "note-1"),
        ("blobby", "webhooks.blobby.file.uploaded", "x-blobby-file-1"),
    ];
    let providers: Vec<&str> = expected.iter().map(|(p, _, _)| *p).collect();
    let commands = dev.commands(&providers);
    for (command, (provider, topic, key)) in commands.iter().zip(expected) {
        let record = dev.send(command);
        for part in [format!("topic={topic} "), format!("key={key} ")] {
            assert!(record.contains(&part), "{provider}: {record}\n{command}");
        }
        assert!(
            record.contains(&format!("type={provider}.")),
            "{provider}: {record}"
        );
    }
}

#[test]
fn dev_refuses_production_settings_it_would_ignore() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(&file, PROVIDERS).unwrap();
    let file = file.to_str().unwrap();
    for (env, file, named) in [
        (
            ("KAFKA_BOOTSTRAP_SERVERS", "kafka.prod:9092"),
            None,
            "KAFKA_BOOTSTRAP_SERVERS",
        ),
        (
            ("TRANSFERS_SIGNATURE_TOKEN", "real"),
            None,
            "TRANSFERS_SIGNATURE_TOKEN",
        ),
        // A configured provider's secret, as a variable or a file.
        (("HEXA_SECRET", "real"), Some(file), "HEXA_SECRET"),
        (
            ("BASEY_SECRET_FILE", "/run/basey"),
            Some(file),
            "BASEY_SECRET_FILE",
        ),
    ] {
        let mut command = Command::new(binary());
        command
            .arg("--dev")
            .env_clear()
            .env("GATEWAY_LISTEN_ADDR", "127.0.0.1:0")
            .env("GATEWAY_ADMIN_ADDR", "127.0.0.1:0")
            .env(env.0, env.1);
        if let Some(file) = file {
            command.env("GATEWAY_PROVIDERS_FILE", file);
        }
        let out = exited_within(command, Duration::from_secs(20));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(64), "{named}: {stderr}");
        assert!(stderr.contains(named), "{stderr}");
    }
}

/// The output of `command`, which must exit within `within`: a --dev that
/// starts instead of refusing is killed and fails the test, not hangs it.
fn exited_within(mut command: Command, within: Duration) -> std::process::Output {
    let mut child = command
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start --dev");
    let deadline = Instant::now() + within;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "still running after {within:?} instead of refusing: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

#[test]
fn public_key_and_token_senders_get_commands_that_work_in_dev() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    std::fs::write(
        &file,
        r#"providers:
  - name: discord
    preset: discord
    key: {env: DISCORD_PUBLIC_KEY}
    events:
      - {name: APPLICATION_AUTHORIZED, type: discord.application_authorized, subject: /event/data/user/id}
  - name: gitlab
    preset: gitlab
    secret: {env: GITLAB_WEBHOOK_TOKEN}
    events:
      - {name: Push Hook, type: gitlab.push, subject: /project/path_with_namespace}
"#,
    )
    .unwrap();
    let dev = Dev::start(&["--providers-file", file.to_str().unwrap()]);
    let commands = dev.commands(&["m2m", "transfers", "discord", "gitlab"]);
    assert!(
        commands[2].contains("--key-file"),
        "a public-key sender signs with the demo private key: {}",
        commands[2]
    );
    // Discord's own answer is a 204 without an id: its record is found by topic.
    answered(&commands[2], "204");
    let topic = "topic=webhooks.discord.application_authorized ";
    dev.line(Duration::from_secs(20), |l| {
        l.starts_with("record") && l.contains(topic)
    });
    let record = dev.send(&commands[3]);
    assert!(record.contains("topic=webhooks.gitlab.push "), "{record}");
}

#[test]
fn every_handshake_has_a_command_that_performs_it_in_dev() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("providers.yaml");
    let presets = [
        ("slack", "secret", "url_verification", "200"),
        ("zoom", "secret", "endpoint.url_validation", "200"),
        ("meta", "secret", "hub.challenge", "200"),
        ("discord", "key", "ping", "204"),
        ("dropbox", "secret", "challenge", "200"),
        ("x", "secret", "crc", "200"),
        ("microsoft-graph", "secret", "validation", "200"),
        ("okta", "secret", "verification", "200"),
    ];
    let mut yaml = String::from("providers:\n");
    for (preset, credential, _, _) in presets {
        let name = preset.replace('-', "");
        let var = name.to_uppercase();
        yaml.push_str(&format!(
            "  - name: {name}\n    preset: {preset}\n    {credential}: {{env: {var}_SECRET}}\n"
        ));
        if preset == "meta" {
            yaml.push_str("    handshake_secret: {env: META_VERIFY_TOKEN}\n");
        }
    }
    std::fs::write(&file, yaml).unwrap();
    let dev = Dev::start(&["--providers-file", file.to_str().unwrap()]);
    for (i, (_, _, handshake, status)) in presets.iter().enumerate() {
        let heading = format!("Perform its {handshake} handshake:");
        let within = Duration::from_secs(if i == 0 { 30 } else { 5 });
        dev.line(within, |l| l == heading);
        let command = dev.line(Duration::from_secs(5), |l| l.contains("| sh"));
        assert!(command.contains("--handshake"), "{command}");
        answered(&command, status);
    }
}
