//! pact_matching's mismatches as [`harness_core::contract::Mismatch`]: where, expected,
//! actual, in words a report can show.

use harness_core::contract::{Mismatch, MismatchKind};
use pact_matching::Mismatch as M;
use serde_json::Value;

/// Longest expected or actual value kept (bodies can be large).
const MAX_VALUE: usize = 300;

/// The expected body of an interaction (an HTTP response's, or a message's contents), as
/// JSON when it is JSON: where a mismatch names a missing key, its expected value is read
/// from here.
pub(crate) fn expected_body(expected: &dyn pact_models::interaction::Interaction) -> Option<Value> {
    let bytes = if let Some(http) = expected.as_v4_http() {
        http.response.body.value()
    } else if let Some(message) = expected.as_v4_async_message() {
        message.contents.contents.value()
    } else {
        None
    }?;
    serde_json::from_slice(&bytes).ok()
}

/// One mismatch, or one per key of a "missing the following keys" mismatch.
pub(crate) fn typed(m: &M, expected_body: Option<&Value>) -> Vec<Mismatch> {
    let (kind, path, expected, actual, detail) = match m {
        M::MethodMismatch {
            expected,
            actual,
            mismatch,
        } => (
            MismatchKind::Method,
            String::new(),
            expected.clone(),
            actual.clone(),
            mismatch,
        ),
        M::PathMismatch {
            expected,
            actual,
            mismatch,
        } => (
            MismatchKind::Path,
            String::new(),
            expected.clone(),
            actual.clone(),
            mismatch,
        ),
        M::StatusMismatch {
            expected,
            actual,
            mismatch,
        } => (
            MismatchKind::Status,
            String::new(),
            expected.to_string(),
            actual.to_string(),
            mismatch,
        ),
        M::QueryMismatch {
            parameter,
            expected,
            actual,
            mismatch,
        } => (
            MismatchKind::Query,
            parameter.clone(),
            expected.clone(),
            actual.clone(),
            mismatch,
        ),
        M::HeaderMismatch {
            key,
            expected,
            actual,
            mismatch,
        } => (
            MismatchKind::Header,
            key.clone(),
            expected.clone(),
            actual.clone(),
            mismatch,
        ),
        M::BodyTypeMismatch {
            expected,
            actual,
            mismatch,
            ..
        } => (
            MismatchKind::BodyType,
            String::new(),
            expected.clone(),
            actual.clone(),
            mismatch,
        ),
        M::MetadataMismatch {
            key,
            expected,
            actual,
            mismatch,
        } => (
            MismatchKind::Metadata,
            key.clone(),
            expected.clone(),
            actual.clone(),
            mismatch,
        ),
        M::BodyMismatch {
            path,
            expected,
            actual,
            mismatch,
        } => {
            let expected = expected
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let actual = actual
                .as_deref()
                .map(String::from_utf8_lossy)
                .unwrap_or_default();
            let missing = missing_keys(path, expected_body, mismatch);
            if !missing.is_empty() {
                return missing;
            }
            return vec![Mismatch {
                kind: MismatchKind::Body,
                path: path.clone(),
                expected: shorten(&expected),
                actual: shorten(&actual),
                detail: mismatch.clone(),
            }];
        }
    };
    vec![Mismatch {
        kind,
        path,
        expected: shorten(&expected),
        actual: shorten(&actual),
        detail: detail.clone(),
    }]
}

/// "Actual map is missing the following keys: status, id" at `$` names each missing
/// field at its own path, with its expected value (from the pact) and `(missing)`.
fn missing_keys(path: &str, expected_body: Option<&Value>, detail: &str) -> Vec<Mismatch> {
    let Some(keys) = detail.split("missing the following keys: ").nth(1) else {
        return Vec::new();
    };
    keys.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|key| {
            let value = expected_body
                .and_then(|body| at_path(body, path))
                .and_then(|v| v.get(key))
                .map(Value::to_string)
                .unwrap_or_else(|| "(a value)".to_owned());
            Mismatch {
                kind: MismatchKind::Body,
                path: format!("{path}.{key}"),
                expected: shorten(&value),
                actual: "(missing)".to_owned(),
                detail: detail.to_owned(),
            }
        })
        .collect()
}

/// The value at a simple JSON path such as `$`, `$.items[0].sku`.
fn at_path<'a>(body: &'a Value, path: &str) -> Option<&'a Value> {
    let mut value = body;
    let rest = path.strip_prefix('$')?;
    for part in rest.split('.').filter(|p| !p.is_empty()) {
        let (key, indices) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            value = value.get(key)?;
        }
        for index in indices.split('[').filter(|s| !s.is_empty()) {
            value = value.get(index.trim_end_matches(']').parse::<usize>().ok()?)?;
        }
    }
    Some(value)
}

fn shorten(text: &str) -> String {
    if text.chars().count() <= MAX_VALUE {
        text.to_owned()
    } else {
        let cut: String = text.chars().take(MAX_VALUE).collect();
        format!("{cut}…")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_key_names_its_own_path_and_expected_value() {
        let m = M::BodyMismatch {
            path: "$.items[1]".into(),
            expected: None,
            actual: None,
            mismatch: "Actual map is missing the following keys: status, id".into(),
        };
        let body = serde_json::json!({"items": [{}, {"status": "AUTHORIZED", "id": "p1"}]});
        let t = typed(&m, Some(&body));
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].kind, MismatchKind::Body);
        assert_eq!(t[0].path, "$.items[1].status");
        assert_eq!(t[0].expected, "\"AUTHORIZED\"");
        assert_eq!(t[0].actual, "(missing)");
        assert_eq!(
            (t[1].path.as_str(), t[1].expected.as_str()),
            ("$.items[1].id", "\"p1\"")
        );
    }

    #[test]
    fn statuses_are_numbers_as_text() {
        let t = typed(
            &M::StatusMismatch {
                expected: 201,
                actual: 500,
                mismatch: "expected 201 but was 500".into(),
            },
            None,
        );
        assert_eq!(
            (t[0].expected.as_str(), t[0].actual.as_str()),
            ("201", "500")
        );
        assert_eq!(t[0].kind, MismatchKind::Status);
    }
}
