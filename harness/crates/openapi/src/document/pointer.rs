//! Where in a document: [`DocumentError`], which names the file and the JSON pointer of what
//! is wrong, JSON pointer escaping, and `$ref`s resolved inside the document. Only `#/...`
//! references are followed; anything else is an error, so nothing is ever fetched.

use serde_json::Value;

/// A document that cannot be used, with where in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{origin}: {pointer}: {message}", pointer = if pointer.is_empty() { "(document)" } else { pointer })]
pub struct DocumentError {
    /// The file (or `<inline>`).
    pub origin: String,
    /// The JSON pointer of the offending value (empty for the whole document).
    pub pointer: String,
    pub message: String,
}

/// A JSON pointer's reference token for `segment` (`~` and `/` escaped).
pub(super) fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// A document's JSON and the name it has in errors: what resolving `$ref`s inside it needs.
#[derive(Clone, Copy)]
pub(super) struct Within<'a> {
    pub(super) root: &'a Value,
    pub(super) origin: &'a str,
}

impl<'a> Within<'a> {
    pub(super) fn err(&self, pointer: &str, message: impl Into<String>) -> DocumentError {
        DocumentError {
            origin: self.origin.to_owned(),
            pointer: pointer.to_owned(),
            message: message.into(),
        }
    }

    /// Follows `$ref`s of non-schema objects (parameters, bodies, responses, headers).
    pub(super) fn deref(
        &self,
        mut value: &'a Value,
        pointer: &str,
    ) -> Result<&'a Value, DocumentError> {
        for _ in 0..16 {
            let Some(r) = value.get("$ref") else {
                return Ok(value);
            };
            let Some(target) = r.as_str().and_then(|r| r.strip_prefix('#')) else {
                return Err(self.err(
                    pointer,
                    format!(
                        "$ref {r} points outside the document (only `#/...` references are followed; nothing is fetched)"
                    ),
                ));
            };
            value = self
                .root
                .pointer(target)
                .ok_or_else(|| self.err(pointer, format!("$ref {r} points to nothing")))?;
        }
        Err(self.err(pointer, "$ref chain longer than 16 (a cycle?)"))
    }

    /// Every `$ref` in a schema must point into the document.
    pub(super) fn check_refs(&self, schema: &Value, pointer: &str) -> Result<(), DocumentError> {
        match schema {
            Value::Object(m) => {
                if let Some(Value::String(r)) = m.get("$ref") {
                    match r.strip_prefix('#') {
                        Some(target) if self.root.pointer(target).is_some() => {}
                        Some(_) => {
                            return Err(self.err(pointer, format!("$ref {r} points to nothing")));
                        }
                        None => {
                            return Err(self.err(
                                pointer,
                                format!(
                                    "$ref {r} points outside the document (nothing is fetched)"
                                ),
                            ));
                        }
                    }
                }
                for (k, v) in m {
                    let at = format!("{pointer}/{}", escape(k));
                    match k.as_str() {
                        // Values of these keywords are data, not schemas.
                        "example" | "examples" | "enum" | "const" | "default" => {}
                        // Maps of names to schemas: a property may be called `example`.
                        "properties" | "patternProperties" | "$defs" | "definitions"
                        | "dependentSchemas" => {
                            if let Value::Object(named) = v {
                                for (name, sub) in named {
                                    self.check_refs(sub, &format!("{at}/{}", escape(name)))?;
                                }
                            }
                        }
                        _ => self.check_refs(v, &at)?,
                    }
                }
                Ok(())
            }
            Value::Array(a) => a
                .iter()
                .enumerate()
                .try_for_each(|(i, v)| self.check_refs(v, &format!("{pointer}/{i}"))),
            _ => Ok(()),
        }
    }
}
