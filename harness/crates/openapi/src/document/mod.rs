//! OpenAPI documents, 3.0 and 3.1, loaded into what the checks need: operations found by
//! method and concrete path, their parameters, bodies and responses, and one compiled JSON
//! Schema validator per schema.
//!
//! 3.0 documents are first parsed with `openapiv3` (the structural check, with the JSON
//! pointer of what it rejects); 3.1 documents are validated against the OpenAPI
//! Initiative's own schema of 3.1 documents (`oas-3.1-schema.json`, bundled). The operations are then read from the JSON itself for both
//! versions: `openapiv3` models 3.0 only (a 3.1 `type: ["string", "null"]`, which utoipa
//! writes for every `Option`, does not parse), and the checks need the schemas as JSON for
//! the validator anyway. 3.0's schema dialect is rewritten to draft 2020-12 first
//! (`nullable`, boolean `exclusiveMinimum`/`exclusiveMaximum`, `$ref` siblings ignored), so
//! one validator configuration serves both. Every `$ref` must point into the document: the
//! validator is built without its file and HTTP resolvers, so nothing is ever fetched.
//!
//! The submodules, each using only the ones after it: `reader` reads the operations out of
//! the JSON; `routes` finds them by method and path; `operation` is what they are;
//! `structure` checks a document's structure per version, `dialect` rewrites 3.0's
//! schemas; `validator` compiles schemas; `pointer` says where in the document, and
//! follows `$ref`s inside it.

mod dialect;
mod operation;
mod pointer;
mod reader;
mod routes;
mod structure;
mod validator;

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use http::Method;
use serde_json::Value;

pub(crate) use operation::is_json;
pub use operation::{Location, MediaType, Operation, Parameter, RequestBody, Response, StatusKey};
pub use pointer::DocumentError;
pub use routes::RouteError;
#[cfg(test)]
pub(crate) use validator::compile;

use dialect::convert_30_document;
use pointer::Within;
use reader::read_operations;
use routes::Routes;
use structure::{check_30_structure, check_31_structure};

/// The OpenAPI version a document declares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpecVersion {
    V30,
    V31,
}

/// A loaded OpenAPI document.
pub struct Document {
    origin: String,
    version: SpecVersion,
    title: String,
    root: Arc<Value>,
    operations: Vec<Operation>,
    /// Path template -> the operations of that path.
    pub(crate) router: Routes,
}

impl fmt::Debug for Document {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("origin", &self.origin)
            .field("version", &self.version)
            .field("operations", &self.operations.len())
            .finish()
    }
}

impl Document {
    /// Reads and loads a document (JSON; YAML is not read).
    pub fn from_path(path: impl AsRef<Path>) -> Result<Self, DocumentError> {
        let path = path.as_ref();
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| DocumentError {
            origin: origin.clone(),
            pointer: String::new(),
            message: format!("cannot read it: {e}"),
        })?;
        let value: Value = serde_json::from_str(&text).map_err(|e| DocumentError {
            origin: origin.clone(),
            pointer: String::new(),
            message: format!("not JSON (line {}, column {}): {e}", e.line(), e.column()),
        })?;
        Self::from_value(value, origin)
    }

    /// Loads a document from its JSON; `origin` names it in errors.
    pub fn from_value(mut value: Value, origin: impl Into<String>) -> Result<Self, DocumentError> {
        let origin = origin.into();
        let err = |pointer: &str, message: String| DocumentError {
            origin: origin.clone(),
            pointer: pointer.to_owned(),
            message,
        };
        let version = match value.get("openapi").and_then(Value::as_str) {
            Some(v) if v.starts_with("3.0.") => SpecVersion::V30,
            Some(v) if v.starts_with("3.1.") => SpecVersion::V31,
            Some(v) => {
                return Err(err(
                    "/openapi",
                    format!("OpenAPI {v} is not supported (3.0.x and 3.1.x are)"),
                ));
            }
            None => {
                return Err(err(
                    "/openapi",
                    "missing `openapi` version (is this an OpenAPI 3 document?)".into(),
                ));
            }
        };
        if version == SpecVersion::V31
            && let Some((pointer, message)) = check_31_structure(&value)
        {
            return Err(err(&pointer, message));
        }
        if version == SpecVersion::V30 {
            if let Some((pointer, message)) = check_30_structure(&value) {
                return Err(err(&pointer, message));
            }
            convert_30_document(&mut value);
        }
        let title = value
            .pointer("/info/title")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned();
        let root = Arc::new(value);
        let (operations, router) = read_operations(Within {
            root: &root,
            origin: &origin,
        })?;
        Ok(Self {
            origin,
            version,
            title,
            root,
            operations,
            router,
        })
    }

    /// The file it was read from (or the origin given).
    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn version(&self) -> SpecVersion {
        self.version
    }

    /// `info.title`.
    pub fn title(&self) -> &str {
        &self.title
    }

    /// The document's JSON (3.0 schemas rewritten to 2020-12); schemas' `$ref`s point here.
    pub fn root(&self) -> &Value {
        &self.root
    }

    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation with this `operationId` (or `METHOD /path` label).
    pub fn operation(&self, id: &str) -> Option<&Operation> {
        self.operations
            .iter()
            .find(|o| o.id == id || o.label() == id)
    }

    /// The (lowercase) names of the headers that carry credentials: `authorization` (HTTP
    /// bearer and basic schemes, OAuth 2, OpenID Connect) and the names of header API keys.
    pub fn credential_headers(&self) -> Vec<String> {
        let mut names = vec!["authorization".to_owned()];
        if let Some(Value::Object(schemes)) = self.root.pointer("/components/securitySchemes") {
            for s in schemes.values() {
                if s.get("type").and_then(Value::as_str) == Some("apiKey")
                    && s.get("in").and_then(Value::as_str) == Some("header")
                    && let Some(n) = s.get("name").and_then(Value::as_str)
                {
                    names.push(n.to_ascii_lowercase());
                }
            }
        }
        names
    }

    /// The operation that answers `method` on a concrete path (no query string).
    pub fn find(&self, method: &Method, path: &str) -> Result<&Operation, RouteError> {
        self.router.find(&self.operations, method, path)
    }
}

/// The documents of a folder: `<dir>/<service>.json`.
pub fn document_path(dir: &Path, service: &str) -> PathBuf {
    dir.join(format!("{service}.json"))
}
