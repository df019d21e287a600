//! The peer in every run: the Node handler (`node/handler.mjs`: Express and
//! kafkajs, pinned in `node/package-lock.json`), answering the same
//! pre-signed Transfers webhook with 200 after kafkajs's acknowledgement,
//! against the same broker and driven by the same wrk as the gateway, so
//! "ahead of the peers" is a row of every run and not a figure from elsewhere.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::drive::connect;
use crate::processes::free_port;
use crate::requests::SECRET;
use crate::Killed;

/// The Node handler, listening; fails loudly when node or its modules are
/// missing (the test command installs them).
pub async fn start(bootstrap: &str) -> (Killed, SocketAddr) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/e2e/node");
    assert!(
        dir.join("node_modules/kafkajs").is_dir() && dir.join("node_modules/express").is_dir(),
        "{}: express and kafkajs are not installed: run `bash scripts/test.sh`, which installs them",
        dir.display()
    );
    let addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let node = Killed(
        Command::new("node")
            .arg(dir.join("handler.mjs"))
            .env("PORT", addr.port().to_string())
            .env("KAFKA_BOOTSTRAP_SERVERS", bootstrap)
            .env("TRANSFERS_SIGNATURE_TOKEN", SECRET)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start node (the bench's peer)"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while connect(addr).await.is_none() {
        assert!(
            Instant::now() < deadline,
            "the Node handler did not listen within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (node, addr)
}
