//! The checks of the keys about serving a provider rather than reading its
//! events: the answer it wants once its records are acknowledged
//! (`accepted:`), its own limits (`limits:`) and its publish deadline
//! (`timeout_ms:`).

use super::check::{problem, Problem};
use super::compiled::{Accepted, Limits};
use super::definition::{RawAccepted, RawLimits};

/// The longest `accepted.body` or handshake reply: an acknowledgement, not a document.
const MAX_ACCEPTED_BODY: usize = 4096;

pub(super) fn accepted(raw: RawAccepted) -> Result<Accepted, Problem> {
    answer(raw, "accepted")
}

/// An answer the gateway gives on a sender's terms (`accepted:`, a
/// handshake's `reply:`), checked at `key`: a 2xx, a bounded body, and a
/// content type with any body.
pub(super) fn answer(raw: RawAccepted, key: &str) -> Result<Accepted, Problem> {
    let at = |k: &str| format!("{key}.{k}");
    let status = raw.status.unwrap_or(200);
    if !(200..=299).contains(&status) {
        return Err(problem(
            at("status"),
            format!("a 2xx status (any other asks the sender to deliver again), got {status}"),
        ));
    }
    let body = raw.body.unwrap_or_default();
    if body.len() > MAX_ACCEPTED_BODY {
        return Err(problem(
            at("body"),
            format!("at most {MAX_ACCEPTED_BODY} bytes"),
        ));
    }
    // RFC 9110: 204 and 205 carry no content.
    if matches!(status, 204 | 205) && (!body.is_empty() || raw.content_type.is_some()) {
        return Err(problem(
            key,
            format!("a {status} answer has no body and no content_type"),
        ));
    }
    let content_type = match raw.content_type {
        Some(t) if http::HeaderValue::from_str(&t).is_err() || t.is_empty() => {
            return Err(problem(at("content_type"), "not a valid header value"))
        }
        Some(t) => Some(t),
        None if body.is_empty() => None,
        None => return Err(problem(at("content_type"), "required with a body")),
    };
    Ok(Accepted {
        status,
        content_type,
        body,
    })
}

/// The highest `limits.rate`: beyond what one replica serves, it limits nothing.
const MAX_RATE: f64 = 1_000_000.0;

pub(super) fn limits(raw: RawLimits) -> Result<Limits, Problem> {
    if raw.rate.is_none() && raw.burst.is_none() && raw.in_flight.is_none() {
        return Err(problem("limits", "set rate, in_flight, or both"));
    }
    if let Some(rate) = raw.rate {
        if !(rate.is_finite() && rate > 0.0 && rate <= MAX_RATE) {
            return Err(problem(
                "limits.rate",
                format!("records per second, above 0 and at most {MAX_RATE}"),
            ));
        }
    }
    match (raw.rate, raw.burst) {
        (None, Some(_)) => return Err(problem("limits.burst", "needs limits.rate")),
        (Some(_), Some(0)) => return Err(problem("limits.burst", "at least 1")),
        _ => {}
    }
    if raw.in_flight == Some(0) {
        return Err(problem("limits.in_flight", "at least 1"));
    }
    Ok(Limits {
        rate: raw.rate,
        burst: raw.burst,
        in_flight: raw.in_flight,
    })
}

/// Five minutes, as GATEWAY_PUBLISH_TIMEOUT_MS at most: a sender waits
/// seconds, and the bound keeps a typo (an extra zero) from holding requests
/// past any sender's patience.
const MAX_TIMEOUT_MS: u64 = 5 * 60 * 1000;

pub(super) fn timeout_ms(ms: u64) -> Result<u64, Problem> {
    if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
        return Err(problem(
            "timeout_ms",
            format!("expected 1 to {MAX_TIMEOUT_MS}, got {ms}"),
        ));
    }
    Ok(ms)
}
