//! The integration tests, one crate (one link on two cores): each module is a
//! specification checked through real HTTP over sockets, a real tansu broker
//! process, and librdkafka's mock cluster only where a fault is injected.
//! A test that needs a real part outside the Rust build (tansu, Prometheus,
//! stunnel4, node/npm, the Python tools) carries `#[ignore = "needs …"]`:
//! plain `cargo test` lists it as ignored; scripts/test.sh runs it
//! (`-- --include-ignored`), failing loudly when the part is missing.

mod common;

mod accepted;
mod ack_semantics;
mod backpressure;
mod batches;
mod cli;
mod configured;
mod contract;
mod dashboard;
mod dev_mode;
mod end_to_end;
mod fair_share;
mod handshakes;
mod hostile_input;
mod http_contract;
mod key_order;
mod logs;
mod managed_kafka;
mod metrics;
mod presets;
mod properties;
mod readiness_and_shutdown;
mod readme;
mod redrive;
mod reliability;
mod sdk_readers;
mod secret_rotation;
mod senders;
mod topics_command;
