//! A failed request as a `curl` command line that sends it again, byte for byte: what a
//! [`CheckFailure`](harness_core::openapi::CheckFailure) carries for people to reproduce it.
//! Credentials are never written out (the line reads them from `$HARNESS_CREDENTIAL`), and
//! bytes a shell argument cannot hold are quoted or piped in.

use http::{HeaderName, HeaderValue};

use super::send::Built;

/// Quotes for a POSIX shell: `'...'`, or bash's `$'...'` when there are control bytes or
/// bytes that are not UTF-8.
fn shell_quote(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) if !s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') => {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
        _ => {
            let mut out = String::from("$'");
            for &b in bytes {
                match b {
                    b'\'' => out.push_str(r"\'"),
                    b'\\' => out.push_str(r"\\"),
                    0x20..=0x7e => out.push(b as char),
                    _ => out.push_str(&format!("\\x{b:02x}")),
                }
            }
            out.push('\'');
            out
        }
    }
}

/// The request as a runnable `curl` command; credentials come from `$HARNESS_CREDENTIAL`.
/// A body with NUL bytes (which no shell argument can hold) is piped in by `printf`.
pub(super) fn curl(b: &Built, credentials: &[(HeaderName, HeaderValue)]) -> String {
    let mut parts = vec![
        "curl -sS -i".to_owned(),
        format!("-X {}", b.method),
        shell_quote(b.url.as_str().as_bytes()),
    ];
    for (n, v) in &b.headers {
        if credentials.iter().any(|(c, _)| c == n) {
            parts.push(format!("-H \"{n}: $HARNESS_CREDENTIAL\""));
        } else {
            let line = [n.as_str().as_bytes(), b": ", v.as_bytes()].concat();
            parts.push(format!("-H {}", shell_quote(&line)));
        }
    }
    match &b.body {
        Some(body) if body.contains(&0) => {
            parts.push("--data-binary @-".to_owned());
            format!("printf {} | {}", printf_format(body), parts.join(" "))
        }
        Some(body) => {
            parts.push(format!("--data-binary {}", shell_quote(body)));
            parts.join(" ")
        }
        None => parts.join(" "),
    }
}

/// `bytes` as a single-quoted printf format that prints exactly them (octal escapes).
fn printf_format(bytes: &[u8]) -> String {
    let mut out = String::from("'");
    for &b in bytes {
        match b {
            b'%' => out.push_str("%%"),
            b'\\' => out.push_str("\\\\"),
            b'\'' => out.push_str("\\047"),
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\{b:03o}")),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_with_nul_are_piped_through_printf() {
        assert_eq!(printf_format(b"\xff\x00%'\\a"), r"'\377\000%%\047\\a'");
    }

    #[test]
    fn quoting() {
        assert_eq!(shell_quote(b"it's"), r"'it'\''s'");
        assert_eq!(shell_quote(b"\xff\x00a"), r"$'\xff\x00a'");
    }
}
