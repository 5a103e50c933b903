//! Data from JSON Schemas: proptest strategies for schema-valid values (so failures
//! shrink), values built from the document's examples, and mutations that make a valid
//! value invalid (a required field removed, a value retyped, a bound crossed).
//!
//! Written here because no maintained crate turns a JSON Schema (2020-12, with `$ref`s
//! into an OpenAPI document) into proptest strategies. Generated strings mix plain ASCII
//! with unusual characters (NUL, right-to-left override, emoji, quotes, `%`, `/`), which are
//! schema-valid yet often mishandled.

use std::collections::BTreeSet;

use proptest::{
    prelude::*,
    sample::{Index, select},
};
use serde_json::{Map, Number, Value, json};

/// Recursion stops here (recursive schemas); deeper values are the smallest valid ones.
const MAX_DEPTH: u32 = 6;

/// The string formats generated as such (and broken on purpose); others are plain strings.
const GENERATED_FORMATS: &[&str] = &[
    "uuid",
    "date-time",
    "date",
    "email",
    "uri",
    "hostname",
    "ipv4",
    "ipv6",
    "time",
    "duration",
];

/// Follows a schema's `$ref`s into the document.
pub(crate) fn resolve<'a>(root: &'a Value, mut schema: &'a Value) -> &'a Value {
    for _ in 0..16 {
        match schema
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
        {
            Some(target) => match root.pointer(target) {
                Some(s) => schema = s,
                None => return schema,
            },
            None => return schema,
        }
    }
    schema
}

/// The types a schema allows (all when it names none).
fn types(schema: &Value) -> Vec<&str> {
    match schema.get("type") {
        Some(Value::String(t)) => vec![t.as_str()],
        Some(Value::Array(ts)) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    }
}

fn int(schema: &Value, key: &str) -> Option<i64> {
    schema.get(key).and_then(|v| {
        v.as_i64()
            .or_else(|| v.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
    })
}

fn float(schema: &Value, key: &str) -> Option<f64> {
    schema.get(key).and_then(Value::as_f64)
}

/// The bounds of an integer schema.
fn int_bounds(schema: &Value) -> (i64, i64) {
    let (dmin, dmax) = match schema.get("format").and_then(Value::as_str) {
        Some("int32") => (i64::from(i32::MIN), i64::from(i32::MAX)),
        _ => (i64::MIN / 2, i64::MAX / 2),
    };
    let min = int(schema, "minimum")
        .or_else(|| int(schema, "exclusiveMinimum").map(|m| m.saturating_add(1)))
        .unwrap_or(dmin);
    let max = int(schema, "maximum")
        .or_else(|| int(schema, "exclusiveMaximum").map(|m| m.saturating_sub(1)))
        .unwrap_or(dmax);
    (min, max.max(min))
}

fn unusual_char() -> impl Strategy<Value = char> {
    select(vec![
        '\0', '\u{202e}', '🦀', 'é', 'ß', '\n', '\t', '"', '\'', '\\', '/', '%', '?', '#', '&',
        ' ', '<',
    ])
}

fn plain_char() -> impl Strategy<Value = char> {
    prop_oneof![
        8 => proptest::char::range('a', 'z'),
        2 => proptest::char::range('A', 'Z'),
        2 => proptest::char::range('0', '9'),
        1 => Just('-'),
        1 => unusual_char(),
    ]
}

fn string_strategy(schema: &Value) -> BoxedStrategy<Value> {
    let min = int(schema, "minLength").unwrap_or(0).max(0) as usize;
    let max = int(schema, "maxLength")
        .map(|m| m.max(0) as usize)
        .unwrap_or(min + 24)
        .max(min);
    let max = max.min(min + 64);
    match schema.get("format").and_then(Value::as_str) {
        Some("uuid") => any::<u128>()
            .prop_map(|n| Value::String(uuid::Uuid::from_u128(n).to_string()))
            .boxed(),
        Some("date-time") => (0i64..4_102_444_800)
            .prop_map(|secs| {
                let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
                Value::String(t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            })
            .boxed(),
        Some("date") => (0i64..4_102_444_800)
            .prop_map(|secs| {
                let t = chrono::DateTime::from_timestamp(secs, 0).unwrap_or_default();
                Value::String(t.format("%Y-%m-%d").to_string())
            })
            .boxed(),
        Some("email") => "[a-z]{1,8}"
            .prop_map(|u| Value::String(format!("{u}@example.com")))
            .boxed(),
        Some("uri" | "url") => ("[a-z]{1,8}", "[a-z0-9/]{0,12}")
            .prop_map(|(host, path)| Value::String(format!("https://{host}.example.com/{path}")))
            .boxed(),
        Some("hostname") => "[a-z]{1,8}(\\.[a-z]{1,8}){0,2}"
            .prop_map(Value::String)
            .boxed(),
        Some("ipv4") => any::<[u8; 4]>()
            .prop_map(|b| Value::String(std::net::Ipv4Addr::from(b).to_string()))
            .boxed(),
        Some("ipv6") => any::<[u16; 8]>()
            .prop_map(|s| Value::String(std::net::Ipv6Addr::from(s).to_string()))
            .boxed(),
        Some("time") => (0u32..24, 0u32..60, 0u32..60)
            .prop_map(|(h, m, s)| Value::String(format!("{h:02}:{m:02}:{s:02}Z")))
            .boxed(),
        Some("duration") => (0u32..100, 0u32..24, 0u32..60)
            .prop_map(|(d, h, m)| Value::String(format!("P{d}DT{h}H{m}M")))
            .boxed(),
        _ => {
            let plain = proptest::collection::vec(plain_char(), min..=max)
                .prop_map(|cs| cs.into_iter().collect::<String>());
            match schema.get("pattern").and_then(Value::as_str) {
                None => plain.prop_map(Value::String).boxed(),
                Some(pattern) => {
                    // JSON Schema patterns match anywhere (unanchored): generated strings
                    // are kept when the pattern finds a match. One that anchors both ends
                    // is generated from directly, then held to the lengths.
                    let Ok(re) = regex::Regex::new(pattern) else {
                        return plain.prop_map(Value::String).boxed();
                    };
                    let len_ok =
                        move |s: &String| (min..=max.max(min)).contains(&s.chars().count());
                    if let Some(inner) = pattern.strip_prefix('^').and_then(|p| p.strip_suffix('$'))
                        && let Ok(direct) = proptest::string::string_regex(inner)
                    {
                        return direct
                            .prop_filter("the schema's lengths", len_ok)
                            .prop_map(Value::String)
                            .boxed();
                    }
                    plain
                        .prop_filter("the schema's pattern", move |s| re.is_match(s))
                        .prop_map(Value::String)
                        .boxed()
                }
            }
        }
    }
}

fn integer_strategy(schema: &Value) -> BoxedStrategy<Value> {
    let (min, max) = int_bounds(schema);
    // Boundaries matter most; 0 first, as proptest shrinks towards the first element and
    // the first alternative.
    let mut edges: Vec<i64> = [0, 1, -1, min, max]
        .into_iter()
        .filter(|v| (min..=max).contains(v))
        .collect();
    edges.dedup();
    let low = min.max(-1000).min(max);
    let near = low..=max.min(1000).max(low);
    prop_oneof![
        5 => near,
        2 => select(edges),
        2 => min..=max,
    ]
    .prop_map(|n| Value::Number(n.into()))
    .boxed()
}

fn number_strategy(schema: &Value) -> BoxedStrategy<Value> {
    let min = float(schema, "minimum").unwrap_or(-1e9);
    let max = float(schema, "maximum").unwrap_or(1e9).max(min);
    (min..=max)
        .prop_map(|f| {
            Number::from_f64(f)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        })
        .boxed()
}

/// A strategy for values valid against `schema`.
pub(crate) fn valid(root: &Value, schema: &Value, depth: u32) -> BoxedStrategy<Value> {
    let schema = resolve(root, schema);
    if let Some(c) = schema.get("const") {
        return Just(c.clone()).boxed();
    }
    if let Some(Value::Array(values)) = schema.get("enum")
        && !values.is_empty()
    {
        return select(values.clone()).boxed();
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        let merged = merge_all_of(root, schema, all);
        return valid(root, &merged, depth);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(Value::Array(alts)) = schema.get(key)
            && !alts.is_empty()
        {
            let strategies: Vec<_> = alts.iter().map(|a| valid(root, a, depth + 1)).collect();
            return proptest::strategy::Union::new(strategies).boxed();
        }
    }
    let mut ts = types(schema);
    if ts.is_empty() {
        ts = if schema.get("properties").is_some() {
            vec!["object"]
        } else if schema.get("items").is_some() {
            vec!["array"]
        } else {
            vec!["string", "integer", "boolean"]
        };
    }
    let per_type: Vec<(u32, BoxedStrategy<Value>)> = ts
        .iter()
        .map(|t| {
            // `null` is allowed but rare: most of the interest is in the real values.
            let weight = if *t == "null" && ts.len() > 1 { 1 } else { 4 };
            (weight, typed(root, schema, t, depth))
        })
        .collect();
    if per_type.len() == 1 {
        return per_type
            .into_iter()
            .next()
            .map(|(_, s)| s)
            .unwrap_or_else(|| Just(Value::Null).boxed());
    }
    proptest::strategy::Union::new_weighted(per_type).boxed()
}

fn typed(root: &Value, schema: &Value, ty: &str, depth: u32) -> BoxedStrategy<Value> {
    match ty {
        "null" => Just(Value::Null).boxed(),
        "boolean" => any::<bool>().prop_map(Value::Bool).boxed(),
        "integer" => integer_strategy(schema),
        "number" => number_strategy(schema),
        "string" => string_strategy(schema),
        "array" => {
            let min = int(schema, "minItems").unwrap_or(0).max(0) as usize;
            let max = int(schema, "maxItems")
                .map(|m| m.max(0) as usize)
                .unwrap_or(min + 4)
                .max(min);
            let max = if depth >= MAX_DEPTH {
                min
            } else {
                max.min(min + 6)
            };
            let items = schema.get("items").cloned().unwrap_or(json!({}));
            proptest::collection::vec(valid(root, &items, depth + 1), min..=max)
                .prop_map(Value::Array)
                .boxed()
        }
        _ => object_strategy(root, schema, depth),
    }
}

fn object_strategy(root: &Value, schema: &Value, depth: u32) -> BoxedStrategy<Value> {
    let required: BTreeSet<&str> = schema
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    let mut fields: Vec<BoxedStrategy<Option<(String, Value)>>> = Vec::new();
    if let Some(Value::Object(props)) = schema.get("properties") {
        for (name, sub) in props {
            let name = name.clone();
            let s = valid(root, sub, depth + 1);
            if required.contains(name.as_str()) {
                fields.push(s.prop_map(move |v| Some((name.clone(), v))).boxed());
            } else if depth < MAX_DEPTH {
                fields.push(
                    proptest::option::of(s)
                        .prop_map(move |v| v.map(|v| (name.clone(), v)))
                        .boxed(),
                );
            }
        }
    }
    fields
        .prop_map(|fields| Value::Object(fields.into_iter().flatten().collect::<Map<_, _>>()))
        .boxed()
}

/// The subschemas of an `allOf` merged into one (properties and `required` joined).
fn merge_all_of(root: &Value, schema: &Value, all: &[Value]) -> Value {
    let mut merged = schema.as_object().cloned().unwrap_or_default();
    merged.remove("allOf");
    for sub in all {
        let sub = resolve(root, sub);
        let Value::Object(sub) = sub else { continue };
        for (k, v) in sub {
            match (k.as_str(), merged.get_mut(k)) {
                ("properties", Some(Value::Object(p))) => {
                    if let Value::Object(more) = v {
                        p.extend(more.clone());
                    }
                }
                ("required", Some(Value::Array(r))) => {
                    if let Value::Array(more) = v {
                        r.extend(more.iter().cloned());
                    }
                }
                (_, None) => {
                    merged.insert(k.clone(), v.clone());
                }
                _ => {}
            }
        }
    }
    Value::Object(merged)
}

/// A value made of the document's examples: the schema's own `example`, else an object of
/// its properties' examples (required ones, and optional ones that have an example).
/// None when the examples do not give a whole value.
pub(crate) fn from_examples(root: &Value, schema: &Value, depth: u32) -> Option<Value> {
    let schema = resolve(root, schema);
    if let Some(e) = schema
        .get("example")
        .or_else(|| schema.get("examples").and_then(|e| e.get(0)))
    {
        return Some(e.clone());
    }
    if depth > MAX_DEPTH {
        return None;
    }
    if let Some(Value::Array(values)) = schema.get("enum") {
        return values.first().cloned();
    }
    if let Some(Value::Array(all)) = schema.get("allOf") {
        return from_examples(root, &merge_all_of(root, schema, all), depth);
    }
    if let Some(alt) = schema
        .get("oneOf")
        .or_else(|| schema.get("anyOf"))
        .and_then(|a| a.get(0))
    {
        return from_examples(root, alt, depth + 1);
    }
    let ts = types(schema);
    if ts.contains(&"array") || (ts.is_empty() && schema.get("items").is_some()) {
        let min = int(schema, "minItems").unwrap_or(1).max(1) as usize;
        let item = from_examples(root, schema.get("items")?, depth + 1)?;
        return Some(Value::Array(vec![item; min]));
    }
    if ts.contains(&"object") || (ts.is_empty() && schema.get("properties").is_some()) {
        let required: BTreeSet<&str> = schema
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let mut out = Map::new();
        if let Some(Value::Object(props)) = schema.get("properties") {
            for (name, sub) in props {
                match from_examples(root, sub, depth + 1) {
                    Some(v) => {
                        out.insert(name.clone(), v);
                    }
                    None if required.contains(name.as_str()) => return None,
                    None => {}
                }
            }
        }
        return Some(Value::Object(out));
    }
    None
}

/// Every place in `value` (valid against `schema`) where a mutation can make it invalid:
/// what the mutation did (for the report) and the mutated value.
pub(crate) fn mutations(root: &Value, schema: &Value, value: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    collect_mutations(root, schema, value, "", &mut out, 0);
    out.into_iter()
        .map(|(description, path, replacement)| {
            let mut v = value.clone();
            apply(&mut v, &path, replacement);
            (description, v)
        })
        .collect()
}

/// A path step: a key or an index.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

type Found = (String, Vec<Step>, Option<Value>);

fn collect_mutations(
    root: &Value,
    schema: &Value,
    value: &Value,
    pointer: &str,
    out: &mut Vec<Found>,
    depth: u32,
) {
    let schema = resolve(root, schema);
    if depth > MAX_DEPTH {
        return;
    }
    let here = |out: &mut Vec<Found>, what: String, replacement: Option<Value>| {
        out.push((what, steps(pointer), replacement));
    };
    let ts = types(schema);
    let at = if pointer.is_empty() {
        "the body".to_owned()
    } else {
        pointer.to_owned()
    };
    // A value of a type the schema does not allow.
    let wrong: Option<Value> = if !ts.is_empty() {
        [
            json!("not-a-number"),
            json!(12345),
            json!({"unexpected": true}),
            json!([1, 2]),
            json!(true),
        ]
        .into_iter()
        .find(|candidate| {
            // An integer is a number too.
            !(ts.contains(&json_type(candidate))
                || json_type(candidate) == "integer" && ts.contains(&"number"))
        })
    } else {
        None
    };
    if let Some(w) = wrong {
        here(out, format!("{at} retyped to {}", json_type(&w)), Some(w));
    }
    match value {
        Value::Object(map) => {
            if let Some(Value::Array(req)) = schema.get("required") {
                for r in req.iter().filter_map(Value::as_str) {
                    if map.contains_key(r) {
                        let mut path = steps(pointer);
                        path.push(Step::Key(r.to_owned()));
                        out.push((format!("required {pointer}/{r} removed"), path, None));
                    }
                }
            }
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (k, v) in map {
                    if let Some(sub) = props.get(k) {
                        collect_mutations(root, sub, v, &format!("{pointer}/{k}"), out, depth + 1);
                    }
                }
            }
        }
        Value::Array(items) => {
            if let Some(max) = int(schema, "maxItems")
                && let Some(first) = items.first()
            {
                let n = (max.max(0) as usize + 1).min(10_000);
                here(
                    out,
                    format!("{at} with {n} items (maxItems {max})"),
                    Some(Value::Array(vec![first.clone(); n])),
                );
            }
            if let Some(min) = int(schema, "minItems")
                && min > 0
            {
                here(
                    out,
                    format!("{at} with {} items (minItems {min})", min - 1),
                    Some(Value::Array(
                        items[..(min as usize - 1).min(items.len())].to_vec(),
                    )),
                );
            }
            if let (Some(sub), Some(first)) = (schema.get("items"), items.first()) {
                collect_mutations(root, sub, first, &format!("{pointer}/0"), out, depth + 1);
            }
        }
        Value::Number(_) => {
            if let Some(min) = int(schema, "minimum") {
                here(
                    out,
                    format!("{at} = {} (minimum {min})", min - 1),
                    Some(json!(min - 1)),
                );
            }
            if let Some(max) = int(schema, "maximum") {
                here(
                    out,
                    format!("{at} = {} (maximum {max})", max + 1),
                    Some(json!(max + 1)),
                );
            }
            if let Some(m) = int(schema, "exclusiveMinimum") {
                here(
                    out,
                    format!("{at} = {m} (exclusiveMinimum {m})"),
                    Some(json!(m)),
                );
            }
            if let Some(m) = int(schema, "exclusiveMaximum") {
                here(
                    out,
                    format!("{at} = {m} (exclusiveMaximum {m})"),
                    Some(json!(m)),
                );
            }
            if ts.contains(&"integer") && !ts.contains(&"number") {
                here(
                    out,
                    format!("{at} = 1.5 (not an integer)"),
                    Some(json!(1.5)),
                );
            }
        }
        Value::String(s) => {
            if let Some(max) = int(schema, "maxLength") {
                let n = (max.max(0) as usize + 1).min(100_000);
                here(
                    out,
                    format!("{at} of {n} characters (maxLength {max})"),
                    Some(Value::String("x".repeat(n))),
                );
            }
            if let Some(min) = int(schema, "minLength")
                && min > 0
            {
                let n = min as usize - 1;
                here(
                    out,
                    format!("{at} of {n} characters (minLength {min})"),
                    Some(Value::String(s.chars().take(n).collect())),
                );
            }
            if let Some(format) = schema
                .get("format")
                .and_then(Value::as_str)
                .filter(|f| GENERATED_FORMATS.contains(f))
            {
                here(
                    out,
                    format!("{at} not a {format}"),
                    Some(json!("\u{0}not-valid\u{202e}")),
                );
                // Empty (`?order_id=`) is no uuid, date...: services often read it as "not
                // given".
                if !s.is_empty() {
                    here(
                        out,
                        format!("{at} empty (not a {format})"),
                        Some(Value::String(String::new())),
                    );
                }
            }
            if let Some(pattern) = schema.get("pattern").and_then(Value::as_str)
                && let Ok(re) = regex::Regex::new(pattern)
                && let Some(bad) = ["\u{0}", "", " ", "\u{7f}", "!", "~~~~", "0", "a"]
                    .into_iter()
                    .map(str::to_owned)
                    .find(|c| !re.is_match(c))
            {
                here(
                    out,
                    format!("{at} = {bad:?}, not matching its pattern {pattern}"),
                    Some(Value::String(bad)),
                );
            }
        }
        _ => {}
    }
    if let Some(Value::Array(values)) = schema.get("enum") {
        let bad = match values.first() {
            Some(Value::String(first)) => json!(format!("{first}-unknown")),
            Some(Value::Number(_)) => json!(
                values
                    .iter()
                    .filter_map(Value::as_i64)
                    .max()
                    .unwrap_or(0)
                    .saturating_add(1)
            ),
            Some(Value::Bool(b)) => json!(!b),
            _ => json!("harness-not-in-enum"),
        };
        if !values.contains(&bad) {
            here(out, format!("{at} not among its enum"), Some(bad));
        }
    }
    if let Some(c) = schema.get("const") {
        let bad = match c {
            Value::String(s) => json!(format!("{s}-other")),
            Value::Number(n) => json!(n.as_f64().unwrap_or(0.0) + 1.0),
            Value::Bool(b) => json!(!b),
            _ => json!("harness-not-the-const"),
        };
        here(out, format!("{at} not its const"), Some(bad));
    }
    if let (Some(m), Some(n)) = (
        schema.get("multipleOf").and_then(Value::as_f64),
        value.as_f64(),
    ) && m > 0.0
    {
        let bad = if m.fract() == 0.0 && m > 1.0 {
            json!(n as i64 + 1)
        } else {
            json!(n + m / 2.0)
        };
        here(out, format!("{at} not a multiple of {m}"), Some(bad));
    }
    if let (Some(true), Value::Array(items)) =
        (schema.get("uniqueItems").and_then(Value::as_bool), value)
        && let Some(first) = items.first()
    {
        let mut dup = items.clone();
        dup.insert(0, first.clone());
        here(
            out,
            format!("{at} with a repeated item (uniqueItems)"),
            Some(Value::Array(dup)),
        );
    }
    if let (Some(Value::Bool(false)), Value::Object(map)) =
        (schema.get("additionalProperties"), value)
    {
        let mut more = map.clone();
        more.insert("harness_unexpected".into(), json!(1));
        here(
            out,
            format!("{at} with a property its schema does not allow (additionalProperties: false)"),
            Some(Value::Object(more)),
        );
    }
    if let Some(not) = schema.get("not") {
        // A value the `not` schema describes, when it is simple enough to make.
        let not = resolve(root, not);
        if let Some(bad) = not
            .get("const")
            .cloned()
            .or_else(|| not.get("enum").and_then(|e| e.get(0)).cloned())
        {
            here(
                out,
                format!("{at} = {bad}, which its `not` forbids"),
                Some(bad),
            );
        }
    }
}

/// Every place in `value` (valid against `schema`) where a boundary of a constraint can be
/// put while staying valid, for the coverage phase: lengths and bounds at their limits,
/// each enum member, each optional property left out, and a few strings services choke on
/// (a NUL byte, right-to-left marks, non-ASCII). Callers keep the ones the schema accepts.
pub(crate) fn boundaries(
    root: &Value,
    schema: &Value,
    value: &Value,
    in_json: bool,
) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    collect_boundaries(root, schema, value, "", &mut out, 0, in_json);
    out.into_iter()
        .map(|(description, path, replacement)| {
            let mut v = value.clone();
            apply(&mut v, &path, replacement);
            (description, v)
        })
        .collect()
}

fn collect_boundaries(
    root: &Value,
    schema: &Value,
    value: &Value,
    pointer: &str,
    out: &mut Vec<Found>,
    depth: u32,
    in_json: bool,
) {
    let schema = resolve(root, schema);
    if depth > MAX_DEPTH {
        return;
    }
    let at = if pointer.is_empty() {
        "the value".to_owned()
    } else {
        pointer.to_owned()
    };
    let mut here = |what: String, replacement: Option<Value>| {
        out.push((what, steps(pointer), replacement));
    };
    if let Some(Value::Array(values)) = schema.get("enum") {
        for v in values {
            here(format!("{at} = {v} (enum)"), Some(v.clone()));
        }
        return;
    }
    let ts = types(schema);
    if ts.contains(&"null") && !value.is_null() {
        here(format!("{at} = null"), Some(Value::Null));
    }
    match value {
        Value::Object(map) => {
            let required: BTreeSet<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .map(|r| r.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            if let Some(Value::Object(props)) = schema.get("properties") {
                for (k, sub) in props {
                    let child = format!("{pointer}/{k}");
                    match map.get(k) {
                        Some(v) => {
                            if !required.contains(k.as_str()) {
                                let mut path = steps(pointer);
                                path.push(Step::Key(k.clone()));
                                out.push((format!("optional {child} left out"), path, None));
                            }
                            collect_boundaries(root, sub, v, &child, out, depth + 1, in_json);
                        }
                        None => {
                            // An optional property the base leaves out: given, from its
                            // example.
                            if let Some(v) = from_examples(root, sub, depth + 1) {
                                let mut path = steps(pointer);
                                path.push(Step::Key(k.clone()));
                                out.push((format!("optional {child} given"), path, Some(v)));
                            }
                        }
                    }
                }
            }
        }
        Value::Array(items) => {
            let Some(first) = items.first() else { return };
            for (key, n) in [
                ("minItems", int(schema, "minItems")),
                ("maxItems", int(schema, "maxItems")),
            ] {
                if let Some(n) = n {
                    let n = (n.max(0) as usize).min(1000);
                    here(
                        format!("{at} with {n} items ({key})"),
                        Some(Value::Array(vec![first.clone(); n])),
                    );
                }
            }
            if let Some(sub) = schema.get("items") {
                collect_boundaries(
                    root,
                    sub,
                    first,
                    &format!("{pointer}/0"),
                    out,
                    depth + 1,
                    in_json,
                );
            }
        }
        Value::Number(_) => {
            let (min, max) = int_bounds(schema);
            let mut edges = vec![min, max, 0, 1, -1];
            if ts.contains(&"integer") && int(schema, "minimum").is_none() {
                edges.push(i64::MIN + 1);
            }
            if ts.contains(&"integer") && int(schema, "maximum").is_none() {
                edges.push(i64::MAX);
            }
            edges.sort_unstable();
            edges.dedup();
            for n in edges {
                here(format!("{at} = {n}"), Some(json!(n)));
            }
            // JSON Schema's integers are mathematical: `2.0` is one, and JSON clients send
            // it (in a parameter, text, it is not sent).
            if in_json
                && ts.contains(&"integer")
                && let Some(n) = value.as_i64()
            {
                here(
                    format!("{at} = {n}.0 (a whole number written with a fraction)"),
                    Some(json!(n as f64)),
                );
            }
        }
        Value::String(_) => {
            let min = int(schema, "minLength").unwrap_or(0).max(0) as usize;
            let max = int(schema, "maxLength").map(|m| m.max(0) as usize);
            let format = schema.get("format").and_then(Value::as_str);
            if format.is_some() {
                return; // formats have their own shapes: the generator's values stand
            }
            let mut lengths = vec![min, min + 1];
            if let Some(max) = max {
                lengths.extend([max.saturating_sub(1), max]);
            }
            lengths.sort_unstable();
            lengths.dedup();
            for n in lengths.into_iter().filter(|n| *n <= 10_000) {
                here(
                    format!("{at} of {n} characters"),
                    Some(Value::String("x".repeat(n))),
                );
            }
            for (what, text) in [
                ("a NUL byte", "a\u{0}b"),
                ("a right-to-left override", "a\u{202e}b"),
                ("non-ASCII", "é🦀"),
                ("spaces only", "   "),
                ("a percent sign and a slash", "50%/x"),
            ] {
                here(
                    format!("{at} with {what}"),
                    Some(Value::String(text.to_owned())),
                );
            }
        }
        Value::Bool(b) => here(format!("{at} = {}", !b), Some(Value::Bool(!b))),
        Value::Null => {}
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn steps(pointer: &str) -> Vec<Step> {
    pointer
        .split('/')
        .skip(1)
        .map(|s| match s.parse::<usize>() {
            Ok(i) => Step::Index(i),
            Err(_) => Step::Key(s.to_owned()),
        })
        .collect()
}

/// Replaces (Some) or removes (None) the value at `path`.
fn apply(value: &mut Value, path: &[Step], replacement: Option<Value>) {
    let Some((last, parents)) = path.split_last() else {
        if let Some(r) = replacement {
            *value = r;
        }
        return;
    };
    let mut cur = value;
    for step in parents {
        let next = match (step, cur) {
            (Step::Key(k), Value::Object(m)) => m.get_mut(k),
            (Step::Index(i), Value::Array(a)) => a.get_mut(*i),
            (Step::Key(k), Value::Array(a)) => k.parse::<usize>().ok().and_then(|i| a.get_mut(i)),
            _ => None,
        };
        match next {
            Some(n) => cur = n,
            None => return,
        }
    }
    match (last, cur, replacement) {
        (Step::Key(k), Value::Object(m), Some(r)) => {
            m.insert(k.clone(), r);
        }
        (Step::Key(k), Value::Object(m), None) => {
            m.remove(k);
        }
        (Step::Index(i), Value::Array(a), Some(r)) if *i < a.len() => a[*i] = r,
        (Step::Index(i), Value::Array(a), None) if *i < a.len() => {
            a.remove(*i);
        }
        (Step::Key(k), Value::Array(a), r) => {
            if let Ok(i) = k.parse::<usize>() {
                apply(&mut Value::Array(std::mem::take(a)), &[Step::Index(i)], r);
            }
        }
        _ => {}
    }
}

/// Picks the `index`-th of `n` (for [`Index`] from proptest).
pub(crate) fn pick<T: Clone>(items: &[T], index: &Index) -> Option<T> {
    (!items.is_empty()).then(|| items[index.index(items.len())].clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::test_runner::TestRunner;

    fn root() -> Value {
        json!({"components": {"schemas": {
            "Item": {"type": "object", "required": ["sku", "quantity"], "properties": {
                "sku": {"type": "string", "minLength": 1, "maxLength": 8},
                "quantity": {"type": "integer", "minimum": 1, "maximum": 1000},
                "note": {"type": ["string", "null"]}}},
            "Order": {"type": "object", "required": ["items"], "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Item"}, "minItems": 1, "maxItems": 3}}}
        }}})
    }

    fn validator(root: &Value, name: &str) -> jsonschema::Validator {
        let mut s = json!({"$ref": format!("#/components/schemas/{name}")});
        s["components"] = root["components"].clone();
        crate::document::compile(&s).unwrap()
    }

    #[test]
    fn generated_values_are_valid() {
        let root = root();
        let schema = json!({"$ref": "#/components/schemas/Order"});
        let v = validator(&root, "Order");
        let mut runner = TestRunner::deterministic();
        runner
            .run(&valid(&root, &schema, 0), |value| {
                prop_assert!(v.is_valid(&value), "{value}");
                Ok(())
            })
            .unwrap();
    }

    #[test]
    fn every_mutation_is_invalid_or_caught() {
        let root = root();
        let schema = json!({"$ref": "#/components/schemas/Order"});
        let v = validator(&root, "Order");
        let base = json!({"items": [{"sku": "KB-001", "quantity": 2}]});
        let muts = mutations(&root, &schema, &base);
        assert!(muts.len() >= 8, "{muts:?}");
        for (m, value) in muts {
            assert!(!v.is_valid(&value), "{m} left it valid: {value}");
        }
    }

    #[test]
    fn common_formats_are_generated_valid_and_broken() {
        let root = json!({});
        for format in [
            "uri", "hostname", "ipv4", "ipv6", "time", "duration", "date", "uuid",
        ] {
            let schema = json!({"type": "string", "format": format});
            let v = crate::document::compile(&schema).unwrap();
            let mut runner = TestRunner::deterministic();
            runner
                .run(&valid(&root, &schema, 0), |value| {
                    prop_assert!(v.is_valid(&value), "{format}: {value}");
                    Ok(())
                })
                .unwrap();
            let broken = mutations(&root, &schema, &json!("x"));
            assert!(
                broken
                    .iter()
                    .any(|(m, value)| m.contains(format) && !v.is_valid(value)),
                "{format}: {broken:?}"
            );
        }
    }

    #[test]
    fn examples_build_a_body() {
        let root = json!({"components": {"schemas": {"I": {"type": "object", "required": ["sku"],
            "properties": {"sku": {"type": "string", "example": "KB-001"}, "n": {"type": "integer"}}}}}});
        assert_eq!(
            from_examples(&root, &json!({"$ref": "#/components/schemas/I"}), 0),
            Some(json!({"sku": "KB-001"}))
        );
    }
}
