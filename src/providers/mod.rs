//! The providers the gateway knows. A provider is a signature scheme (which
//! headers, which bytes are signed) plus an event extractor (canonical type,
//! entity id, user id, time). Everything else in the pipeline is shared.
//!
//! Providers are becoming definitions: YAML as written (`definition`), checked
//! (`check`, `across`) into their effective form (`compiled`), read from the
//! binary and the providers file with presets merged (`load`), printed back by
//! `providers show` (`show`). Until the engine reads them (stage 2),
//! the request path still serves the built-ins from the code in `m2m` and
//! `transfers`, and their definition files are held to that code by a test.

mod across;
pub mod check;
pub mod compiled;
pub mod definition;
pub mod load;
pub mod m2m;
pub mod show;
pub mod transfers;

#[cfg(test)]
mod builtin_agrees;
#[cfg(test)]
mod check_tests;

pub use compiled::Definition;
pub use load::{DefinitionError, Definitions};

use crate::envelope::EventType;
use crate::normalize::DataFields;
use crate::verify::Scheme;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ProviderId {
    M2m,
    Transfers,
}

impl ProviderId {
    pub const ALL: [ProviderId; 2] = [ProviderId::M2m, ProviderId::Transfers];

    /// The name used in paths (`/webhooks/<name>`), metrics and the `provider` attribute.
    pub fn name(self) -> &'static str {
        match self {
            ProviderId::M2m => "m2m",
            ProviderId::Transfers => "transfers",
        }
    }

    /// The CloudEvents `source` attribute.
    pub fn source(self) -> &'static str {
        match self {
            ProviderId::M2m => "/providers/m2m",
            ProviderId::Transfers => "/providers/transfers",
        }
    }

    pub fn from_name(name: &str) -> Option<ProviderId> {
        ProviderId::ALL.into_iter().find(|p| p.name() == name)
    }

    pub fn provider(self) -> &'static Provider {
        match self {
            ProviderId::M2m => &m2m::PROVIDER,
            ProviderId::Transfers => &transfers::PROVIDER,
        }
    }
}

/// What a provider's extractor finds in a well-formed body.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Extracted {
    /// The canonical type, or `None` for an event (or status) the gateway does not know.
    pub event_type: Option<EventType>,
    /// The entity the event is about (record key and `subject`).
    pub subject: Option<String>,
    /// The integrator's own user id (`userid` extension).
    pub user_id: Option<String>,
}

pub struct Provider {
    pub id: ProviderId,
    pub scheme: Scheme,
    /// Secrets: environment variable holding a comma-separated list, and its `_FILE` variant.
    pub secret_env: &'static str,
    pub extract: fn(event: &str, data: &DataFields) -> Extracted,
}
