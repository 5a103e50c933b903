//! Log lines on stdout in the shape of Ryuk's (Go's `slog` text handler), one per event:
//! `level=INFO msg="client connected" address=172.17.0.1:40312 clients=1`.
//!
//! Values with spaces, quotes, `=` or control characters are quoted. There is no `time=`
//! field: the engine timestamps container output (`docker logs -t`).

use std::{
    fmt::{self, Display, Write as _},
    io::Write as _,
    sync::atomic::{AtomicBool, Ordering},
};

static VERBOSE: AtomicBool = AtomicBool::new(false);

/// Turns `level=DEBUG` lines on (`RYUK_VERBOSE`).
pub(crate) fn set_verbose(verbose: bool) {
    VERBOSE.store(verbose, Ordering::Relaxed);
}

/// One field of a log line.
pub(crate) type Field<'a> = (&'a str, &'a dyn Display);

pub(crate) fn debug(msg: &str, fields: &[Field<'_>]) {
    if VERBOSE.load(Ordering::Relaxed) {
        write("DEBUG", msg, fields);
    }
}

pub(crate) fn info(msg: &str, fields: &[Field<'_>]) {
    write("INFO", msg, fields);
}

pub(crate) fn warn(msg: &str, fields: &[Field<'_>]) {
    write("WARN", msg, fields);
}

pub(crate) fn error(msg: &str, fields: &[Field<'_>]) {
    write("ERROR", msg, fields);
}

fn write(level: &str, msg: &str, fields: &[Field<'_>]) {
    let line = format_line(level, msg, fields);
    // Nowhere to report a closed stdout to; the reaper's work matters more than its log.
    let _ = std::io::stdout().lock().write_all(line.as_bytes());
}

fn format_line(level: &str, msg: &str, fields: &[Field<'_>]) -> String {
    let mut line = format!("level={level} msg={}", Quoted(msg));
    for (key, value) in fields {
        let value = value.to_string();
        let _ = write!(line, " {key}={}", Quoted(&value));
    }
    line.push('\n');
    line
}

/// A value, quoted (Rust's escapes, close to Go's `strconv.Quote`) when `slog` would quote it.
struct Quoted<'a>(&'a str);

impl Display for Quoted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let needs_quotes = self.0.is_empty()
            || self
                .0
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '=');
        if needs_quotes {
            write!(f, "{:?}", self.0)
        } else {
            f.write_str(self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_like_slog() {
        assert_eq!(
            format_line(
                "INFO",
                "client connected",
                &[("address", &"127.0.0.1:5"), ("clients", &1)]
            ),
            "level=INFO msg=\"client connected\" address=127.0.0.1:5 clients=1\n"
        );
        assert_eq!(
            format_line("INFO", "Started", &[("address", &"0.0.0.0:8080")]),
            "level=INFO msg=Started address=0.0.0.0:8080\n"
        );
        assert_eq!(
            format_line(
                "INFO",
                "adding filter",
                &[("values", &"[a=b c]"), ("empty", &"")]
            ),
            "level=INFO msg=\"adding filter\" values=\"[a=b c]\" empty=\"\"\n"
        );
        assert_eq!(
            format_line("ERROR", "x", &[("error", &"say \"hi\"\n")]),
            "level=ERROR msg=x error=\"say \\\"hi\\\"\\n\"\n"
        );
    }
}
