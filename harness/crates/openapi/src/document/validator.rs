//! Compiled validators: each schema of the document is compiled once, on JSON Schema draft
//! 2020-12 with format checks, and with the document's components beside it so that its
//! `#/components/...` references resolve. No file or HTTP resolver is involved: a schema's
//! `$ref`s are checked to point inside the document before it is compiled.

use std::sync::Arc;

use jsonschema::{Draft, Validator};
use serde_json::{Map, Value};

/// Compiles a 2020-12 schema with format checks and no external resolution.
pub(crate) fn compile(schema: &Value) -> Result<Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
}

/// Compiles a schema of the document, `components` (the document's, or `null`) beside it.
/// Err: why it cannot be compiled.
pub(super) fn schema_validator(
    schema: &Value,
    components: &Value,
) -> Result<Arc<Validator>, String> {
    let mut wrapped = match schema {
        Value::Object(m) => m.clone(),
        Value::Bool(b) => {
            let mut m = Map::new();
            if !b {
                m.insert("not".into(), Value::Object(Map::new()));
            }
            m
        }
        _ => return Err("a schema must be an object or a boolean".to_owned()),
    };
    if !components.is_null() {
        wrapped.insert("components".into(), components.clone());
    }
    compile(&Value::Object(wrapped))
        .map(Arc::new)
        .map_err(|e| format!("invalid schema: {e}"))
}
