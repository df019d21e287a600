//! Requests that carry several events (`batch:`: SendGrid, HubSpot, Okta,
//! Microsoft Graph): the items of the array the definition points at, each
//! read as an event of its own, and each item's delivery id.

use serde_json::value::RawValue;

use crate::definitions::definition::Pointer;
use crate::definitions::rules::MAX_ID_LEN;
use crate::engine::envelope::DeadLetterReason;

/// Above every preset sender's documented maximum (HubSpot sends at most 100
/// events, SendGrid about a thousand); past it the body dead-letters whole
/// as `too_many_items`, since a verified body is never refused.
pub const MAX_ITEMS: usize = 10_000;

/// The items of the array at `items` in `body`, each as its raw JSON text,
/// in order; or why the body is no batch (it then dead-letters whole).
pub fn items<'a>(body: &'a [u8], items: &Pointer) -> Result<Vec<&'a RawValue>, DeadLetterReason> {
    let text = std::str::from_utf8(body).map_err(|_| DeadLetterReason::NotJson)?;
    let root: &RawValue = serde_json::from_str(text).map_err(|_| DeadLetterReason::NotJson)?;
    let at = value_at(root, items).ok_or(DeadLetterReason::NotBatch)?;
    let list: Vec<&RawValue> =
        serde_json::from_str(at.get()).map_err(|_| DeadLetterReason::NotBatch)?;
    if list.len() > MAX_ITEMS {
        return Err(DeadLetterReason::TooManyItems);
    }
    Ok(list)
}

/// The value at `pointer` in a JSON document, as its raw text (what
/// `normalize::text_of` reads); `None` where it has none.
pub fn value_at<'a>(root: &'a RawValue, pointer: &Pointer) -> Option<&'a RawValue> {
    pointer
        .tokens()
        .try_fold(root, |at, token| member(at, &token))
}

/// An object's member or an array's element, as RFC 6901 addresses them.
fn member<'a>(value: &'a RawValue, token: &str) -> Option<&'a RawValue> {
    let text = value.get();
    if text.starts_with('{') {
        let object: std::collections::BTreeMap<String, &'a RawValue> =
            serde_json::from_str(text).ok()?;
        object.get(token).copied()
    } else if text.starts_with('[') {
        let array: Vec<&'a RawValue> = serde_json::from_str(text).ok()?;
        array.get(token.parse::<usize>().ok()?).copied()
    } else {
        None
    }
}

/// An item's delivery id: the text of each of `pointers` (strings as they
/// are, numbers as written), joined by `:`. `None` when one is missing, or
/// when the id is longer than a request's may be ([`MAX_ID_LEN`]), so the
/// item's own bytes decide its id instead.
pub fn item_id(item: &RawValue, pointers: &[Pointer]) -> Option<String> {
    if pointers.is_empty() {
        return None;
    }
    let value: serde_json::Value = serde_json::from_str(item.get()).ok()?;
    let parts = pointers
        .iter()
        .map(|p| match value.pointer(p.as_str())? {
            serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
            n @ serde_json::Value::Number(_) => Some(n.to_string()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()?;
    Some(parts.join(":")).filter(|id| id.len() <= MAX_ID_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pointer(p: &str) -> Pointer {
        Pointer::parse(p).unwrap()
    }

    #[test]
    fn the_items_are_the_array_at_the_pointer_in_order_and_raw() {
        let body = br#"{"data":{"events":[{"uuid":"a","n":1},{"uuid":"b"}, 7 ]}}"#;
        let got = items(body, &pointer("/data/events")).unwrap();
        let texts: Vec<&str> = got.iter().map(|i| i.get()).collect();
        assert_eq!(texts, [r#"{"uuid":"a","n":1}"#, r#"{"uuid":"b"}"#, "7"]);
        assert_eq!(items(b"[]", &pointer("")).unwrap().len(), 0);
        assert_eq!(
            items(b"{}", &pointer("/data")).unwrap_err(),
            DeadLetterReason::NotBatch
        );
        assert_eq!(
            items(br#"{"a":1}"#, &pointer("")).unwrap_err(),
            DeadLetterReason::NotBatch
        );
        assert_eq!(
            items(b"[1,", &pointer("")).unwrap_err(),
            DeadLetterReason::NotJson
        );
        let many = format!("[{}0]", "0,".repeat(MAX_ITEMS));
        assert_eq!(
            items(many.as_bytes(), &pointer("")).unwrap_err(),
            DeadLetterReason::TooManyItems
        );
    }

    #[test]
    fn an_items_id_joins_its_pointers_and_needs_them_all() {
        let item: &RawValue =
            serde_json::from_str(r#"{"subscriptionId":12,"eventId":"e-7","attemptNumber":0}"#)
                .unwrap();
        let ids = [pointer("/subscriptionId"), pointer("/eventId")];
        assert_eq!(item_id(item, &ids).as_deref(), Some("12:e-7"));
        assert_eq!(item_id(item, &[pointer("/missing")]), None);
        assert_eq!(item_id(item, &[]), None);
        // As long as a request's delivery id may be, or none.
        let long = format!(r#"{{"eventId":"{}"}}"#, "e".repeat(MAX_ID_LEN + 1));
        let item: &RawValue = serde_json::from_str(&long).unwrap();
        assert_eq!(item_id(item, &[pointer("/eventId")]), None);
    }
}
