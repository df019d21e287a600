//! The providers the gateway knows, as data: each is a definition (signature
//! scheme, optional signed timestamp and delivery id, where the event name and
//! its fields are, and the catalogue of routed events). The engine (`verify`,
//! `normalize`, `routing`) reads definitions and names no provider.
//!
//! - [`definition`]: the YAML as users write it, and the source grammar
//! - [`check`], `scheme`, `across`, `names`, `serving`: every start-up rule, into the effective form ([`compiled`])
//! - [`handshake`]: challenges answered without the broker (`handshakes:`), their form and rules
//! - [`load`]: the built-ins and presets compiled into the binary, and the providers file
//! - [`rules`]: bounds and names shared with the engine
//! - [`show`]: `providers show`
//!
//! The built-ins' definition files are `builtin/*.yaml`, the presets' `presets/*.yaml`.

mod across;
pub mod check;
pub mod compiled;
pub mod definition;
pub mod handshake;
pub mod load;
mod names;
pub mod rules;
pub mod sample;
mod scheme;
mod serving;
pub mod show;

#[cfg(test)]
mod check_tests;
#[cfg(test)]
mod handshake_tests;
#[cfg(test)]
mod presets_tests;
#[cfg(test)]
mod senders_tests;

pub use compiled::{Accepted, Definition};
pub use load::{DefinitionError, Definitions};
