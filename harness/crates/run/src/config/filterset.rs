//! The nextest filtersets of harness.toml's levels, checked with nextest's own parser and
//! compiler (`nextest-filtering`, against the workspace's package graph from `cargo
//! metadata --no-deps`) before a run starts anything: a level whose `tests` does not parse, or names
//! a package, binary or test group the workspace does not have, is an input error naming the
//! file, the line and the expression, instead of a nextest failure in the middle of a run.
//! (Parsing alone cannot tell: `ParsedExpr::parse` recovers from most syntax errors.)

use std::{collections::HashSet, path::Path};

use harness_core::run::Level;
use miette::Diagnostic as _;
use nextest_filtering::{
    Filterset, FiltersetKind, KnownGroups, ParseContext, errors::ParseSingleError,
};

use crate::{Config, Error, Result};

/// Checks the filterset of every level of `levels` that has one.
pub(crate) fn check_levels(config: &Config, root: &Path, levels: &[Level]) -> Result<()> {
    let exprs: Vec<(Level, &str, Option<usize>)> = levels
        .iter()
        .filter_map(|l| {
            let c = config.run.levels.get(l)?;
            Some((*l, c.tests.as_deref()?, c.tests_line))
        })
        .collect();
    check(
        root,
        exprs.iter().map(|(level, expr, line)| {
            (
                *expr,
                &config.path,
                *line,
                format!("[run.levels.{level}] tests"),
            )
        }),
    )
}

/// Checks filtersets found in other files (a defects catalogue's checks): each with the
/// file and line it is written at.
pub(crate) fn check_exprs<'a>(
    root: &Path,
    exprs: impl Iterator<Item = (&'a str, &'a std::path::PathBuf, Option<usize>)>,
) -> Result<()> {
    check(root, exprs.map(|(e, p, l)| (e, p, l, "tests".to_owned())))
}

fn check<'a>(
    root: &Path,
    exprs: impl Iterator<Item = (&'a str, &'a std::path::PathBuf, Option<usize>, String)>,
) -> Result<()> {
    let exprs: Vec<_> = exprs.collect();
    if exprs.is_empty() {
        return Ok(());
    }
    // The workspace's own packages and targets are what a filterset names; `--no-deps` reads
    // them without resolving (or downloading) any dependency.
    let graph = guppy::MetadataCommand::new()
        .current_dir(root)
        .no_deps()
        .build_graph()
        .map_err(|e| {
            Error::Usage(format!(
                "cargo metadata in {} (to check the nextest filtersets): {e}",
                root.display()
            ))
        })?;
    let cx = ParseContext::new(&graph);
    let groups = KnownGroups::Known {
        custom_groups: test_groups(root),
    };
    for (expr, path, line, what) in exprs {
        if let Err(e) = Filterset::parse(expr.to_owned(), &cx, FiltersetKind::Test, &groups) {
            let why = e
                .errors
                .iter()
                .map(|e| describe(expr, e))
                .collect::<Vec<_>>()
                .join("; ");
            return Err(Error::Config {
                path: path.clone(),
                line,
                message: format!(
                    "{what} = {expr:?} is not a nextest filterset of this workspace: {why}"
                ),
            });
        }
    }
    Ok(())
}

/// The test groups of the workspace's `.config/nextest.toml` (`group(name)` may name them).
fn test_groups(root: &Path) -> HashSet<String> {
    std::fs::read_to_string(root.join(".config/nextest.toml"))
        .ok()
        .and_then(|text| text.parse::<toml::Table>().ok())
        .and_then(|t| t.get("test-groups").and_then(|g| g.as_table()).cloned())
        .map(|groups| groups.keys().cloned().collect())
        .unwrap_or_default()
}

/// One error as text: nextest's message, its label and the column it points at.
fn describe(expr: &str, error: &ParseSingleError) -> String {
    let mut text = error.to_string();
    if let Some(label) = error.labels().and_then(|mut l| l.next()) {
        let column = expr
            .get(..label.offset().min(expr.len()))
            .map_or(1, |before| before.chars().count() + 1);
        match label.label() {
            Some(what) => text.push_str(&format!(" at column {column} ({what})")),
            None => text.push_str(&format!(" at column {column}")),
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(expr: &str) -> Result<()> {
        let root =
            harness_core::workspace::find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        let text = format!(
            "[run.levels.unit]\ntests = {}\n",
            toml::Value::String(expr.to_owned())
        );
        let config = Config::parse(&text, &root.join("harness.toml")).unwrap();
        check_levels(&config, &root, &[Level::Unit])
    }

    #[test]
    fn filtersets_are_checked_with_nextests_parser_against_the_workspace() {
        check("package(orders) | package(payments)").unwrap();
        check("binary_id(harness-run::run_fixtures) & test(=passes)").unwrap();
        for (expr, says) in [
            ("package((", "column"),
            ("test(a) & ", "column"),
            ("tset(a)", "column 1"),
            ("package(no-such-package)", "no packages matched"),
        ] {
            let e = check(expr).unwrap_err();
            let text = e.to_string();
            assert_eq!(e.exit_code(), 2, "{text}");
            assert!(text.contains(says), "{expr}: {text}");
            assert!(text.contains("harness.toml:2:"), "{expr}: {text}");
            assert!(text.contains(&format!("{expr:?}")), "{expr}: {text}");
        }
    }
}
