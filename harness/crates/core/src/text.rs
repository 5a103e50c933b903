//! Text helpers for error messages: line numbers in the files we parse (manifests, recipes)
//! and the tail of a log.

use std::path::Path;

/// The 1-based line of byte `offset` in `text`.
pub fn line_of(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())]
        .bytes()
        .filter(|b| *b == b'\n')
        .count()
        + 1
}

/// The 1-based line where TOML key `key` (bare or quoted) is first set or a table
/// `key` starts (pass `[services.x]` for that).
pub fn line_of_key(text: &str, key: &str) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            l.starts_with(key) || l.starts_with(&quoted)
        })
        .map(|i| i + 1)
}

/// The last `n` of `lines`, joined by newlines.
pub fn tail_lines(lines: &[String], n: usize) -> String {
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// The last `n` lines of a file; `(the log is empty)` when it is empty or unreadable.
pub fn tail_of_file(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let tail = tail_lines(&lines, n);
    if tail.is_empty() {
        "(the log is empty)".to_owned()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_and_tails() {
        let text = "a = 1\n[services.x]\n\"b\" = 2\n";
        assert_eq!(line_of(text, 0), 1);
        assert_eq!(line_of(text, 7), 2);
        assert_eq!(line_of_key(text, "[services.x]"), Some(2));
        assert_eq!(line_of_key(text, "b"), Some(3));
        assert_eq!(line_of_key(text, "zz"), None);
        let lines: Vec<String> = ["1", "2", "3"].map(String::from).to_vec();
        assert_eq!(tail_lines(&lines, 2), "2\n3");
        assert_eq!(tail_lines(&lines, 9), "1\n2\n3");
        assert_eq!(
            tail_of_file(Path::new("/nonexistent/log"), 5),
            "(the log is empty)"
        );
    }
}
