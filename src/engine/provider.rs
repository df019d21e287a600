//! A provider as the request path uses it, compiled once at start-up: its
//! definition, the reading plan (each catalogue entry with its topic and its
//! `dataschema` resolved), and its current keys. The gateway's ingest and the
//! secret reload share one [`Provider`] per enabled provider; a re-drive
//! compiles every defined one the same way, without keys.

use std::sync::Arc;

use arc_swap::ArcSwapOption;

use crate::definitions::Definition;
use crate::engine::normalize::Plan;
use crate::engine::route::Topics;
use crate::engine::verify::KeyRing;

pub struct Provider {
    pub definition: Definition,
    pub plan: Plan,
    /// Swapped whole on a reload while requests read it. `arc-swap` rather
    /// than a lock: a request's read never waits for a reload, there is no
    /// poisoned lock to handle, and the read writes no shared cache line
    /// (`benches/pipeline.rs`, group `keys`: 0.76 x the `RwLock<Arc<_>>`
    /// read it replaced alone, 0.07 x with a reader on the other core;
    /// BENCHMARKS.md). `None` only in a re-drive, which never verifies.
    keys: ArcSwapOption<KeyRing>,
}

impl Provider {
    /// `definition` compiled for the request path: its topics from `topics`
    /// (computed from the same definitions), each type's `dataschema` URI
    /// from `dataschema` (the consumer contract's, where one is known).
    pub fn new(
        definition: Definition,
        topics: &Topics,
        dataschema: impl Fn(&str) -> Option<String>,
        keys: Option<KeyRing>,
    ) -> Provider {
        let plan = Plan::new(&definition, topics).with_dataschemas(dataschema);
        Provider {
            definition,
            plan,
            keys: ArcSwapOption::new(keys.map(Arc::new)),
        }
    }

    pub fn name(&self) -> &str {
        &self.definition.name
    }

    /// The keys in force now; `None` in a re-drive. A guard, not a clone:
    /// reading it on every request costs no reference count.
    pub fn keys(&self) -> arc_swap::Guard<Option<Arc<KeyRing>>> {
        self.keys.load()
    }

    /// Puts `keys` in force for every request verified from now on.
    pub fn set_keys(&self, keys: KeyRing) {
        self.keys.store(Some(Arc::new(keys)));
    }
}
