//! Go's `time.ParseDuration`, for the `RYUK_*_TIMEOUT` variables.
//!
//! Ryuk reads its durations with Go's parser, so clients set values like `10s`, `1m30s`,
//! `1.5h` or `0`. The syntax is small — an optional sign, then one or more decimal numbers
//! each followed by a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`) — and no crate speaks
//! exactly Go's dialect (`humantime` differs, e.g. it wants spaces and has no `us`), so this is
//! a transcription of Go's algorithm, including its rounding of fractions and its overflow
//! limit (`i64::MAX` nanoseconds, about 292 years).

use std::{fmt, time::Duration};

/// Why a string is not a (usable) Go duration. The messages follow Go's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DurationError {
    /// Not the syntax, or too large.
    Invalid(String),
    /// A number without a unit (only `0` may have none).
    MissingUnit(String),
    /// A unit Go does not know.
    UnknownUnit { unit: String, input: String },
    /// Valid for Go, but a timeout cannot be negative.
    Negative(String),
}

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Invalid(input) => write!(f, "invalid duration {input:?}"),
            Self::MissingUnit(input) => write!(f, "missing unit in duration {input:?}"),
            Self::UnknownUnit { unit, input } => {
                write!(f, "unknown unit {unit:?} in duration {input:?}")
            }
            Self::Negative(input) => write!(f, "negative duration {input:?}"),
        }
    }
}

impl std::error::Error for DurationError {}

/// Nanoseconds per unit, as in Go's `unitMap`.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000, // U+00B5 micro sign, U+03BC Greek small letter mu
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60 * 1_000_000_000,
        "h" => 3_600 * 1_000_000_000,
        _ => return None,
    })
}

const LIMIT: u64 = 1 << 63; // Go accumulates in uint64 and checks against 1<<63.

/// Parses `input` like Go's `time.ParseDuration`; negative results are refused.
pub(crate) fn parse(input: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(input.to_owned());
    let (negative, mut s) = match input.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, input.strip_prefix('+').unwrap_or(input)),
    };
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    if s.is_empty() {
        return Err(invalid());
    }

    let mut total: u64 = 0;
    while !s.is_empty() {
        // The integer part: [0-9]*
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut value: u64 = 0;
        for b in s[..digits].bytes() {
            value = value
                .checked_mul(10)
                .and_then(|v| v.checked_add(u64::from(b - b'0')))
                .filter(|&v| v <= LIMIT)
                .ok_or_else(invalid)?;
        }
        let had_integer = digits > 0;
        s = &s[digits..];

        // The fraction: (\.[0-9]*)? — digits beyond what fits are ignored, as in Go.
        let (mut fraction, mut scale, mut had_fraction) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for b in rest[..digits].bytes() {
                if overflow || fraction > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let next = fraction * 10 + u64::from(b - b'0');
                if next > LIMIT {
                    overflow = true;
                    continue;
                }
                fraction = next;
                scale *= 10.0;
            }
            had_fraction = digits > 0;
            s = &rest[digits..];
        }
        if !had_integer && !had_fraction {
            return Err(invalid());
        }

        // The unit: everything up to the next digit or period.
        let unit_len = s
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(s.len());
        if unit_len == 0 {
            return Err(DurationError::MissingUnit(input.to_owned()));
        }
        let (unit, rest) = s.split_at(unit_len);
        s = rest;
        let nanos = unit_nanos(unit).ok_or_else(|| DurationError::UnknownUnit {
            unit: unit.to_owned(),
            input: input.to_owned(),
        })?;
        if value > LIMIT / nanos {
            return Err(invalid());
        }
        value *= nanos;
        if fraction > 0 {
            // Go computes this in float64 to stay nanosecond-accurate for fractions of hours.
            let part = (fraction as f64 * (nanos as f64 / scale)) as u64;
            value = value
                .checked_add(part)
                .filter(|&v| v <= LIMIT)
                .ok_or_else(invalid)?;
        }
        total = total
            .checked_add(value)
            .filter(|&v| v <= LIMIT)
            .ok_or_else(invalid)?;
    }
    if negative {
        // Go allows -(1<<63); any non-zero negative value is useless as a timeout anyway.
        return if total == 0 {
            Ok(Duration::ZERO)
        } else {
            Err(DurationError::Negative(input.to_owned()))
        };
    }
    if total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(input: &str) -> Duration {
        parse(input).unwrap_or_else(|e| panic!("{input:?}: {e}"))
    }

    #[test]
    fn parses_go_syntax() {
        let cases: &[(&str, Duration)] = &[
            ("0", Duration::ZERO),
            ("-0", Duration::ZERO),
            ("+0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("10s", Duration::from_secs(10)),
            ("+10s", Duration::from_secs(10)),
            ("1m30s", Duration::from_secs(90)),
            ("1h2m3s4ms5us6ns", Duration::from_nanos(3_723_004_005_006)),
            ("500ms", Duration::from_millis(500)),
            ("1.5h", Duration::from_secs(5400)),
            ("1.5s", Duration::from_millis(1500)),
            ("1.s", Duration::from_secs(1)),
            (".5s", Duration::from_millis(500)),
            ("2us", Duration::from_micros(2)),
            ("2µs", Duration::from_micros(2)),
            ("2μs", Duration::from_micros(2)),
            ("7ns", Duration::from_nanos(7)),
            ("10m", Duration::from_secs(600)),
            ("60s", Duration::from_secs(60)),
            ("1m0s", Duration::from_secs(60)),
            ("3s3s", Duration::from_secs(6)),
            ("00010s", Duration::from_secs(10)),
            // Go truncates fractions beyond nanosecond precision.
            ("1.0000000001s", Duration::from_secs(1)),
            ("0.1234567891s", Duration::from_nanos(123_456_789)),
            (
                "9223372036854775807ns",
                Duration::from_nanos(i64::MAX as u64),
            ),
            (
                "2562047h47m16.854775807s",
                Duration::from_nanos(i64::MAX as u64),
            ),
        ];
        for (input, want) in cases {
            assert_eq!(ok(input), *want, "{input:?}");
        }
    }

    #[test]
    fn rejects_what_go_rejects() {
        for input in [
            "", "-", "+", ".", "-.", ".s", "s", "1", "10", "1.5", "1h2", "1 s", " 1s", "1s ",
        ] {
            assert!(parse(input).is_err(), "{input:?} should be rejected");
        }
        assert_eq!(parse("10"), Err(DurationError::MissingUnit("10".into())));
        assert_eq!(
            parse("3d"),
            Err(DurationError::UnknownUnit {
                unit: "d".into(),
                input: "3d".into()
            })
        );
        assert_eq!(parse("abc"), Err(DurationError::Invalid("abc".into())));
        // Overflow: more than i64::MAX nanoseconds.
        assert_eq!(
            parse("9223372036854775808ns"),
            Err(DurationError::Invalid("9223372036854775808ns".into()))
        );
        assert!(parse("2562048h").is_err());
        assert!(parse("99999999999999999999s").is_err());
        assert!(parse("2562047h2562047h").is_err()); // each fits, the sum does not
    }

    #[test]
    fn refuses_negative_timeouts() {
        assert_eq!(parse("-1s"), Err(DurationError::Negative("-1s".into())));
        assert_eq!(parse("-0s"), Ok(Duration::ZERO));
    }

    #[test]
    fn messages_quote_the_input() {
        assert_eq!(
            parse("x").unwrap_err().to_string(),
            "invalid duration \"x\""
        );
        assert_eq!(
            parse("1").unwrap_err().to_string(),
            "missing unit in duration \"1\""
        );
        assert_eq!(
            parse("1y").unwrap_err().to_string(),
            "unknown unit \"y\" in duration \"1y\""
        );
    }
}
