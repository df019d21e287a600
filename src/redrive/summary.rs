//! What a re-drive did: records read, republished per type, still unrouted
//! or dead-lettered, skipped and why; as text for a person, JSON for a script.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use super::Source;

/// What became of one source record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Published to its routed topic (or, in a dry run, would be), by type.
    Republished(String),
    /// The current definitions still do not route it: it stays.
    StillUnrouted,
    /// The current definitions still cannot read it: it stays.
    StillDeadLetter,
    /// Not considered, and why (`other_provider`, `outside_window`,
    /// `provider_not_defined`, `not_replayable`, `malformed`).
    Skipped(&'static str),
}

#[derive(Debug, Serialize)]
pub struct Summary {
    from: &'static str,
    topic: String,
    group: String,
    dry_run: bool,
    read: u64,
    republished: BTreeMap<String, u64>,
    still_unrouted: u64,
    still_deadletter: u64,
    skipped: BTreeMap<&'static str, u64>,
    /// Why the run stopped early; offsets up to the failure are committed.
    pub failure: Option<String>,
}

impl Summary {
    pub fn new(topic: &str, group: &str, from: Source, dry_run: bool) -> Summary {
        Summary {
            from: match from {
                Source::Unrouted => "unrouted",
                Source::Deadletter => "deadletter",
            },
            topic: topic.to_owned(),
            group: group.to_owned(),
            dry_run,
            read: 0,
            republished: BTreeMap::new(),
            still_unrouted: 0,
            still_deadletter: 0,
            skipped: BTreeMap::new(),
            failure: None,
        }
    }

    pub fn count(&mut self, outcome: &Outcome) {
        self.read += 1;
        match outcome {
            Outcome::Republished(ty) => *self.republished.entry(ty.clone()).or_default() += 1,
            Outcome::StillUnrouted => self.still_unrouted += 1,
            Outcome::StillDeadLetter => self.still_deadletter += 1,
            Outcome::Skipped(why) => *self.skipped.entry(why).or_default() += 1,
        }
    }

    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a summary serialises")
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let verb = if self.dry_run {
            "would republish"
        } else {
            "republished"
        };
        let mut rows: Vec<(String, u64)> = vec![
            ("read".into(), self.read),
            (verb.into(), self.republished.values().sum()),
        ];
        rows.extend(
            self.republished
                .iter()
                .map(|(ty, n)| (format!("  {ty}"), *n)),
        );
        rows.push(("still unrouted".into(), self.still_unrouted));
        rows.push(("still dead-letter".into(), self.still_deadletter));
        rows.push(("skipped".into(), self.skipped.values().sum()));
        rows.extend(self.skipped.iter().map(|(why, n)| (format!("  {why}"), *n)));
        let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0);
        let dry = if self.dry_run { ", dry run" } else { "" };
        writeln!(f, "redrive from {} (group {}){dry}", self.topic, self.group)?;
        for (label, n) in rows {
            writeln!(f, "  {label:<width$} {n:>6}")?;
        }
        if let Some(failure) = &self.failure {
            writeln!(f, "  FAILED: {failure}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_each_record_once_under_what_became_of_it() {
        let mut s = Summary::new(
            "wh.unrouted",
            "wh.unrouted.redrive",
            Source::Unrouted,
            false,
        );
        for o in [
            Outcome::Republished("acme.paid".into()),
            Outcome::Republished("acme.paid".into()),
            Outcome::StillUnrouted,
            Outcome::Skipped("other_provider"),
        ] {
            s.count(&o);
        }
        let json: serde_json::Value = serde_json::from_str(&s.to_json()).unwrap();
        assert_eq!(json["read"], 4);
        assert_eq!(json["republished"]["acme.paid"], 2);
        assert_eq!(json["still_unrouted"], 1);
        assert_eq!(json["skipped"]["other_provider"], 1);
        assert_eq!(json["failure"], serde_json::Value::Null);
        let text = s.to_string();
        let rows: Vec<Vec<&str>> = text
            .lines()
            .map(|l| l.split_whitespace().collect())
            .collect();
        for row in [
            ["republished", "2"],
            ["acme.paid", "2"],
            ["still unrouted", "1"],
        ] {
            let words: Vec<&str> = row.iter().flat_map(|w| w.split(' ')).collect();
            assert!(rows.contains(&words), "{row:?} in {text}");
        }
        let column = |word: &str| text.lines().find(|l| l.contains(word)).unwrap().len();
        assert_eq!(column("republished"), column("acme.paid"), "counts line up");
        assert!(!s.failed());
    }
}
