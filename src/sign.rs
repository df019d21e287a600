//! `webhook-gateway sign`: signs a body the way a provider would, for trying the
//! gateway by hand and for the commands `--dev` prints.

use std::io::Read;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use clap::Args;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::config::{read_secret_file, split_secrets, Env};
use crate::providers::ProviderId;

#[derive(Args, Debug)]
pub struct SignArgs {
    /// Provider whose scheme to use: m2m or transfers
    #[arg(value_parser = ["m2m", "transfers"])]
    pub provider: String,
    /// File holding the secret (first line is used); default: the gateway's own
    /// variables, M2M_WEBHOOK_SECRET(_FILE) or TRANSFERS_SIGNATURE_TOKEN(_FILE)
    #[arg(long, value_name = "PATH")]
    pub secret_file: Option<PathBuf>,
    /// Timestamp to sign (m2m only) [default: now, in Unix seconds]
    #[arg(long)]
    pub timestamp: Option<String>,
    /// Print a complete curl command that posts the body to URL
    #[arg(long, value_name = "URL")]
    pub curl: Option<String>,
}

/// The headers a provider would send with `body`.
pub fn signature_headers(
    provider: ProviderId,
    secret: &str,
    body: &[u8],
    timestamp: &str,
) -> Vec<(&'static str, String)> {
    let scheme = &provider.provider().scheme;
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key length");
    let mut headers = Vec::new();
    if let Some(ts_header) = scheme.timestamp_header {
        mac.update(timestamp.as_bytes());
        mac.update(b".");
        headers.push((ts_header, timestamp.to_owned()));
    }
    mac.update(body);
    headers.push((
        scheme.signature_header,
        hex::encode(mac.finalize().into_bytes()),
    ));
    headers
}

/// The first secret configured for `provider` (the one a rotation adds first).
fn secret(args: &SignArgs, provider: ProviderId, env: &Env) -> Result<String, String> {
    let var = provider.provider().secret_env;
    let file_var = format!("{var}_FILE");
    let from_file = |path: &PathBuf| read_secret_file(path).map(|(s, _)| s[0].clone());
    if let Some(path) = &args.secret_file {
        return from_file(path).map_err(|e| format!("--secret-file: {e}"));
    }
    if let Some(list) = env.get(var) {
        return split_secrets(list, ',')
            .map(|s| s[0].clone())
            .map_err(|e| format!("{var} {e}"));
    }
    if let Some(path) = env.get(&file_var) {
        return from_file(&PathBuf::from(path)).map_err(|e| format!("{file_var}: {e}"));
    }
    Err(format!(
        "no secret: set {var} or {file_var}, or pass --secret-file"
    ))
}

/// Quotes `s` for a POSIX shell.
pub fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn main(args: SignArgs, env: &Env) -> Result<String, String> {
    let provider = ProviderId::from_name(&args.provider).expect("clap checked the name");
    let secret = secret(&args, provider, env)?;
    let mut body = Vec::new();
    std::io::stdin()
        .read_to_end(&mut body)
        .map_err(|e| format!("cannot read the body from stdin: {e}"))?;
    let timestamp = args.timestamp.clone().unwrap_or_else(|| {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs()
            .to_string()
    });
    let headers = signature_headers(provider, &secret, &body, &timestamp);
    Ok(match &args.curl {
        None => headers.iter().map(|(k, v)| format!("{k}: {v}\n")).collect(),
        Some(url) => {
            let body =
                std::str::from_utf8(&body).map_err(|_| "--curl needs a UTF-8 body".to_owned())?;
            let mut cmd = format!(
                "curl -sS -i -X POST {} -H 'content-type: application/json'",
                shell_quote(url)
            );
            for (k, v) in &headers {
                cmd.push_str(&format!(" -H {}", shell_quote(&format!("{k}: {v}"))));
            }
            cmd.push_str(&format!(" --data-binary {}\n", shell_quote(body)));
            cmd
        }
    })
}
