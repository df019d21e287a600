//! W3C trace context: the one request header the gateway carries into its
//! records (as CloudEvents' `traceparent`), so it is validated exactly, never
//! copied unchecked.

use http::HeaderMap;

use crate::engine::record::header::TRACEPARENT;

/// A valid `traceparent` (trace-context level 1): 55 lower-case hex
/// characters in four fields, not version `ff`, and neither an all-zero trace
/// id nor an all-zero parent id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent(String);

impl TraceParent {
    /// The request's `traceparent` header: W3C gives it the name the record
    /// header carries it under, spelled once in [`crate::engine::record::header`].
    pub fn from_headers(headers: &HeaderMap) -> Option<TraceParent> {
        TraceParent::parse(headers.get(TRACEPARENT)?.to_str().ok()?)
    }

    pub fn parse(value: &str) -> Option<TraceParent> {
        let b = value.as_bytes();
        if b.len() != 55 || b[2] != b'-' || b[35] != b'-' || b[52] != b'-' {
            return None;
        }
        let hex = |r: std::ops::Range<usize>| {
            b[r].iter()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        };
        let zero = |r: std::ops::Range<usize>| b[r].iter().all(|&c| c == b'0');
        let valid = hex(0..2)
            && hex(3..35)
            && hex(36..52)
            && hex(53..55)
            && &b[0..2] != b"ff"
            && !zero(3..35)
            && !zero(36..52);
        valid.then(|| TraceParent(value.to_owned()))
    }

    /// The trace id, for the request's log line.
    pub fn trace_id(&self) -> &str {
        &self.0[3..35]
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traceparent_follows_w3c_trace_context_exactly() {
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let parsed = TraceParent::parse(valid).expect("valid");
        assert_eq!(parsed.trace_id(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(parsed.into_string(), valid);
        for invalid in [
            // Version ff is forbidden.
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            // All-zero trace id, all-zero parent id.
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            // Upper case, wrong length, wrong separators.
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceParent::parse(invalid), None, "{invalid}");
        }
    }
}
