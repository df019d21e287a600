//! The senders' own signers, run as the sender would run them
//! (`scripts/senders/sign.py`: PyPI `slack_sdk`, PyNaCl, `cryptography`, and
//! Python's own `hmac`), so what a test sends is signed independently of the
//! gateway's code. `bash scripts/test.sh` creates their environment.

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
    let mut child = Command::new(python)
        .arg(repo().join("scripts/senders/sign.py"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run scripts/senders/sign.py");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "sign.py {} failed", args[0]);
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
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
