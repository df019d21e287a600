//! The built-ins' definition files against the code that still serves them:
//! until the engine reads definitions (stage 2), the two must not drift.

// Built only under #[cfg(test)] (see mod.rs): tests/it/readme.rs reads nothing
// past that marker, as these names are not variables the gateway reads.

use super::definition::{Part, Source};
use super::{Definitions, ProviderId};
use crate::envelope::EventType;
use crate::normalize::DataFields;

/// The field of `data` a `/data/<field>` pointer names.
fn data_field(source: &Source) -> String {
    let Source::Pointer(p) = source else {
        panic!("{source} is not a pointer into the body");
    };
    let tokens: Vec<String> = p.tokens().collect();
    assert_eq!(tokens.len(), 2, "{source}");
    assert_eq!(tokens[0], "data", "{source}");
    tokens[1].clone()
}

#[test]
fn the_built_in_definitions_say_what_the_code_does() {
    let defs = Definitions::builtin();
    assert_eq!(defs.list.len(), ProviderId::ALL.len());
    for id in ProviderId::ALL {
        let code = id.provider();
        let def = defs.get(id.name()).expect("a definition per built-in");
        assert_eq!(def.source(), id.source());
        assert_eq!(def.secret.env, code.secret_env);
        assert_eq!(def.signature.header.as_str(), code.scheme.signature_header);
        assert_eq!(
            def.signature.prefix.as_deref(),
            code.scheme.signature_prefix
        );
        assert!(!def.signature.prefix_required);
        assert_eq!(
            def.timestamp.as_ref().map(|t| t.source.clone()),
            code.scheme
                .timestamp_header
                .map(|h| Source::Header(super::definition::HeaderName::parse(h).unwrap())),
        );
        assert_eq!(
            def.signature.signed.uses(&Part::Timestamp),
            code.scheme.timestamp_header.is_some()
        );
        assert!(def.id.is_none(), "today's ids come from the body bytes");
        assert_eq!(def.event.name.to_string(), "\"/event\"");
        assert_eq!(def.event.data.as_str(), "/data");
        assert_eq!(data_field(def.event.time.as_ref().unwrap()), "createdAt");
        let unrouted: Vec<_> = def.unrouted_subject.iter().map(data_field).collect();
        assert_eq!(
            unrouted,
            ["operationId", "linkId", "dataRequestId", "paymentReference"]
        );

        // Each catalogue entry, fed to the code: same type, same subject, same user.
        let user = data_field(def.event.user.as_ref().unwrap());
        for entry in &def.events {
            let mut data = serde_json::Map::new();
            data.insert(data_field(&entry.subject), "the-subject".into());
            data.insert(user.clone(), "the-user".into());
            for (pointer, value) in &entry.when {
                data.insert(
                    data_field(&Source::Pointer(pointer.clone())),
                    value.clone().into(),
                );
            }
            let data = serde_json::Value::Object(data).to_string();
            let got = (code.extract)(&entry.name, &DataFields::parse(&data));
            let what = &entry.type_name;
            assert_eq!(got.event_type.map(EventType::as_str), Some(what.as_str()));
            assert_eq!(got.subject.as_deref(), Some("the-subject"), "{what}");
            assert_eq!(got.user_id.as_deref(), Some("the-user"), "{what}");
        }
        // ...and every type the code knows has its entry.
        let prefix = format!("{}.", id.name());
        for ty in EventType::ALL.map(EventType::as_str) {
            if ty.starts_with(&prefix) {
                assert!(def.has_type(ty), "{ty} has no catalogue entry");
            }
        }
    }
}
