//! Which librdkafka values the start-up log and error messages may show: an
//! allow-list of properties known to carry no credential; every other value
//! is redacted.

/// Whether a property's value may appear in the start-up log or an error
/// message: only when it is on [`KAFKA_SHOWN`] and was not read from a file
/// (putting a value in a file is how an operator marks it secret). Every other
/// value is redacted, so a property the gateway has never heard of, or one a
/// later librdkafka adds, is hidden until someone has judged it safe.
pub(super) fn may_show(property: &str, from_file: bool) -> bool {
    !from_file && KAFKA_SHOWN.contains(&property)
}

/// librdkafka properties whose values carry no credential: names, numbers,
/// booleans, enums, and paths to public certificates. What an operator needs
/// to read from the start-up line to debug connectivity and delivery.
///
/// Deliberately absent, so redacted:
/// - everything librdkafka itself marks sensitive (`_RK_SENSITIVE`), which
///   includes `sasl.username` and `ssl.key.location`. The username is half of
///   a credential pair and with some managed Kafka services it is an issued
///   API key; the broker logs the principal of a failed login anyway.
/// - free text that may embed a credential: `sasl.oauthbearer.config` and the
///   other `sasl.oauthbearer.*` settings (extensions, endpoint URLs, assertion
///   keys and passphrases), `sasl.kerberos.kinit.cmd`, `sasl.kerberos.principal`
///   and `.keytab`, every `ssl.*.pem`, `ssl.key.*`, `ssl.keystore.*`, `ssl.engine.*`.
/// - anything not listed, such as `plugin.library.paths` or `transactional.id`:
///   unknown is treated as secret.
///
/// Names are the first names of [`super::kafka::KAFKA_ALIASES`]: variables are keyed by them.
const KAFKA_SHOWN: &[&str] = &[
    // Brokers and identity.
    "bootstrap.servers",
    "client.id",
    "client.rack",
    "client.dns.lookup",
    "broker.address.family",
    "broker.address.ttl",
    "broker.version.fallback",
    "api.version.request",
    "api.version.request.timeout.ms",
    "api.version.fallback.ms",
    "allow.auto.create.topics",
    // Security: which mechanisms, never their credentials.
    "security.protocol",
    "sasl.mechanism",
    "sasl.kerberos.service.name",
    "sasl.kerberos.min.time.before.relogin",
    "sasl.oauthbearer.method",
    "enable.sasl.oauthbearer.unsecure.jwt",
    "enable.ssl.certificate.verification",
    "ssl.endpoint.identification.algorithm",
    "ssl.ca.location",
    "ssl.ca.certificate.stores",
    "ssl.certificate.location",
    "ssl.crl.location",
    "https.ca.location",
    "ssl.cipher.suites",
    "ssl.curves.list",
    "ssl.sigalgs.list",
    // Delivery.
    "acks",
    "enable.idempotence",
    "enable.gapless.guarantee",
    "message.timeout.ms",
    "request.timeout.ms",
    "retries",
    "retry.backoff.ms",
    "retry.backoff.max.ms",
    "max.in.flight.requests.per.connection",
    "partitioner",
    "queuing.strategy",
    "delivery.report.only.error",
    // Batching, compression and the local queue.
    "linger.ms",
    "sticky.partitioning.linger.ms",
    "batch.num.messages",
    "batch.size",
    "compression.type",
    "compression.level",
    "message.max.bytes",
    "message.copy.max.bytes",
    "receive.message.max.bytes",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "queue.buffering.backpressure.threshold",
    // Sockets, reconnection and metadata.
    "socket.timeout.ms",
    "socket.connection.setup.timeout.ms",
    "socket.send.buffer.bytes",
    "socket.receive.buffer.bytes",
    "socket.keepalive.enable",
    "socket.nagle.disable",
    "socket.max.fails",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "reconnect.backoff.jitter.ms",
    "metadata.max.age.ms",
    "metadata.recovery.strategy",
    "metadata.recovery.rebootstrap.trigger.ms",
    "topic.metadata.refresh.interval.ms",
    "topic.metadata.refresh.fast.interval.ms",
    "topic.metadata.refresh.sparse",
    "topic.metadata.propagation.max.ms",
    // Observability.
    "statistics.interval.ms",
    "enable.metrics.push",
    "debug",
    "log_level",
    "log.connection.close",
    "log.queue",
    "log.thread.name",
];
