//! The engine: a request's meaning, without IO. It reads definitions and
//! names no provider.
//!
//! - [`pipeline`]: one request: verify -> normalize -> record; the records to publish
//! - [`handshake`]: which declared handshake a request is, and its reply (never published)
//! - [`provider`]: a provider compiled for the request path (plan, topics, keys)
//! - [`verify`]: signature schemes as a definition states them; only it makes a [`verify::Verified`]
//! - [`normalize`]: verified body -> canonical envelope or dead letter, deciding the route
//! - [`envelope`]: the canonical event (CloudEvents 1.0) and the dead letter, as Kafka records
//! - [`record`]: every Kafka record header name
//! - [`route`]: the topic of every route, computed and checked once
//! - [`replay`]: what an unrouted or dead-letter record keeps for a re-drive
//! - [`trace`]: the W3C `traceparent` carried from request to record

pub mod batch;
pub mod envelope;
pub mod form;
pub mod handshake;
pub mod normalize;
pub mod pipeline;
pub mod provider;
pub mod record;
pub mod replay;
pub mod route;
pub mod trace;
pub mod verify;
