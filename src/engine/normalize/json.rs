//! One pass over a JSON body for just the values a definition points at.
//!
//! The pointers a definition reads are compiled into a trie at start-up. A
//! body is walked once: at each object the keys on some pointer's path are
//! kept, as the exact text of their value (borrowed from the body, never
//! re-serialised), and every other value is skipped without building
//! anything. A value that is itself on a longer pointer's path is walked
//! again on its own, so a body costs one pass plus one per such level.
//!
//! Hand-written because it pays: against serde_json reading the same values
//! into objects of borrowed `&RawValue` (each object parsed once), it takes
//! 0.45 to 0.73 x the time on the built-ins' and a configured provider's
//! 1 KiB bodies (`benches/pipeline.rs`, group `reader`; BENCHMARKS.md).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::definitions::definition::Pointer;

/// The pointers of one definition, each with its slot in what [`Trie::read`] finds.
#[derive(Debug, Default)]
pub struct Trie {
    root: Node,
    slots: usize,
}

#[derive(Debug, Default)]
struct Node {
    /// Where this node's value goes, when a pointer ends here.
    slot: Option<usize>,
    /// Every slot at or below this node: cleared together when the value at
    /// this node cannot be read, so a half-read object never counts.
    below: Vec<usize>,
    children: Vec<Child>,
}

#[derive(Debug)]
struct Child {
    token: String,
    /// The token as an array index (RFC 6901: digits, no leading zero).
    index: Option<usize>,
    node: Node,
}

/// The text of each pointer's value (`None`: absent), indexed by slot.
pub type Found<'a> = Vec<Option<&'a str>>;

impl Trie {
    /// The slot of `pointer`; the same pointer always gets the same slot.
    pub fn add(&mut self, pointer: &Pointer) -> usize {
        let mut path = vec![];
        let mut node = &mut self.root;
        for token in pointer.tokens() {
            path.push(token.clone());
            let at = match node.children.iter().position(|c| c.token == token) {
                Some(i) => i,
                None => {
                    let index = (token == "0" || !token.starts_with('0'))
                        .then(|| token.parse().ok())
                        .flatten();
                    node.children.push(Child {
                        token,
                        index,
                        node: Node::default(),
                    });
                    node.children.len() - 1
                }
            };
            node = &mut node.children[at].node;
        }
        if let Some(slot) = node.slot {
            return slot;
        }
        let slot = self.slots;
        self.slots += 1;
        node.slot = Some(slot);
        // Record the slot on every node of its path.
        let mut node = &mut self.root;
        node.below.push(slot);
        for token in &path {
            let at = node.children.iter().position(|c| &c.token == token);
            node = &mut node.children[at.expect("just added")].node;
            node.below.push(slot);
        }
        slot
    }

    /// Walks `body`, a JSON document. `Err` when it is not JSON (or repeats a
    /// key some pointer reads, which would make the value ambiguous); below
    /// the top, an unreadable value only leaves its own pointers absent.
    pub fn read<'a>(&self, body: &'a str) -> Result<Found<'a>, serde_json::Error> {
        let mut found = vec![None; self.slots];
        if let Some(slot) = self.root.slot {
            // The whole body: its text without the surrounding whitespace.
            found[slot] = Some(body.trim_matches([' ', '\t', '\n', '\r']));
        }
        walk(&self.root, body, &mut found)?;
        Ok(found)
    }
}

fn walk<'a>(node: &Node, text: &'a str, found: &mut Found<'a>) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_str(text);
    de::Deserializer::deserialize_any(&mut de, NodeVisitor { node, found })?;
    de.end()
}

struct NodeVisitor<'n, 'f, 'a> {
    node: &'n Node,
    found: &'f mut Found<'a>,
}

/// An object that repeats a key some pointer reads: which value counts is ambiguous.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a key the definition reads is repeated")]
struct RepeatedKey;

impl<'a> NodeVisitor<'_, '_, 'a> {
    /// Keeps a child's value; walks it again when longer pointers go through it.
    fn keep(
        &mut self,
        child: &Node,
        raw: &'a RawValue,
        seen: &mut u64,
        at: usize,
    ) -> Result<(), RepeatedKey> {
        // Children past the 64th are not checked for repeats: no definition reads that many keys of one object.
        if at < 64 {
            if *seen & (1 << at) != 0 {
                return Err(RepeatedKey);
            }
            *seen |= 1 << at;
        }
        if let Some(slot) = child.slot {
            self.found[slot] = Some(raw.get());
        }
        if !child.children.is_empty() && walk(child, raw.get(), self.found).is_err() {
            for &slot in &child.below {
                if Some(slot) != child.slot {
                    self.found[slot] = None;
                }
            }
        }
        Ok(())
    }
}

impl<'de, 'n, 'f> Visitor<'de> for NodeVisitor<'n, 'f, 'de> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<M: MapAccess<'de>>(mut self, mut map: M) -> Result<(), M::Error> {
        let mut seen = 0u64;
        while let Some(key) = map.next_key_seed(KeySeed)? {
            let at = self.node.children.iter().position(|c| c.token == key);
            match at {
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
                Some(at) => {
                    let raw: &'de RawValue = map.next_value()?;
                    let child = &self.node.children[at].node;
                    self.keep(child, raw, &mut seen, at)
                        .map_err(de::Error::custom)?;
                }
            }
        }
        Ok(())
    }

    fn visit_seq<S: SeqAccess<'de>>(mut self, mut seq: S) -> Result<(), S::Error> {
        let mut seen = 0u64;
        let mut i = 0usize;
        loop {
            match self.node.children.iter().position(|c| c.index == Some(i)) {
                None => {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        return Ok(());
                    }
                }
                Some(at) => {
                    let Some(raw) = seq.next_element::<&'de RawValue>()? else {
                        return Ok(());
                    };
                    let child = &self.node.children[at].node;
                    self.keep(child, raw, &mut seen, at)
                        .map_err(de::Error::custom)?;
                }
            }
            i += 1;
        }
    }

    // A scalar has nothing below it: the pointers through it are absent.
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// A key, borrowed from the body unless it holds escapes.
struct KeySeed;

impl<'de> DeserializeSeed<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
        d.deserialize_str(KeySeed)
    }
}

impl<'de> Visitor<'de> for KeySeed {
    type Value = Cow<'de, str>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a key")
    }

    fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Borrowed(v))
    }

    fn visit_str<E>(self, v: &str) -> Result<Cow<'de, str>, E> {
        Ok(Cow::Owned(v.to_owned()))
    }
}

/// A value's text as the source grammar reads it: a JSON string's content, a
/// number's or boolean's JSON text; anything else (null, object, array) is absent.
pub fn text_of(raw: &str) -> Option<Cow<'_, str>> {
    match raw.as_bytes().first()? {
        // Read from a parsed body, so the quotes are there: without escapes
        // the content is the text between them.
        b'"' if !raw.contains('\\') => raw.get(1..raw.len() - 1).map(Cow::Borrowed),
        b'"' => serde_json::from_str::<String>(raw).ok().map(Cow::Owned),
        b'-' | b'0'..=b'9' | b't' | b'f' => Some(Cow::Borrowed(raw)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trie(pointers: &[&str]) -> (Trie, Vec<usize>) {
        let mut t = Trie::default();
        let slots = pointers
            .iter()
            .map(|p| t.add(&Pointer::parse(p).unwrap()))
            .collect();
        (t, slots)
    }

    #[test]
    fn each_pointer_finds_the_exact_text_of_its_value() {
        let (t, s) = trie(&[
            "/event", "/data", "/data/id", "/data/n", "/list/1", "/a~1b", "", "/none",
        ]);
        let body =
            r#" {"event":"x","data":{"id":"i-1", "n": 12.50e1},"list":[0,{"k":1}],"a/b":true} "#;
        let found = t.read(body).unwrap();
        assert_eq!(found[s[0]], Some(r#""x""#));
        assert_eq!(found[s[1]], Some(r#"{"id":"i-1", "n": 12.50e1}"#));
        assert_eq!(found[s[2]], Some(r#""i-1""#));
        assert_eq!(found[s[3]], Some("12.50e1"));
        assert_eq!(found[s[4]], Some(r#"{"k":1}"#));
        assert_eq!(found[s[5]], Some("true"));
        assert_eq!(found[s[6]], Some(body.trim()));
        assert_eq!(found[s[7]], None);
        // The same pointer twice is one slot.
        let (_, again) = trie(&["/data", "/data"]);
        assert_eq!(again[0], again[1]);
    }

    #[test]
    fn keys_with_escapes_match_their_unescaped_token() {
        let (t, s) = trie(&["/a\"b"]);
        let found = t.read(r#"{"a\"b":1}"#).unwrap();
        assert_eq!(found[s[0]], Some("1"));
    }

    #[test]
    fn not_json_or_a_repeated_key_at_the_top_is_an_error() {
        let (t, _) = trie(&["/event"]);
        assert!(t.read("{\"event\":").is_err());
        assert!(t.read(r#"{"event":"a","event":"b"}"#).is_err());
        // Repeats of keys nobody reads do not matter.
        assert!(t.read(r#"{"x":1,"x":2,"event":"a"}"#).is_ok());
    }

    #[test]
    fn below_the_top_an_unreadable_object_leaves_only_its_own_pointers_absent() {
        let (t, s) = trie(&["/event", "/data", "/data/id", "/data/status"]);
        let body = r#"{"event":"e","data":{"id":"1","status":"a","status":"b"}}"#;
        let found = t.read(body).unwrap();
        assert_eq!(found[s[0]], Some(r#""e""#));
        assert!(found[s[1]].is_some(), "data itself is kept whole");
        assert_eq!((found[s[2]], found[s[3]]), (None, None));
    }

    #[test]
    fn text_follows_the_source_grammar() {
        assert_eq!(text_of(r#""a\u00e9""#).as_deref(), Some("aé"));
        assert_eq!(text_of("-12.5").as_deref(), Some("-12.5"));
        assert_eq!(text_of("false").as_deref(), Some("false"));
        for absent in ["null", "{}", "[1]"] {
            assert_eq!(text_of(absent), None, "{absent}");
        }
    }
}
