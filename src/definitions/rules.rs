//! The bounds and names that the definitions' checks and the engine share,
//! written once here so that neither imports the other for them.

/// Ids longer than this are not copied into the key, `subject`, `userid` or
/// `deliveryid` (they stay in `data`): it bounds the record at body size plus a
/// fixed envelope, which start-up checks against the producer's `message.max.bytes`.
pub const MAX_ID_LEN: usize = 512;
/// Same bound for the provider's event name, which is copied into `providerevent`.
pub const MAX_EVENT_NAME_LEN: usize = 256;
/// A day: a wider replay window no longer protects against replays.
pub const MAX_REPLAY_TOLERANCE_SECS: u64 = 24 * 60 * 60;

/// The route of verified events the catalogue does not know.
pub const UNROUTED: &str = "unrouted";
/// The route of verified bodies that cannot be read as an event.
pub const DEADLETTER: &str = "deadletter";

/// A name Kafka would refuse as a topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{name}` is not a valid Kafka topic name")]
pub struct TopicNameError {
    pub name: String,
}

/// Kafka's rule: 1 to 249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn check_topic_name(name: &str) -> Result<(), TopicNameError> {
    let legal = name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if name.is_empty() || name.len() > 249 || !legal || name == "." || name == ".." {
        return Err(TopicNameError { name: name.into() });
    }
    Ok(())
}
