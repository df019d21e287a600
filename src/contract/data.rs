//! The schema of each routed type's `data`: the built-ins' files in
//! `builtin/`, a configured entry's `schema:` file, or an open object; with
//! the values the entry's `when` requires. Also the `dataschema` URI that
//! names a known schema.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::definitions::compiled::Entry;
use crate::definitions::definition::Pointer;
use crate::definitions::{Definition, DefinitionError, Definitions};

/// The built-ins' `data` schemas, by type: what `providers.md` says each event
/// carries. Both Transfers types share one shape.
const BUILTIN: [(&str, &str); 7] = [
    (
        "m2m.link.created",
        include_str!("builtin/m2m.link.created.json"),
    ),
    (
        "m2m.link.opened",
        include_str!("builtin/m2m.link.opened.json"),
    ),
    (
        "m2m.user.data_request",
        include_str!("builtin/m2m.user.data_request.json"),
    ),
    (
        "m2m.operation.created",
        include_str!("builtin/m2m.operation.created.json"),
    ),
    (
        "m2m.operation.cancelled",
        include_str!("builtin/m2m.operation.cancelled.json"),
    ),
    (
        "transfers.payment.completed",
        include_str!("builtin/transfers.payment.json"),
    ),
    (
        "transfers.payment.failed",
        include_str!("builtin/transfers.payment.json"),
    ),
];

/// Every `dataschema` URI starts with this. A URN, not a URL: it names a
/// schema, and the contract document (`GET /contract`) is where it is found.
pub const DATASCHEMA_PREFIX: &str = "urn:webhook-gateway:schema:";

/// The JSON Schema dialect of every schema in the contract: the one AsyncAPI
/// 3.0's default schema format extends.
pub const DRAFT_07: &str = "http://json-schema.org/draft-07/schema#";

/// One routed type's `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct DataSchema {
    /// A JSON Schema (draft-07) of the `data` object.
    pub schema: Value,
    /// The `dataschema` attribute for this type's records: set where a schema
    /// is known (a built-in's, or an entry's `schema:` file), `None` for an
    /// open object.
    pub uri: Option<String>,
}

/// The `data` schema of every routed type of every definition.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DataSchemas {
    by_type: BTreeMap<String, DataSchema>,
}

impl DataSchemas {
    /// Reads each configured entry's `schema:` file (relative to the providers
    /// file) and takes the built-ins' from the binary. A file that cannot be
    /// used is a start-up error naming the providers file, the provider and
    /// the key, as every other definition error.
    pub fn load(defs: &Definitions) -> Result<DataSchemas, DefinitionError> {
        let base_dir = defs
            .file
            .as_deref()
            .map(|path| path.parent().map(Path::to_path_buf).unwrap_or_default());
        let mut by_type = BTreeMap::new();
        for (i, def) in defs.list.iter().enumerate() {
            let builtin = i < defs.builtins;
            for (j, entry) in def.events.iter().enumerate() {
                let given = if builtin {
                    Some(builtin_schema(&entry.type_name))
                } else if let Some(file) = &entry.schema {
                    let path = base_dir.clone().unwrap_or_default().join(file);
                    Some(read_schema(&path).map_err(|reason| DefinitionError {
                        origin: defs.origin.clone().unwrap_or_default(),
                        provider: Some(def.name.clone()),
                        key: format!("events[{j}].schema"),
                        reason: format!("`{}`: {reason}", path.display()),
                    })?)
                } else {
                    None
                };
                by_type.insert(entry.type_name.clone(), data_schema(def, entry, given));
            }
        }
        Ok(DataSchemas { by_type })
    }

    /// The `data` schema of a routed type (`None` for `<provider>.unknown`
    /// and types no definition has).
    pub fn get(&self, type_name: &str) -> Option<&DataSchema> {
        self.by_type.get(type_name)
    }

    /// The `dataschema` attribute for records of `type_name`, where a schema is known.
    pub fn uri(&self, type_name: &str) -> Option<&str> {
        self.get(type_name)?.uri.as_deref()
    }

    /// [`DataSchemas::uri`] as a compiled provider takes it
    /// ([`crate::engine::provider::Provider::new`]).
    pub fn uris(&self) -> impl Fn(&str) -> Option<String> + '_ {
        |type_name| self.uri(type_name).map(str::to_owned)
    }
}

/// An open object: what `data` is when nothing more is known.
pub fn open_object() -> Value {
    json!({
        "type": "object",
        "description": "The provider's data object, byte for byte as received.",
    })
}

fn builtin_schema(type_name: &str) -> Value {
    let (_, text) = BUILTIN
        .iter()
        .find(|(t, _)| *t == type_name)
        .unwrap_or_else(|| panic!("no built-in data schema for {type_name}"));
    serde_json::from_str(text).expect("the built-in data schemas are JSON")
}

/// `given` (or an open object) with what the entry's `when` guarantees about
/// `data`; named by a URI when a schema was given.
fn data_schema(def: &Definition, entry: &Entry, given: Option<Value>) -> DataSchema {
    let known = given.is_some();
    let base = given.unwrap_or_else(open_object);
    let schema = match when_schema(&def.event.data, entry) {
        None => base,
        Some(when) => json!({ "allOf": [base, when] }),
    };
    let uri = known.then(|| dataschema_uri(&entry.type_name, &schema));
    DataSchema { schema, uri }
}

/// `urn:webhook-gateway:schema:<type>:<digest>`: the digest is the first 64
/// bits of SHA-256 over the schema's JSON (keys sorted, no spaces), so the
/// same schema has the same URI in every deployment and build, and any change
/// to it gives a new one (as CloudEvents asks of an incompatible change).
pub fn dataschema_uri(type_name: &str, schema: &Value) -> String {
    let text = serde_json::to_vec(schema).expect("a JSON value serializes");
    let digest = Sha256::digest(&text);
    format!(
        "{DATASCHEMA_PREFIX}{type_name}:{}",
        hex::encode(&digest[..8])
    )
}

/// The values that the entry's `when` pointers into `data` require: an
/// event of this type was routed only when each matched. A pointer elsewhere
/// in the body says nothing about `data`.
fn when_schema(data: &Pointer, entry: &Entry) -> Option<Value> {
    let prefix: Vec<String> = data.tokens().collect();
    let mut schema: Option<Value> = None;
    for (pointer, text) in &entry.when {
        let tokens: Vec<String> = pointer.tokens().collect();
        let Some(rest) = tokens.strip_prefix(prefix.as_slice()) else {
            continue;
        };
        if rest.is_empty() {
            continue;
        }
        let schema = schema.get_or_insert_with(|| json!({}));
        require_at(schema, rest, matching_text(text));
    }
    schema
}

/// Adds `leaf` at `path` (object keys) to `schema`, every level required.
fn require_at(schema: &mut Value, path: &[String], leaf: Value) {
    let (first, rest) = path.split_first().expect("a non-empty path");
    let object = schema.as_object_mut().expect("built as an object");
    object.insert("type".into(), json!("object"));
    let required = object
        .entry("required")
        .or_insert_with(|| json!([]))
        .as_array_mut()
        .expect("an array");
    if !required.iter().any(|r| r == first) {
        required.push(json!(first));
    }
    let properties = object
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()
        .expect("an object");
    if rest.is_empty() {
        properties.insert(first.clone(), leaf);
    } else {
        let child = properties.entry(first.clone()).or_insert_with(|| json!({}));
        require_at(child, rest, leaf);
    }
}

/// A value whose text is `text` (how `when` compares): that string, or for a
/// text that is a JSON number or boolean, that value too. JSON Schema compares
/// numbers by value, so `1.0` also admits `1`: looser than the gateway, never
/// stricter.
fn matching_text(text: &str) -> Value {
    match serde_json::from_str::<Value>(text) {
        Ok(v @ (Value::Number(_) | Value::Bool(_))) => json!({ "enum": [text, v] }),
        _ => json!({ "const": text }),
    }
}

/// Why a configured `schema:` file cannot be used. The caller names the file.
#[derive(Debug, thiserror::Error)]
enum SchemaFileError {
    #[error("cannot read: {0}")]
    Unreadable(std::io::ErrorKind),
    #[error("not JSON: {0}")]
    NotJson(serde_json::Error),
    #[error("not a JSON Schema object")]
    NotAnObject,
    #[error(
        "$schema {dialect}: the contract is JSON Schema draft-07 ({}), as AsyncAPI 3.0",
        DRAFT_07
    )]
    Dialect { dialect: Value },
    #[error("type {ty}: `data` is always a JSON object")]
    NotObjectType { ty: Value },
    /// `at`: the JSON pointer of the first `$ref`.
    #[error("$ref at {at}: the schema is embedded in the contract, so it must be self-contained (inline what it refers to)")]
    Ref { at: String },
    /// `at`: the JSON pointer of the first `$id` below the top level.
    #[error("$id at {at}: only the top level may have one (the contract embeds the schema)")]
    InnerId { at: String },
}

/// A configured `schema:` file, checked so that it can be embedded in the
/// document and in each record's message schema: JSON, a draft-07 schema of
/// an object, and self-contained (a `$ref` would point elsewhere once moved).
fn read_schema(path: &PathBuf) -> Result<Value, SchemaFileError> {
    let text = std::fs::read_to_string(path).map_err(|e| SchemaFileError::Unreadable(e.kind()))?;
    let mut schema: Value = serde_json::from_str(&text).map_err(SchemaFileError::NotJson)?;
    let Some(object) = schema.as_object_mut() else {
        return Err(SchemaFileError::NotAnObject);
    };
    if let Some(dialect) = object.remove("$schema") {
        let draft_07 = dialect
            .as_str()
            .map(|d| d.trim_end_matches('#').replace("https://", "http://"))
            .is_some_and(|d| d == DRAFT_07.trim_end_matches('#'));
        if !draft_07 {
            return Err(SchemaFileError::Dialect { dialect });
        }
    }
    // The document names the schema by its `dataschema` URI instead.
    object.remove("$id");
    check_type_allows_object(object.get("type"))?;
    if let Some(at) = find_key(&schema, "$ref", "") {
        return Err(SchemaFileError::Ref { at });
    }
    if let Some(at) = find_key(&schema, "$id", "") {
        return Err(SchemaFileError::InnerId { at });
    }
    Ok(schema)
}

fn check_type_allows_object(ty: Option<&Value>) -> Result<(), SchemaFileError> {
    let allows = match ty {
        None => true,
        Some(Value::String(t)) => t == "object",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "object"),
        Some(_) => false,
    };
    match ty {
        Some(ty) if !allows => Err(SchemaFileError::NotObjectType { ty: ty.clone() }),
        _ => Ok(()),
    }
}

/// The JSON pointer of the first `key` in any object within `value`.
fn find_key(value: &Value, key: &str, at: &str) -> Option<String> {
    match value {
        Value::Object(map) => {
            if map.contains_key(key) {
                return Some(if at.is_empty() { "/".into() } else { at.into() });
            }
            map.iter().find_map(|(k, v)| {
                let token = k.replace('~', "~0").replace('/', "~1");
                find_key(v, key, &format!("{at}/{token}"))
            })
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, v)| find_key(v, key, &format!("{at}/{i}"))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file_defs(dir: &Path, yaml: &str) -> Definitions {
        let path = dir.join("providers.yaml");
        std::fs::write(&path, yaml).unwrap();
        Definitions::load(Some(&path)).unwrap()
    }

    const ACME: &str = r#"
providers:
  - name: acme
    preset: standard-webhooks
    secret: {env: ACME_SECRET}
    events:
      - name: invoice.paid
        when: {/data/status: "paid", /type: "invoice.paid", /data/meta/count: "2"}
        type: acme.invoice.paid
        subject: /data/invoiceId
        schema: schemas/invoice.json
      - {name: invoice.sent, type: acme.invoice.sent, subject: /data/invoiceId}
"#;

    #[test]
    fn every_builtin_type_has_a_data_schema_and_every_file_is_used() {
        let defs = Definitions::builtin();
        let schemas = DataSchemas::load(&defs).unwrap();
        let types: Vec<_> = defs
            .list
            .iter()
            .flat_map(|d| d.events.iter().map(|e| e.type_name.as_str()))
            .collect();
        assert_eq!(types, BUILTIN.map(|(t, _)| t));
        for ty in types {
            let uri = schemas.uri(ty).unwrap();
            assert!(
                uri.starts_with(&format!("{DATASCHEMA_PREFIX}{ty}:")),
                "{uri}"
            );
        }
    }

    #[test]
    fn when_values_inside_data_are_required_and_others_ignored() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("schemas")).unwrap();
        std::fs::write(
            dir.path().join("schemas/invoice.json"),
            r#"{"$schema": "https://json-schema.org/draft-07/schema", "$id": "https://acme.example/invoice",
                "type": "object", "properties": {"invoiceId": {"type": "string"}}}"#,
        )
        .unwrap();
        let schemas = DataSchemas::load(&file_defs(dir.path(), ACME)).unwrap();
        let paid = schemas.get("acme.invoice.paid").unwrap();
        assert_eq!(
            paid.schema,
            json!({"allOf": [
                {"type": "object", "properties": {"invoiceId": {"type": "string"}}},
                {"type": "object", "required": ["meta", "status"], "properties": {
                    "meta": {"type": "object", "required": ["count"], "properties": {
                        "count": {"enum": ["2", 2]}}},
                    "status": {"const": "paid"}}}
            ]}),
            "the file's $schema and $id are dropped; /type is outside data"
        );
        assert!(paid.uri.is_some());
        let sent = schemas.get("acme.invoice.sent").unwrap();
        assert_eq!(sent.schema, open_object());
        assert_eq!(sent.uri, None, "no schema known: no dataschema");
    }

    #[test]
    fn the_uri_changes_with_the_schema_and_only_with_it() {
        let a = dataschema_uri("t.x", &json!({"type": "object"}));
        assert_eq!(a, dataschema_uri("t.x", &json!({"type": "object"})));
        assert_ne!(
            a,
            dataschema_uri("t.x", &json!({"type": "object", "required": ["a"]}))
        );
        assert_eq!(a.len(), DATASCHEMA_PREFIX.len() + "t.x:".len() + 16);
    }

    #[test]
    fn an_unusable_schema_file_names_the_file_the_provider_and_the_key() {
        let cases = [
            (None, "cannot read: entity not found"),
            (Some("{"), "not JSON"),
            (Some("[]"), "not a JSON Schema object"),
            (
                Some(r#"{"$schema": "https://json-schema.org/draft/2020-12/schema"}"#),
                "draft-07",
            ),
            (Some(r#"{"type": "array"}"#), "always a JSON object"),
            (
                Some(r##"{"properties": {"a": {"$ref": "#/definitions/a"}}}"##),
                "$ref at /properties/a",
            ),
            (
                Some(r#"{"properties": {"a": {"$id": "x"}}}"#),
                "$id at /properties/a",
            ),
        ];
        for (content, reason) in cases {
            let dir = tempfile::tempdir().unwrap();
            std::fs::create_dir(dir.path().join("schemas")).unwrap();
            if let Some(content) = content {
                std::fs::write(dir.path().join("schemas/invoice.json"), content).unwrap();
            }
            let defs = file_defs(dir.path(), ACME);
            let err = DataSchemas::load(&defs).unwrap_err();
            let line = err.to_string();
            assert!(
                line.starts_with(&format!(
                    "GATEWAY_PROVIDERS_FILE={}: provider \"acme\": events[0].schema: `{}`: ",
                    dir.path().join("providers.yaml").display(),
                    dir.path().join("schemas/invoice.json").display()
                )),
                "{line}"
            );
            assert!(line.contains(reason), "{line} lacks {reason}");
        }
    }
}
