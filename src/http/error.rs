//! Why a request was not accepted, and the one place that turns that into a
//! status code, a short reason code and a metrics outcome. No variant carries
//! internal detail to the caller.

use http::StatusCode;

use crate::engine::verify::VerifyError;
use crate::http::budget::BudgetFull;
use crate::kafka::error::PublishError;
use crate::metrics::Outcome;

#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("no such endpoint")]
    NotFound,
    /// The `Allow` header's value: `POST`, or `GET, POST` for a provider
    /// with a GET handshake.
    #[error("method not allowed")]
    MethodNotAllowed(&'static str),
    /// A GET to a provider with GET handshakes that is none of them.
    #[error("not one of the provider's handshakes")]
    NotAHandshake,
    /// A handshake's value is missing, repeated or outside what it allows.
    #[error("handshake value refused")]
    HandshakeValue,
    #[error("body larger than the limit")]
    TooLarge,
    #[error("body not received in time")]
    BodyTimeout,
    #[error("body could not be read")]
    BadBody,
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] VerifyError),
    #[error("too many requests awaiting the broker")]
    Overloaded,
    #[error("the provider is past its own rate")]
    RateLimited(u32),
    #[error("the provider has its own limit of requests awaiting the broker")]
    InFlightLimited,
    #[error("no room to buffer the body before verification")]
    BufferFull(#[from] BudgetFull),
    #[error("internal error after verification, and the dead-letter publish failed too")]
    Internal,
    #[error("broker did not acknowledge: {0}")]
    Unavailable(#[from] PublishError),
}

impl RequestError {
    pub fn status(&self) -> StatusCode {
        match self {
            RequestError::NotFound => StatusCode::NOT_FOUND,
            RequestError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            RequestError::NotAHandshake | RequestError::HandshakeValue => StatusCode::BAD_REQUEST,
            RequestError::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            RequestError::BodyTimeout => StatusCode::REQUEST_TIMEOUT,
            RequestError::BadBody => StatusCode::BAD_REQUEST,
            RequestError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            RequestError::RateLimited(_) | RequestError::InFlightLimited => {
                StatusCode::TOO_MANY_REQUESTS
            }
            RequestError::Overloaded
            | RequestError::BufferFull(_)
            | RequestError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            RequestError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The `error` field of the response body.
    pub fn code(&self) -> &'static str {
        match self {
            RequestError::NotFound => "not_found",
            RequestError::MethodNotAllowed(_) => "method_not_allowed",
            RequestError::NotAHandshake => "not_a_handshake",
            RequestError::HandshakeValue => "handshake_value_refused",
            RequestError::TooLarge => "body_too_large",
            RequestError::BodyTimeout => "body_timeout",
            RequestError::BadBody => "bad_body",
            RequestError::Unauthorized(reason) => reason.code(),
            RequestError::Overloaded => "overloaded",
            RequestError::RateLimited(_) => "rate_limited",
            RequestError::InFlightLimited => "in_flight_limited",
            RequestError::BufferFull(_) => "buffers_full",
            RequestError::Unavailable(_) => "broker_unavailable",
            RequestError::Internal => "internal_error",
        }
    }

    pub fn outcome(&self) -> Outcome {
        match self {
            RequestError::NotFound => Outcome::NotFound,
            RequestError::MethodNotAllowed(_) => Outcome::MethodNotAllowed,
            RequestError::NotAHandshake | RequestError::HandshakeValue => Outcome::BadRequest,
            RequestError::TooLarge => Outcome::TooLarge,
            RequestError::BodyTimeout => Outcome::BodyTimeout,
            RequestError::BadBody => Outcome::BadRequest,
            RequestError::Unauthorized(_) => Outcome::Unauthorized,
            RequestError::Overloaded | RequestError::BufferFull(_) => Outcome::Overloaded,
            RequestError::RateLimited(_) | RequestError::InFlightLimited => Outcome::Limited,
            RequestError::Unavailable(_) => Outcome::Unavailable,
            RequestError::Internal => Outcome::InternalError,
        }
    }

    /// The refusals for want of capacity (the gateway's or the provider's own
    /// limits), counted by provider and reason.
    const CAPACITY: [RequestError; 4] = [
        RequestError::Overloaded,
        RequestError::BufferFull(BudgetFull),
        RequestError::RateLimited(1),
        RequestError::InFlightLimited,
    ];

    pub fn is_capacity(&self) -> bool {
        let kind = std::mem::discriminant(self);
        Self::CAPACITY
            .iter()
            .any(|c| std::mem::discriminant(c) == kind)
    }

    /// The reason codes of the capacity refusals, for initialising their
    /// series at zero: each variant's own [`RequestError::code`].
    pub fn capacity_codes() -> [&'static str; 4] {
        Self::CAPACITY.map(|e| e.code())
    }

    /// Seconds a client should wait before retrying, for the 503s and 429s.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            RequestError::Overloaded
            | RequestError::BufferFull(_)
            | RequestError::InFlightLimited => Some(1),
            RequestError::RateLimited(secs) => Some(*secs),
            RequestError::Unavailable(_) => Some(5),
            _ => None,
        }
    }
}
