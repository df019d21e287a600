//! The consumer contract: an AsyncAPI 3.0 document of every record the
//! configuration can publish, generated from the definitions and the topic
//! settings, so it cannot drift from what the gateway writes.
//!
//! - [`data`]: the schema of each type's `data` (built-in, a `schema:` file,
//!   or an open object) and the `dataschema` URI that names it
//! - [`schema`]: one record's schemas: the CloudEvent envelope, headers, key
//! - [`asyncapi`]: the document: channels, operations, messages, bindings
//! - [`check`]: `contract --check OLD`, the changes that break consumers
//!
//! `webhook-gateway contract` prints it (`cmd::contract`), the admin
//! port serves it at `GET /contract`, and `contract/asyncapi.json` is the
//! built-ins' copy.

pub mod asyncapi;
pub mod check;
pub mod data;
pub mod schema;

use serde_json::Value;

pub use data::{DataSchemas, DATASCHEMA_PREFIX, DRAFT_07};

use crate::definitions::DefinitionError;
use crate::settings::Published;

/// The document for a loaded configuration, as JSON values (for reading
/// it: `--type`, `--check`, tests). Fails only on a configured `schema:`
/// file that cannot be used (a start-up error, exit 64). Loaded here rather
/// than in config, so that config never imports the contract (which reads
/// config).
pub fn document(published: &Published) -> Result<Value, DefinitionError> {
    let schemas = DataSchemas::load(&published.providers)?;
    Ok(
        serde_json::to_value(asyncapi::document(published, &schemas))
            .expect("a JSON document serializes"),
    )
}

/// The document as committed and printed, to `out`: pretty JSON, keys
/// sorted, one trailing newline. Written as it is made, never held.
pub fn write_pretty(
    published: &Published,
    schemas: &DataSchemas,
    mut out: impl std::io::Write,
) -> std::io::Result<()> {
    serde_json::to_writer_pretty(&mut out, &asyncapi::document(published, schemas))?;
    out.write_all(b"\n")?;
    out.flush()
}

/// The document as the admin port serves it: compact JSON (a third the
/// size of the pretty text, for the same values), written as it is made.
pub fn compact_with(published: &Published, schemas: &DataSchemas) -> Vec<u8> {
    serde_json::to_vec(&asyncapi::document(published, schemas)).expect("a JSON document serializes")
}

/// A JSON value (a document or one schema) as [`write_pretty`] writes it.
pub fn render(document: &Value) -> String {
    let mut text = serde_json::to_string_pretty(document).expect("a JSON value serializes");
    text.push('\n');
    text
}

/// One message's record schema alone, for `contract --type`: a canonical
/// type, `<provider>.unknown` or `deadletter`; `Err` lists the names known.
pub fn message_schema(
    published: &Published,
    schemas: &DataSchemas,
    type_name: &str,
) -> Result<Value, Vec<String>> {
    let document = asyncapi::document(published, schemas);
    let Some(mut schema) = document.payload(type_name) else {
        return Err(document.message_ids().map(str::to_owned).collect());
    };
    if let Some(object) = schema.as_object_mut() {
        object.insert("$schema".into(), Value::from(DRAFT_07));
    }
    Ok(schema)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::settings::{Env, Settings};
    use serde_json::json;

    /// The document for the built-ins with `extra` settings.
    pub fn document_for(extra: &[(&str, &str)]) -> Value {
        let mut env: Env = extra
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        env.retain(|_, v| !v.is_empty());
        let settings = Settings::from_env(&env).unwrap();
        document(&Published::read(&settings).unwrap()).unwrap()
    }

    #[test]
    fn one_channel_per_topic_with_the_types_that_land_there() {
        let doc = document_for(&[]);
        let channels = doc["channels"].as_object().unwrap();
        let names: Vec<&str> = channels.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "webhooks.deadletter",
                "webhooks.m2m.link.created",
                "webhooks.m2m.link.opened",
                "webhooks.m2m.operation.cancelled",
                "webhooks.m2m.operation.created",
                "webhooks.m2m.user.data_request",
                "webhooks.transfers.payment.completed",
                "webhooks.transfers.payment.failed",
                "webhooks.unrouted",
            ]
        );
        let unrouted: Vec<&String> = channels["webhooks.unrouted"]["messages"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(unrouted, ["m2m.unknown", "transfers.unknown"]);
        assert_eq!(
            doc["operations"]["send.webhooks.unrouted"]["messages"][1],
            json!({"$ref": "#/channels/webhooks.unrouted/messages/transfers.unknown"})
        );
        assert_eq!(
            channels["webhooks.m2m.link.created"]["bindings"]["kafka"]["topic"],
            "webhooks.m2m.link.created"
        );
    }

    #[test]
    fn prefix_and_overrides_move_types_and_shared_topics_carry_both() {
        let doc = document_for(&[
            ("GATEWAY_TOPIC_PREFIX", "wh"),
            (
                "GATEWAY_TOPIC_OVERRIDES",
                "m2m.operation.created=ops,m2m.operation.cancelled=ops,deadletter=dlq",
            ),
        ]);
        let ops: Vec<&String> = doc["channels"]["ops"]["messages"]
            .as_object()
            .unwrap()
            .keys()
            .collect();
        assert_eq!(ops, ["m2m.operation.cancelled", "m2m.operation.created"]);
        assert!(doc["channels"]["dlq"]["messages"]["deadletter"].is_object());
        assert!(doc["channels"]["wh.m2m.link.created"].is_object());
        assert!(doc["channels"].get("wh.m2m.operation.created").is_none());
    }

    #[test]
    fn a_type_message_names_its_key_headers_and_envelope() {
        let doc = document_for(&[]);
        let m = &doc["components"]["messages"]["transfers.payment.failed"];
        assert_eq!(
            m["payload"],
            json!({"$ref": "#/components/schemas/transfers.payment.failed"})
        );
        assert_eq!(m["contentType"], "application/cloudevents+json");
        assert_eq!(
            m["x-key"],
            json!({"sources": ["/data/paymentReference"], "otherwise": "id"})
        );
        // What a provider's types share is stated once; each type adds its own.
        assert_eq!(
            m["headers"]["allOf"][0],
            json!({"$ref": "#/components/schemas/Headers.transfers"})
        );
        assert_eq!(
            m["headers"]["allOf"][1]["properties"]["event-type"]["const"],
            "transfers.payment.failed"
        );
        let schema = &doc["components"]["schemas"]["transfers.payment.failed"];
        assert_eq!(schema["additionalProperties"], false);
        assert_eq!(
            schema["properties"]["providerevent"]["const"],
            "Payment.Status"
        );
        assert_eq!(
            schema["properties"]["data"]["allOf"][1],
            json!({"type": "object", "required": ["status"], "properties": {"status": {"const": "Failed"}}})
        );
        let uri = schema["properties"]["dataschema"]["const"]
            .as_str()
            .unwrap();
        assert!(uri.starts_with("urn:webhook-gateway:schema:transfers.payment.failed:"));
        // The built-ins have no delivery id and a JSON body.
        assert!(schema["properties"].get("deliveryid").is_none());
        assert!(schema["properties"].get("data_base64").is_none());
        // The headers every type of a provider shares are said once.
        let shared = &doc["components"]["schemas"]["Headers.transfers"];
        assert!(shared["properties"]["traceparent"]["description"].is_string());
        assert_eq!(m["headers"]["allOf"][1]["properties"]["traceparent"], true);
        // Unknown types carry an open `data` and no dataschema.
        let unknown = &doc["components"]["schemas"]["m2m.unknown"];
        assert!(unknown["properties"].get("dataschema").is_none());
        assert_eq!(unknown["properties"]["data"]["type"], "object");
    }

    #[test]
    fn a_batch_items_records_carry_the_delivery_id_its_batch_id_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("providers.yaml");
        std::fs::write(
            &file,
            "providers:\n  - name: okta\n    preset: okta\n    secret: {env: OKTA_HOOK_SECRET}\n    events:\n      - {name: user.session.start, type: okta.user.session.start, subject: /actor/id}\n",
        )
        .unwrap();
        let doc = document_for(&[("GATEWAY_PROVIDERS_FILE", file.to_str().unwrap())]);
        for ty in ["okta.user.session.start", "okta.unknown"] {
            let schema = &doc["components"]["schemas"][ty];
            assert!(schema["properties"].get("deliveryid").is_some(), "{ty}");
        }
    }

    #[test]
    fn the_type_flag_prints_one_self_contained_schema() {
        let settings = Settings::from_env(&Env::new()).unwrap();
        let published = Published::read(&settings).unwrap();
        let schemas = DataSchemas::load(&published.providers).unwrap();
        let schema = message_schema(&published, &schemas, "m2m.link.created").unwrap();
        assert_eq!(schema["$schema"], DRAFT_07);
        assert!(!render(&schema).contains("$ref"));
        assert!(message_schema(&published, &schemas, "deadletter").is_ok());
        // A record's schema, never the shared headers, which are no type.
        let known = message_schema(&published, &schemas, "Headers.m2m").unwrap_err();
        assert!(known.contains(&"m2m.link.created".to_owned()));
        assert!(
            !known.iter().any(|k| k.starts_with("Headers.")),
            "{known:?}"
        );
    }

    /// Written as it is made, the document is the same as its values
    /// printed: every map in sorted key order.
    #[test]
    fn the_written_document_is_its_values_in_sorted_order() {
        let settings = Settings::from_env(&Env::new()).unwrap();
        let published = Published::read(&settings).unwrap();
        let schemas = DataSchemas::load(&published.providers).unwrap();
        let mut written = Vec::new();
        write_pretty(&published, &schemas, &mut written).unwrap();
        let values = document(&published).unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), render(&values));
        let compact = compact_with(&published, &schemas);
        assert_eq!(compact, serde_json::to_vec(&values).unwrap());
    }
}
