//! 3.0's schema dialect rewritten to JSON Schema draft 2020-12, so that one validator
//! configuration serves 3.0 and 3.1 documents: `nullable` becomes a `null` type (or an
//! `anyOf` with one), boolean `exclusiveMinimum`/`exclusiveMaximum` become numeric bounds,
//! and the siblings of a `$ref` are dropped (3.0 ignores them).

use serde_json::Value;

/// Rewrites the schemas of a 3.0 document to draft 2020-12.
pub(super) fn convert_30_document(doc: &mut Value) {
    if let Some(Value::Object(schemas)) = doc.pointer_mut("/components/schemas") {
        for s in schemas.values_mut() {
            convert_30_schema(s);
        }
    }
    walk_schema_positions(doc);
}

/// Finds the schemas outside components (parameters, media types, headers).
fn walk_schema_positions(value: &mut Value) {
    let Value::Object(m) = value else {
        if let Value::Array(a) = value {
            for v in a {
                walk_schema_positions(v);
            }
        }
        return;
    };
    for (k, v) in m.iter_mut() {
        match k.as_str() {
            "schema" => convert_30_schema(v),
            "schemas" => {} // components.schemas: converted already
            "example" | "examples" => {}
            _ => walk_schema_positions(v),
        }
    }
}

/// 3.0's schema dialect to 2020-12: `nullable`, boolean exclusive bounds, `$ref` siblings.
fn convert_30_schema(schema: &mut Value) {
    let Value::Object(m) = schema else { return };
    if m.contains_key("$ref") {
        m.retain(|k, _| k == "$ref");
        return;
    }
    for key in ["exclusiveMinimum", "exclusiveMaximum"] {
        let bound = if key == "exclusiveMinimum" {
            "minimum"
        } else {
            "maximum"
        };
        if let Some(Value::Bool(b)) = m.get(key).cloned() {
            m.remove(key);
            if b && let Some(v) = m.remove(bound) {
                m.insert(key.into(), v);
            }
        }
    }
    for key in ["properties", "patternProperties"] {
        if let Some(Value::Object(props)) = m.get_mut(key) {
            for p in props.values_mut() {
                convert_30_schema(p);
            }
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(s) = m.get_mut(key) {
            convert_30_schema(s);
        }
    }
    for key in ["allOf", "anyOf", "oneOf"] {
        if let Some(Value::Array(list)) = m.get_mut(key) {
            for s in list {
                convert_30_schema(s);
            }
        }
    }
    if m.remove("nullable") == Some(Value::Bool(true)) {
        match m.get("type").cloned() {
            Some(Value::String(t)) => {
                m.insert(
                    "type".into(),
                    Value::Array(vec![Value::String(t), "null".into()]),
                );
                if let Some(Value::Array(e)) = m.get_mut("enum")
                    && !e.contains(&Value::Null)
                {
                    e.push(Value::Null);
                }
            }
            _ => {
                let inner = Value::Object(std::mem::take(m));
                m.insert(
                    "anyOf".into(),
                    Value::Array(vec![inner, serde_json::json!({"type": "null"})]),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nullable_and_exclusive_bounds_become_2020_12() {
        let mut s = json!({"type": "integer", "nullable": true, "minimum": 0, "exclusiveMinimum": true,
            "properties": {"a": {"$ref": "#/x", "description": "ignored"}}});
        convert_30_schema(&mut s);
        assert_eq!(
            s,
            json!({"type": ["integer", "null"], "exclusiveMinimum": 0,
                "properties": {"a": {"$ref": "#/x"}}})
        );
        let mut r = json!({"allOf": [{"$ref": "#/a"}], "nullable": true});
        convert_30_schema(&mut r);
        assert_eq!(
            r,
            json!({"anyOf": [{"allOf": [{"$ref": "#/a"}]}, {"type": "null"}]})
        );
    }
}
