//! Filter lines: what a client sends, one URL query string per line.
//!
//! Ryuk reads each line with Go's `url.ParseQuery`: pairs separated by `&`, split at the first
//! `=`, `+` and `%XX` decoded. The decoding here is `form_urlencoded`'s; the two checks it does
//! not make (Go refuses `;` in a pair and malformed `%` escapes) are made first, so a line Go
//! refuses is refused here too. Like Ryuk, a refused line adds nothing (but is still ACKed).
//!
//! One line is one [`FilterSet`]: the Docker list filters of one client request, which the
//! engine ANDs (`label=a&label=b` matches resources carrying both labels). Values are kept in
//! sets, so the same line twice, or with its pairs in another order, is the same set — Ryuk
//! keys its sets by their JSON encoding, a map of sets, to the same effect.

use std::{
    collections::{BTreeMap, BTreeSet, HashMap},
    fmt,
};

/// Why a line is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum FilterError {
    /// Go's `url.ParseQuery` refuses `;` (it was a separator once).
    Semicolon,
    /// A `%` not followed by two hex digits (Go's `EscapeError`); holds the bad escape.
    BadEscape(String),
    /// Nothing but `&`s: an empty filter matches every resource on the engine, so it is
    /// refused (Ryuk would accept it and remove everything but itself).
    Empty,
}

impl fmt::Display for FilterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Semicolon => f.write_str("invalid semicolon separator in query"),
            Self::BadEscape(escape) => write!(f, "invalid URL escape {escape:?}"),
            Self::Empty => f.write_str("no filter in line (it would match every resource)"),
        }
    }
}

impl std::error::Error for FilterError {}

/// The filters of one line: filter name (`label`, `name`, ...) to its values.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct FilterSet(BTreeMap<String, BTreeSet<String>>);

impl FilterSet {
    /// Parses one line (without its line ending) as Go's `url.ParseQuery` would.
    pub(crate) fn parse(line: &[u8]) -> Result<Self, FilterError> {
        for pair in line.split(|&b| b == b'&') {
            if pair.contains(&b';') {
                return Err(FilterError::Semicolon);
            }
            check_escapes(pair)?;
        }
        let mut set = Self::default();
        for (name, value) in form_urlencoded::parse(line) {
            set.0
                .entry(name.into_owned())
                .or_default()
                .insert(value.into_owned());
        }
        if set.0.is_empty() {
            return Err(FilterError::Empty);
        }
        Ok(set)
    }

    /// Filter names with their values, in name order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &BTreeSet<String>)> {
        self.0.iter().map(|(name, values)| (name.as_str(), values))
    }

    /// The filters in the shape bollard's list options take.
    pub(crate) fn to_docker(&self) -> HashMap<String, Vec<String>> {
        self.0
            .iter()
            .map(|(name, values)| (name.clone(), values.iter().cloned().collect()))
            .collect()
    }
}

/// `name=[value value]`, space-separated, for logs.
impl fmt::Display for FilterSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, (name, values)) in self.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{name}={}", ListDisplay(values))?;
        }
        Ok(())
    }
}

/// Values as Go prints a `[]string`: `[a b c]`.
pub(crate) struct ListDisplay<'a>(pub(crate) &'a BTreeSet<String>);

impl fmt::Display for ListDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, value) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            f.write_str(value)?;
        }
        f.write_str("]")
    }
}

/// Every `%` must start a `%XX` escape (Go's `unescape` in query mode).
fn check_escapes(pair: &[u8]) -> Result<(), FilterError> {
    for (i, _) in pair.iter().enumerate().filter(|&(_, &b)| b == b'%') {
        let escape = pair.get(i + 1..i + 3);
        if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
            let end = (i + 3).min(pair.len());
            return Err(FilterError::BadEscape(
                String::from_utf8_lossy(&pair[i..end]).into_owned(),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(pairs: &[(&str, &[&str])]) -> FilterSet {
        FilterSet(
            pairs
                .iter()
                .map(|(name, values)| {
                    (
                        (*name).to_owned(),
                        values.iter().map(|v| (*v).to_owned()).collect(),
                    )
                })
                .collect(),
        )
    }

    fn parse(line: &str) -> Result<FilterSet, FilterError> {
        FilterSet::parse(line.as_bytes())
    }

    #[test]
    fn splits_pairs_at_the_first_equals_sign() {
        assert_eq!(
            parse("label=a=b&label=c").unwrap(),
            set(&[("label", &["a=b", "c"])])
        );
        assert_eq!(
            parse("label=dev.harness.run=abc123&label=dev.harness.managed=true").unwrap(),
            set(&[(
                "label",
                &["dev.harness.managed=true", "dev.harness.run=abc123"]
            )])
        );
        assert_eq!(
            parse("label=x&name=y").unwrap(),
            set(&[("label", &["x"]), ("name", &["y"])])
        );
        // A pair without `=` has an empty value; empty pairs are skipped, as in Go.
        assert_eq!(parse("label").unwrap(), set(&[("label", &[""])]));
        assert_eq!(parse("&label=a&&").unwrap(), set(&[("label", &["a"])]));
    }

    #[test]
    fn decodes_percent_escapes_and_plus() {
        assert_eq!(
            parse("label=dev.harness.run%3Dabc%20123").unwrap(),
            set(&[("label", &["dev.harness.run=abc 123"])])
        );
        assert_eq!(
            parse("label=a+b%2Bc").unwrap(),
            set(&[("label", &["a b+c"])])
        );
        assert_eq!(parse("%6Cabel=%C3%A9").unwrap(), set(&[("label", &["é"])]));
    }

    #[test]
    fn the_same_filters_are_one_set() {
        let sets: BTreeSet<FilterSet> = [
            "label=a=b&label=c",
            "label=a=b&label=c",
            "label=c&label=a=b",
            "label=c&label=a=b&label=c",
            "label=a%3Db&label=c",
        ]
        .into_iter()
        .map(|line| parse(line).unwrap())
        .collect();
        assert_eq!(sets.len(), 1, "{sets:?}");
        assert_ne!(parse("label=a").unwrap(), parse("label=a&label=b").unwrap());
    }

    #[test]
    fn refuses_what_go_refuses() {
        assert_eq!(parse("label=a;b"), Err(FilterError::Semicolon));
        assert_eq!(parse("label=a&b;c=d"), Err(FilterError::Semicolon));
        assert_eq!(
            parse("label=%zz"),
            Err(FilterError::BadEscape("%zz".into()))
        );
        assert_eq!(
            parse("label=abc%4"),
            Err(FilterError::BadEscape("%4".into()))
        );
        assert_eq!(parse("label=abc%"), Err(FilterError::BadEscape("%".into())));
        assert_eq!(
            parse("la%Gbel=a"),
            Err(FilterError::BadEscape("%Gb".into()))
        );
        // One bad pair spoils the line: Ryuk adds nothing of it.
        assert!(parse("label=ok&label=%x").is_err());
    }

    #[test]
    fn refuses_lines_without_filters() {
        assert_eq!(parse(""), Err(FilterError::Empty));
        assert_eq!(parse("&"), Err(FilterError::Empty));
        assert_eq!(parse("&&&"), Err(FilterError::Empty));
    }

    #[test]
    fn converts_to_docker_filters() {
        let filters = parse("label=b&label=a&name=n").unwrap().to_docker();
        assert_eq!(
            filters,
            HashMap::from([
                ("label".to_owned(), vec!["a".to_owned(), "b".to_owned()]),
                ("name".to_owned(), vec!["n".to_owned()]),
            ])
        );
    }

    #[test]
    fn displays_like_go() {
        assert_eq!(
            parse("label=a=b&label=c&name=n").unwrap().to_string(),
            "label=[a=b c] name=[n]"
        );
    }
}
