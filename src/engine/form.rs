//! `application/x-www-form-urlencoded` bodies (`body: form`): the fields a
//! signature may cover (`{form_sorted}`, Twilio's rule) and the JSON object
//! the rest of the pipeline reads them as.
//!
//! Fields are split on `&` and `=`, `+` is a space, and percent-escapes are
//! decoded; a name or value that is not UTF-8 once decoded makes the body no
//! form (it dead-letters whole, as unreadable JSON does), never an altered one.

use percent_encoding::percent_decode;

/// A body that is not a form of UTF-8 fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("not a form of UTF-8 fields")]
pub struct NotForm;

/// The body's fields, in order.
pub fn fields(body: &[u8]) -> Result<Vec<(String, String)>, NotForm> {
    let decode = |text: &[u8]| {
        let spaced: Vec<u8> = text
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        String::from_utf8(percent_decode(&spaced).collect()).map_err(|_| NotForm)
    };
    body.split(|&b| b == b'&')
        .filter(|piece| !piece.is_empty())
        .map(|piece| {
            let (name, value) = match piece.iter().position(|&b| b == b'=') {
                Some(at) => (&piece[..at], &piece[at + 1..]),
                None => (piece, &b""[..]),
            };
            Ok((decode(name)?, decode(value)?))
        })
        .collect()
}

/// Twilio's signed form: each distinct field, sorted by name and then by
/// value, written as its name followed by its value. A field repeated with
/// the same value counts once, as twilio's SDKs compute it.
pub fn sorted(fields: &[(String, String)]) -> Vec<u8> {
    let mut pairs: Vec<&(String, String)> = fields.iter().collect();
    pairs.sort();
    pairs.dedup();
    pairs
        .iter()
        .flat_map(|(name, value)| [name.as_bytes(), value.as_bytes()])
        .flatten()
        .copied()
        .collect()
}

/// The fields as the JSON object the pipeline reads: each field a string, a
/// repeated name an array of its values in order (nothing a sender sent is
/// dropped). With `json`, the event is the JSON object in that field
/// (Slack's interactivity `payload`), which must then be the form's only
/// field: anything beside it, or a second one, would be dropped, so such a
/// form is no form here (it dead-letters whole). A form without that field
/// is read as its fields.
pub fn to_json(fields: &[(String, String)], json: Option<&str>) -> Result<Vec<u8>, NotForm> {
    if let Some(name) = json {
        if fields.iter().any(|(n, _)| n == name) {
            let [(_, value)] = fields else {
                return Err(NotForm);
            };
            let raw: &serde_json::value::RawValue =
                serde_json::from_str(value).map_err(|_| NotForm)?;
            if !raw.get().starts_with('{') {
                return Err(NotForm);
            }
            return Ok(value.as_bytes().to_vec());
        }
    }
    let mut object = serde_json::Map::new();
    for (name, value) in fields {
        let value = serde_json::Value::String(value.clone());
        match object.get_mut(name) {
            None => {
                object.insert(name.clone(), value);
            }
            Some(serde_json::Value::Array(values)) => values.push(value),
            Some(first) => *first = serde_json::Value::Array(vec![first.take(), value]),
        }
    }
    Ok(serde_json::to_vec(&object).expect("strings serialize"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_decoded_strictly() {
        let got = fields(b"To=%2B18005551212&Body=It%27s+amazing&Empty=&Bare").unwrap();
        assert_eq!(
            got,
            [
                ("To".to_owned(), "+18005551212".to_owned()),
                ("Body".to_owned(), "It's amazing".to_owned()),
                ("Empty".to_owned(), String::new()),
                ("Bare".to_owned(), String::new()),
            ]
        );
        assert_eq!(fields(b"a=%FF"), Err(NotForm), "not UTF-8 once decoded");
        assert_eq!(fields(b"").unwrap(), []);
    }

    #[test]
    fn sorted_is_twilios_rule_for_repeated_names() {
        // twilio-node's spec/validation.spec.js: Digits given as 5678, 1234,
        // 1234 signs "Digits1234Digits5678" (sorted, the duplicate once).
        let form =
            fields(b"Sid=CA123&Digits=5678&Digits=1234&SidAccount=AC123&Digits=1234").unwrap();
        assert_eq!(
            String::from_utf8(sorted(&form)).unwrap(),
            "Digits1234Digits5678SidCA123SidAccountAC123"
        );
    }

    #[test]
    fn the_fields_become_one_json_object_and_repeats_an_array() {
        let form = fields(b"a=1&b=x&a=2").unwrap();
        assert_eq!(
            String::from_utf8(to_json(&form, None).unwrap()).unwrap(),
            r#"{"a":["1","2"],"b":"x"}"#
        );
        let interactive = fields(b"payload=%7B%22type%22%3A%22block_actions%22%7D").unwrap();
        assert_eq!(
            to_json(&interactive, Some("payload")).unwrap(),
            br#"{"type":"block_actions"}"#
        );
        let not_json = fields(b"payload=nope").unwrap();
        assert_eq!(to_json(&not_json, Some("payload")), Err(NotForm));
        // Nothing beside the event would reach the record: no form here.
        for dropped in [
            &b"payload=%7B%7D&user=u1"[..],
            b"payload=%7B%7D&payload=%7B%7D",
            b"payload=%5B%5D",
        ] {
            let form = fields(dropped).unwrap();
            assert_eq!(to_json(&form, Some("payload")), Err(NotForm));
        }
    }
}
