//! The senders' own signers, run as the sender would run them
//! (`scripts/senders/sign.py`: PyPI `slack_sdk`, PyNaCl, `cryptography` and
//! Python's own `hmac`; `sign.mjs`: npm `twilio`), so what a test sends is
//! signed independently of the gateway's code. `bash scripts/test.sh`
//! installs them.

use std::io::Write;
use std::process::{Command, Stdio};

use crate::contract::repo;

/// `sign.py ARGS < stdin`, its output trimmed; a failure names the command.
fn sign_py(args: &[&str], stdin: &[u8]) -> String {
    let python = repo().join(".venv-senders/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run `bash scripts/test.sh`, which creates it",
        python.display()
    );
    let script = repo().join("scripts/senders/sign.py");
    run(Command::new(python).arg(script), args, stdin)
}

/// `program ARGS < stdin`, its output trimmed; a failure names the signer.
fn run(program: &mut Command, args: &[&str], stdin: &[u8]) -> String {
    let mut child = program
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run a signer ({e}): run `bash scripts/test.sh`"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "signer {args:?} failed: run `bash scripts/test.sh`, which installs it"
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Twilio's own SDK (npm `twilio`, `scripts/senders/sign.mjs`) signs: the
/// form `body` posted to `url`, with the auth token `secret`.
pub fn twilio_sdk_signature(secret: &str, url: &str, body: &[u8]) -> String {
    let script = repo().join("scripts/senders/sign.mjs");
    run(
        Command::new("node").arg(script),
        &["twilio", secret, url],
        body,
    )
}

/// Slack's own SDK signs: `v0=<hex>` for `body` at `timestamp`.
pub fn slack_sdk_signature(secret: &str, timestamp: &str, body: &[u8]) -> String {
    sign_py(&["slack", secret, timestamp], body)
}

/// A key pair made at test time (PyNaCl or cryptography): the PKCS#8 PEM
/// private key's path and the public key as the sender shows it.
pub fn key_pair(algorithm: &str) -> (String, String) {
    let text = sign_py(&[algorithm, "keypair"], b"");
    let mut lines = text.lines();
    (
        lines.next().unwrap().to_owned(),
        lines.next().unwrap().to_owned(),
    )
}

/// The signature `algorithm`'s independent signer makes over `message`.
pub fn public_key_signature(algorithm: &str, private: &str, message: &[u8]) -> String {
    sign_py(&[algorithm, private], message)
}

/// HMAC-SHA256 of `message` under `secret` by Python's `hmac` module, in
/// `hex` or `base64`: what Zoom's and X's handshake replies must carry.
pub fn python_hmac_sha256(secret: &str, encoding: &str, message: &[u8]) -> String {
    sign_py(&["hmac-sha256", secret, encoding], message)
}
