//! The structural check of a document before its operations are read: 3.0 documents are
//! parsed with `openapiv3`, 3.1 documents validated against the OpenAPI Initiative's schema
//! of 3.1 documents (bundled). Either way the first error comes with the JSON pointer of
//! the value it is about, as deep in the document as it can be placed.

use jsonschema::{Draft, Validator};
use serde_json::Value;

use super::pointer::escape;

/// The OpenAPI Initiative's schema of 3.1 documents (2022-10-07; Apache-2.0), which checks
/// the structure and leaves Schema Objects to the validator of each schema.
const OAS_31_SCHEMA: &str = include_str!("../oas-3.1-schema.json");

/// The first structural error of a 3.0 document: (JSON pointer, message).
pub(super) fn check_30_structure(doc: &Value) -> Option<(String, String)> {
    let e = serde_path_to_error::deserialize::<_, openapiv3::OpenAPI>(doc).err()?;
    Some(refine_30_error(
        doc,
        path_to_pointer(e.path()),
        e.inner().to_string(),
    ))
}

/// The first structural error of a 3.1 document: (JSON pointer, message). The deepest
/// error is reported, since `oneOf`s near the root otherwise say only "not valid".
pub(super) fn check_31_structure(doc: &Value) -> Option<(String, String)> {
    static VALIDATOR: std::sync::OnceLock<Option<Validator>> = std::sync::OnceLock::new();
    let validator = VALIDATOR
        .get_or_init(|| {
            let schema: Value = serde_json::from_str(OAS_31_SCHEMA).ok()?;
            jsonschema::options()
                .with_draft(Draft::Draft202012)
                .build(&schema)
                .ok()
        })
        .as_ref()?;
    if validator.is_valid(doc) {
        return None;
    }
    validator
        .iter_errors(doc)
        .max_by_key(|e| e.instance_path().as_str().matches('/').count())
        .map(|e| {
            (
                e.instance_path().as_str().to_owned(),
                format!("not a valid OpenAPI 3.1 document: {e}"),
            )
        })
}

/// openapiv3 reads `paths` through a map of its own, so its errors stop at `/paths`:
/// parse each path item alone to point at the value inside it.
fn refine_30_error(doc: &Value, pointer: String, message: String) -> (String, String) {
    if pointer != "/paths" {
        return (pointer, message);
    }
    if let Some(Value::Object(paths)) = doc.get("paths") {
        for (template, item) in paths {
            if item.get("$ref").is_some() {
                continue;
            }
            if let Err(e) = serde_path_to_error::deserialize::<_, openapiv3::PathItem>(item) {
                return (
                    format!("/paths/{}{}", escape(template), path_to_pointer(e.path())),
                    e.inner().to_string(),
                );
            }
        }
    }
    (pointer, message)
}

fn path_to_pointer(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => out.push_str(&format!("/{}", escape(key))),
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}
