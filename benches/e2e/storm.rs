//! The storm: one provider floods the gateway while another posts one
//! webhook at a time. The flood is Transfers from 2 048 clients in a closed
//! loop (twice the default in-flight cap, as a retry wave after an outage
//! makes it), first with valid webhooks, then with forgeries; the quiet
//! sender is M2M posting one webhook at a time (each sent once the last is
//! answered, as a sender's single delivery worker does). The quiet sender runs on a thread and
//! runtime of its own: behind the flood's 2 048 clients in the driver's run
//! queue, it would measure the driver, not the gateway. Run per variant, so
//! an A/B with `bin=` shows what the providers' fair share changed.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::drive::{drive_http, observed, Outcome, Pace};
use crate::requests::{Kind, Pool};

pub struct Storm {
    pub flood_kind: &'static str,
    pub workers: usize,
    pub flood: Outcome,
    pub quiet: Outcome,
}

pub async fn run(public: SocketAddr, pid: u32, workers: usize, secs: Duration) -> Vec<Storm> {
    let mut storms = Vec::new();
    for (flood_kind, kind) in [("valid", Kind::Accepted), ("forged", Kind::Rejected)] {
        eprintln!(
            "storm: {workers} clients of {flood_kind} Transfers webhooks beside M2M one at a time"
        );
        let flood_pool = Arc::new(Pool::of(kind, "transfers", 4096));
        let quiet_pool = Arc::new(Pool::of(Kind::Accepted, "m2m", 4096));
        let flood = observed(
            Some(pid),
            drive_http(public, flood_pool, workers, Pace::Closed, secs),
        );
        let quiet = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(drive_http(public, quiet_pool, 1, Pace::Closed, secs))
        });
        let flood = flood.await;
        let quiet = quiet.join().expect("the quiet sender");
        storms.push(Storm {
            flood_kind,
            workers,
            flood,
            quiet,
        });
    }
    storms
}

/// The report's lines for one variant's storms.
pub fn report(name: &str, storms: &[Storm]) -> String {
    let mut out = String::new();
    for s in storms {
        let quiet_total: u64 = s.quiet.statuses.values().sum::<u64>() + s.quiet.errors;
        out += &format!(
            "| {name} | {} from {} clients | {} × 200, {} × 503, {} × 401 | {} of {} answered 200 | {:.1} ms | {:.1} ms |\n",
            s.flood_kind,
            s.workers,
            s.flood.count(200),
            s.flood.count(503),
            s.flood.count(401),
            s.quiet.count(200),
            quiet_total,
            s.quiet.ms(0.5),
            s.quiet.ms(0.99),
        );
    }
    out
}

pub const HEADER: &str = "| gateway | Transfers flood | Transfers answers | M2M, one at a time | M2M p50 | M2M p99 |\n| --- | --- | --- | --- | --- | --- |\n";
