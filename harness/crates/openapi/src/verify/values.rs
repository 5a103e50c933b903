//! What the requests of an operation carry, before they are built: a value per parameter
//! and the body, taken from the document's examples, generated from the schemas (proptest
//! strategies), or made invalid on purpose (the invalid phase's variants of a valid one).
//! Validity is judged as the service reads a request: parameters off the wire (text that
//! spells a number is one), a raw body by the media type it is sent as.

use proptest::{prelude::*, strategy::ValueTree, test_runner::TestRunner};
use serde_json::Value;

use crate::{
    document::{Location, Operation, Parameter},
    generate::{self, boundaries, from_examples, mutations},
};

/// The values of a request before it is built: one per parameter (None: left out), and
/// the body.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Values {
    pub(super) params: Vec<Option<Value>>,
    pub(super) body: Option<Body>,
    /// Leave the credentials out.
    pub(super) anonymous: bool,
    /// What makes it invalid (invalid phase).
    pub(super) mutation: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Body {
    Json(Value),
    Raw {
        content_type: String,
        bytes: Vec<u8>,
    },
}

/// Strategy for schema-valid values of every parameter and the body.
pub(super) fn valid_strategy(op: &Operation, root: &Value) -> BoxedStrategy<Values> {
    let root = root.clone();
    let params: Vec<BoxedStrategy<Option<Value>>> = op
        .parameters
        .iter()
        .map(|p| {
            let schema = p.schema.clone();
            let param = p.clone();
            // Only values that can be written where the parameter goes.
            let s = generate::valid(&root, &schema, 0)
                .prop_filter("a value that can be sent", move |v| sendable(&param, v));
            if p.required {
                s.prop_map(Some).boxed()
            } else {
                proptest::option::weighted(0.7, s).boxed()
            }
        })
        .collect();
    let body: BoxedStrategy<Option<Body>> = match op
        .body
        .as_ref()
        .and_then(|b| b.json().map(|m| (b.required, m)))
    {
        Some((required, media)) => {
            let schema = media
                .schema
                .clone()
                .unwrap_or(Value::Object(Default::default()));
            let s = generate::valid(&root, &schema, 0).prop_map(Body::Json);
            if required {
                s.prop_map(Some).boxed()
            } else {
                proptest::option::weighted(0.8, s).boxed()
            }
        }
        None => Just(None).boxed(),
    };
    let op = op.clone();
    (params, body)
        .prop_map(|(params, body)| Values {
            params,
            body,
            anonymous: false,
            mutation: None,
        })
        // The generator does not know every keyword (uniqueItems, multipleOf, oneOf's
        // exclusivity): what it makes is held to the schemas themselves.
        .prop_filter("schema-valid", move |v| values_valid(&op, v))
        .boxed()
}

/// The requests the document's examples make (none when it has none): one per example of
/// the body or a parameter (at most 10), each other value taken from its own examples, else
/// generated (with `runner`'s random numbers).
pub(super) fn examples(op: &Operation, root: &Value, runner: &mut TestRunner) -> Vec<Values> {
    let param_examples: Vec<Vec<Value>> = op
        .parameters
        .iter()
        .map(|p| {
            if p.examples.is_empty() {
                from_examples(root, &p.schema, 0).into_iter().collect()
            } else {
                p.examples.clone()
            }
        })
        .collect();
    let media = op.body.as_ref().and_then(|b| b.json());
    let body_examples: Vec<Value> = match media {
        Some(m) if !m.examples.is_empty() => m.examples.clone(),
        Some(m) => m
            .schema
            .as_ref()
            .and_then(|s| from_examples(root, s, 0))
            .into_iter()
            .collect(),
        None => Vec::new(),
    };
    let n = param_examples
        .iter()
        .map(Vec::len)
        .chain([body_examples.len()])
        .max()
        .unwrap_or(0)
        .min(10);
    let mut generated = |schema: &Value| {
        generate::valid(root, schema, 0)
            .new_tree(runner)
            .ok()
            .map(|t| t.current())
    };
    let mut out = Vec::new();
    for i in 0..n {
        let mut params = Vec::new();
        for (p, examples) in op.parameters.iter().zip(&param_examples) {
            params.push(match examples.get(i).or(examples.first()) {
                Some(e) => Some(e.clone()),
                None if p.required => generated(&p.schema),
                None => None,
            });
        }
        let body = match media {
            Some(m) => match body_examples.get(i).or(body_examples.first()) {
                Some(e) => Some(Body::Json(e.clone())),
                None => generated(&m.schema.clone().unwrap_or_default()).map(Body::Json),
            },
            None => None,
        };
        out.push(Values {
            params,
            body,
            anonymous: false,
            mutation: None,
        });
    }
    out
}

/// Every invalid variant of a valid request.
pub(super) fn invalid_variants(op: &Operation, root: &Value, base: &Values) -> Vec<Values> {
    let mut out = Vec::new();
    let with = |f: &dyn Fn(&mut Values), what: String| {
        let mut v = base.clone();
        f(&mut v);
        v.mutation = Some(what);
        v
    };
    for (i, p) in op.parameters.iter().enumerate() {
        if p.required && p.location != Location::Path {
            out.push(with(
                &|v| v.params[i] = None,
                format!("required {} parameter {} left out", loc(p.location), p.name),
            ));
        }
        if let Some(value) = &base.params[i] {
            for (m, mutated) in mutations(root, &p.schema, value) {
                if mutated.is_object() || (mutated.is_array() && p.location != Location::Query) {
                    continue; // cannot be written into a path, header or cookie
                }
                let desc = m.replacen(
                    "the body",
                    &format!("{} parameter {}", loc(p.location), p.name),
                    1,
                );
                out.push(with(&|v| v.params[i] = Some(mutated.clone()), desc));
            }
        }
    }
    if let Some(body) = &op.body {
        if let Some(Body::Json(value)) = &base.body
            && let Some(schema) = body.json().and_then(|m| m.schema.as_ref())
        {
            for (m, mutated) in mutations(root, schema, value) {
                out.push(with(&|v| v.body = Some(Body::Json(mutated.clone())), m));
            }
            let text = serde_json::to_vec(value).unwrap_or_default();
            let cut = text.len() / 2;
            out.push(with(
                &|v| {
                    v.body = Some(Body::Raw {
                        content_type: "application/json".into(),
                        bytes: text[..cut.max(1).min(text.len())].to_vec(),
                    })
                },
                "a body cut in half (not JSON)".into(),
            ));
            out.push(with(
                &|v| {
                    v.body = Some(Body::Raw {
                        content_type: "application/json".into(),
                        bytes: vec![0xff, 0xfe, 0x00, b'{'],
                    })
                },
                "a body of bytes that are not UTF-8".into(),
            ));
            out.push(with(
                &|v| {
                    v.body = Some(Body::Raw {
                        content_type: "text/plain".into(),
                        bytes: text.clone(),
                    })
                },
                "the JSON body sent as text/plain".into(),
            ));
        }
        if body.required {
            out.push(with(
                &|v| v.body = None,
                "the required body left out".into(),
            ));
        }
    }
    out.retain(|v| {
        let sendable_params = op
            .parameters
            .iter()
            .zip(&v.params)
            .all(|(p, value)| value.as_ref().is_none_or(|value| sendable(p, value)));
        sendable_params && !values_valid(op, v)
    });
    out
}

/// The coverage phase's cases for a base request, in a fixed order: every schema-valid
/// boundary of every parameter and of the body (`true`: must be accepted), then every
/// invalid variant (`false`: must be rejected). Duplicates are sent once.
pub(super) fn coverage_cases(op: &Operation, root: &Value, base: &Values) -> Vec<(Values, bool)> {
    let mut valid = Vec::new();
    let with = |f: &dyn Fn(&mut Values), what: String| {
        let mut v = base.clone();
        f(&mut v);
        v.mutation = Some(what);
        v
    };
    for (i, p) in op.parameters.iter().enumerate() {
        let where_ = format!("{} parameter {}", loc(p.location), p.name);
        match &base.params[i] {
            Some(value) => {
                if !p.required {
                    valid.push(with(
                        &|v| v.params[i] = None,
                        format!("optional {where_} left out"),
                    ));
                }
                for (m, changed) in boundaries(root, &p.schema, value, false) {
                    let desc = m.replacen("the value", &where_, 1);
                    valid.push(with(&|v| v.params[i] = Some(changed.clone()), desc));
                }
            }
            None => {
                if let Some(e) = p
                    .examples
                    .first()
                    .cloned()
                    .or_else(|| from_examples(root, &p.schema, 0))
                {
                    valid.push(with(
                        &|v| v.params[i] = Some(e.clone()),
                        format!("optional {where_} given"),
                    ));
                }
            }
        }
    }
    if let (Some(Body::Json(value)), Some(schema)) = (
        &base.body,
        op.body
            .as_ref()
            .and_then(|b| b.json())
            .and_then(|m| m.schema.as_ref()),
    ) {
        for (m, changed) in boundaries(root, schema, value, true) {
            let desc = m.replacen("the value", "the body", 1);
            valid.push(with(&|v| v.body = Some(Body::Json(changed.clone())), desc));
        }
    }
    valid.retain(|v| {
        let sendable_params = op
            .parameters
            .iter()
            .zip(&v.params)
            .all(|(p, value)| value.as_ref().is_none_or(|value| sendable(p, value)));
        sendable_params && values_valid(op, v)
    });
    let mut out: Vec<(Values, bool)> = Vec::new();
    for (v, ok) in valid.into_iter().map(|v| (v, true)).chain(
        invalid_variants(op, root, base)
            .into_iter()
            .map(|v| (v, false)),
    ) {
        if !out
            .iter()
            .any(|(seen, _)| seen.params == v.params && seen.body == v.body)
        {
            out.push((v, ok));
        }
    }
    out
}

fn loc(l: Location) -> &'static str {
    match l {
        Location::Path => "path",
        Location::Query => "query",
        Location::Header => "header",
        Location::Cookie => "cookie",
    }
}

/// Whether every value of a request is valid against its schema (parameters as read off
/// the wire, a raw body by the media type it is sent as).
fn values_valid(op: &Operation, v: &Values) -> bool {
    let params_ok = op
        .parameters
        .iter()
        .zip(&v.params)
        .all(|(p, value)| match value {
            Some(value) => wire_accepts(p, value),
            None => !p.required,
        });
    let body_ok = match (&op.body, &v.body) {
        (Some(b), Some(Body::Json(value))) => b.json().is_some_and(|m| m.accepts(value)),
        (
            Some(b),
            Some(Body::Raw {
                content_type,
                bytes,
            }),
        ) => match crate::conformance::media_match(&b.content, content_type) {
            None => false,
            Some(media) if crate::document::is_json(content_type) => {
                serde_json::from_slice::<Value>(bytes).is_ok_and(|v| media.accepts(&v))
            }
            Some(_) => true,
        },
        (Some(b), None) => !b.required,
        (None, _) => true,
    };
    params_ok && body_ok
}

/// Whether a value can be written where the parameter goes: a path segment that is not
/// empty, `.` or `..` (they would change the route), a header of visible characters.
fn sendable(p: &Parameter, value: &Value) -> bool {
    if value.is_object() || (value.is_array() && p.location != Location::Query) {
        return false;
    }
    let text = scalar_text(value);
    match p.location {
        Location::Path => !matches!(text.as_str(), "" | "." | ".."),
        Location::Header | Location::Cookie => {
            text.chars().all(|c| c == ' ' || c.is_ascii_graphic())
                && http::HeaderValue::from_str(&text).is_ok()
        }
        Location::Query => true,
    }
}

/// Whether a parameter's value, as the service reads it off the wire, is valid: path,
/// query and header values are text, so `12345` for a string parameter is the string
/// "12345", and "7" for an integer parameter is 7.
fn wire_accepts(p: &Parameter, value: &Value) -> bool {
    if value.is_array() || value.is_object() {
        return p.accepts(value);
    }
    wire_readings(&scalar_text(value))
        .iter()
        .any(|r| p.accepts(r))
}

/// The values a text off the wire may stand for: the string itself, and the number or
/// boolean it spells.
pub(crate) fn wire_readings(text: &str) -> Vec<Value> {
    let mut readings = vec![Value::String(text.to_owned())];
    if let Ok(n) = text.parse::<i64>() {
        readings.push(Value::from(n));
    } else if let Ok(f) = text.parse::<f64>()
        && f.is_finite()
    {
        readings.push(Value::from(f));
    }
    if let Ok(b) = text.parse::<bool>() {
        readings.push(Value::Bool(b));
    }
    readings
}

/// A scalar as the text it is sent as (a string as itself, `null` as nothing).
pub(super) fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use proptest::test_runner::{Config, TestRunner};

    use super::*;
    use crate::Document;

    /// The coverage cases of inventory's `POST /reservations`, as the book lists them
    /// (docs/src/contracts-openapi.md): what each case does, and whether it must be accepted.
    #[test]
    fn the_coverage_cases_of_the_sample_reservation() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../../contracts/openapi/inventory.json"
        );
        let doc = Document::from_path(path).unwrap();
        let op = doc.operation("create_reservation").unwrap();
        let mut runner = TestRunner::new(Config::default());
        let base = examples(op, doc.root(), &mut runner).remove(0);
        let cases = coverage_cases(op, doc.root(), &base);
        let listed: Vec<String> = cases
            .iter()
            .map(|(v, valid)| {
                format!(
                    "{} {}",
                    if *valid { "accept" } else { "reject" },
                    v.mutation.as_deref().unwrap_or_default()
                )
            })
            .collect();
        let book = include_str!("../../../../../docs/src/contracts-openapi.md");
        for line in &listed {
            assert!(
                book.contains(&format!("| {} |", line.replacen(' ', " | `", 1) + "`")),
                "the book does not list the coverage case {line:?}; the cases are:\n{}",
                listed.join("\n")
            );
        }
        assert_eq!(cases.len(), 36, "{}", listed.join("\n"));
    }
}
