//! Fault injection for the tests, compiled only with the `test-hooks` feature
//! (the integration tests turn it on through a dev-dependency on this crate):
//! never part of a release build. The publisher's hooks (`inject_fatal_error`,
//! `set_replacement_fault`) sit beside the code they break, under the same feature.

/// A verified body containing this marker panics right after verification, as
/// a bug in normalize or routing would.
pub const PANIC_MARKER: &str = "__webhook_gateway_test_panic__";

pub fn panic_on_marker(body: &[u8]) {
    if body
        .windows(PANIC_MARKER.len())
        .any(|w| w == PANIC_MARKER.as_bytes())
    {
        panic!("test hook: injected panic after verification");
    }
}
