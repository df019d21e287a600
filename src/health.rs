//! Liveness and readiness. Ready means start-up finished (producer created,
//! broker metadata fetched once) and no shutdown has begun. A later broker
//! outage does not flip it: that would take every replica out of the Service at
//! once and turn a Kafka blip into an outage of the ingress; 503 answers and
//! metrics show it instead.

use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug, Default)]
pub struct Health {
    started: AtomicBool,
    shutting_down: AtomicBool,
}

impl Health {
    pub fn mark_started(&self) {
        self.started.store(true, Ordering::SeqCst);
    }

    pub fn mark_shutting_down(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
    }

    pub fn is_ready(&self) -> bool {
        self.started.load(Ordering::SeqCst) && !self.shutting_down.load(Ordering::SeqCst)
    }
}
