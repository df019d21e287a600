//! What the public and admin listeners share: a cap on open connections that
//! leaves the excess in the kernel's backlog, and HTTP/1's head limits.

use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::TokioTimer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Largest request head (request line and headers); beyond it hyper answers 431.
const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Most header fields in one request; beyond it hyper answers 431.
const MAX_HEADERS: usize = 100;

/// The next connection, once fewer than the cap are open: excess connections
/// wait in the kernel's backlog instead of costing memory here.
pub async fn accept_within(
    listener: &TcpListener,
    cap: &Arc<Semaphore>,
) -> (TcpStream, OwnedSemaphorePermit) {
    let permit = cap
        .clone()
        .acquire_owned()
        .await
        .expect("the semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((stream, _)) => return (stream, permit),
            Err(error) => {
                tracing::warn!(%error, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// The HTTP/1 settings both listeners share: head size and count limits (431
/// beyond them) and the time to receive a head.
pub fn http1_builder(header_timeout: Duration) -> http1::Builder {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_buf_size(MAX_HEAD_BYTES)
        .max_headers(MAX_HEADERS);
    builder
}
