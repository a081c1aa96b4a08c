//! Turning an error and its causes into the one line a person reads.
//!
//! Library layers return typed errors whose `Display` describes their own level and whose
//! `source()` leads to the cause; only the window and the command line turn them into text.

/// The error and every cause below it, joined with ": " — the same text `anyhow` prints for
/// `{:#}`, so the window and the command line word a failure alike.
pub fn chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        let part = e.to_string();
        // A level that already quotes its cause (or an empty one) adds nothing.
        if !part.is_empty() && !text.ends_with(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cause = e.source();
    }
    text
}

/// A name (of a model, schedule or optimizer) that is not one of the known ones. Names never
/// fall back silently to a default: a misspelt name is an error that lists the right ones.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {kind} `{name}`; known: {}", .known.join(", "))]
pub struct UnknownName {
    /// What was named, e.g. "schedule".
    pub kind: &'static str,
    /// The name given.
    pub name: String,
    /// The names that are known.
    pub known: Vec<&'static str>,
}

#[cfg(test)]
mod tests {
    use super::{UnknownName, chain};

    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the run")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn every_cause_is_named_once_in_order() {
        let e = Outer(std::io::Error::other("disk full"));
        assert_eq!(chain(&e), "cannot open the run: disk full");
        let plain = std::io::Error::other("alone");
        assert_eq!(chain(&plain), "alone");
    }

    #[test]
    fn an_unknown_name_lists_the_known_ones() {
        let e = UnknownName {
            kind: "schedule",
            name: "linear".into(),
            known: vec!["constant", "step"],
        };
        assert_eq!(
            e.to_string(),
            "unknown schedule `linear`; known: constant, step"
        );
    }
}
