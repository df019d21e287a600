//! Secret rotation without restart: provider secrets read from `*_FILE` are
//! re-read when the file's content changes. Kubernetes updates a mounted
//! Secret by swapping a symlink, which file-change notifications on the file
//! itself miss; polling the content is simple and catches every update.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config::{read_secret_file, SecretSource};
use crate::ingest::Ingest;
use crate::providers::ProviderId;
use crate::verify::KeyRing;

/// Watches one provider's secret file until the task is aborted.
pub async fn watch(ingest: Arc<Ingest>, provider: ProviderId, path: PathBuf, every: Duration) {
    let fingerprint = |path: &PathBuf| std::fs::read(path).ok().map(Sha256::digest);
    let mut seen = fingerprint(&path);
    loop {
        tokio::time::sleep(every).await;
        let now = fingerprint(&path);
        if now == seen {
            continue;
        }
        seen = now;
        let Some(enabled) = ingest.enabled(provider) else {
            return;
        };
        match read_secret_file(&path) {
            Ok(secrets) => {
                *enabled.keys.write().expect("keys lock") = Arc::new(KeyRing::new(&secrets));
                tracing::info!(
                    provider = provider.name(),
                    secrets = secrets.len(),
                    "secrets reloaded"
                );
            }
            // The old secrets stay in force; the reason never includes file content.
            Err(reason) => {
                tracing::error!(provider = provider.name(), %reason, "secret reload failed; keeping the previous secrets")
            }
        }
    }
}

/// Starts a watcher for every provider whose secrets come from a file.
pub fn spawn_all(
    ingest: &Arc<Ingest>,
    config: &crate::config::Config,
) -> Vec<tokio::task::JoinHandle<()>> {
    ProviderId::ALL
        .into_iter()
        .filter_map(|id| match config.secrets(id).map(|s| &s.source) {
            Some(SecretSource::File(path)) => Some(tokio::spawn(watch(
                ingest.clone(),
                id,
                path.clone(),
                config.secret_reload,
            ))),
            _ => None,
        })
        .collect()
}
