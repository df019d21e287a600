//! HTTP in and out: the IO shell around the engine.
//!
//! - [`server`]: start-up, the public listener, graceful shutdown
//! - [`listener`]: what the public and admin listeners share: the connection cap, HTTP/1's head limits
//! - [`ingest`]: one webhook's IO: the body (bounded), the pipeline, publish and await every ack, respond
//! - [`share`]: each provider's share of the capacity (in-flight, body memory, pipeline CPU) and its own `limits:`
//! - [`budget`]: the memory budget for bodies not yet verified
//! - [`respond`]: every HTTP answer, built in one place
//! - [`error`]: the request error enum, mapped to status codes in one place
//! - [`admin`]: the admin port: metrics, probes and the contract
//! - [`health`]: liveness and readiness, and the topic watcher that drives readiness

pub mod admin;
pub mod budget;
pub mod error;
pub mod health;
pub mod ingest;
pub mod listener;
pub mod respond;
pub mod server;
pub mod share;
