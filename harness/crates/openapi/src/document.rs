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

use std::{
    collections::BTreeSet,
    fmt,
    path::{Path, PathBuf},
    sync::Arc,
};

use http::Method;
use jsonschema::{Draft, Validator};
use serde_json::{Map, Value};

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
    /// Path template -> the operations of that path (indices into `operations`).
    pub(crate) router: matchit::Router<Vec<usize>>,
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

/// Where a parameter goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Location {
    Path,
    Query,
    Header,
    Cookie,
}

/// One parameter of an operation.
#[derive(Clone)]
pub struct Parameter {
    pub name: String,
    pub location: Location,
    pub required: bool,
    /// The schema (2020-12 dialect; `$ref`s point into [`Document::root`]).
    pub schema: Value,
    /// The parameter's own examples (`example`, then every `examples` value), else its
    /// schema's.
    pub examples: Vec<Value>,
    pub(crate) validator: Arc<Validator>,
}

impl fmt::Debug for Parameter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Parameter")
            .field("name", &self.name)
            .field("location", &self.location)
            .field("required", &self.required)
            .finish()
    }
}

impl Parameter {
    /// Whether `value` is valid for this parameter.
    pub fn accepts(&self, value: &Value) -> bool {
        self.validator.is_valid(value)
    }
}

/// One media type of a body.
#[derive(Clone)]
pub struct MediaType {
    /// The media range as documented, lowercased (`application/json`, `*/*`).
    pub range: String,
    pub schema: Option<Value>,
    /// `example`, then every value of `examples`.
    pub examples: Vec<Value>,
    pub(crate) validator: Option<Arc<Validator>>,
}

impl fmt::Debug for MediaType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MediaType")
            .field("range", &self.range)
            .finish()
    }
}

impl MediaType {
    /// Whether the media type is JSON (`application/json` or `+json`).
    pub fn is_json(&self) -> bool {
        is_json(&self.range)
    }

    /// Whether `body` is valid against the schema (true without a schema).
    pub fn accepts(&self, body: &Value) -> bool {
        self.validator.as_ref().is_none_or(|v| v.is_valid(body))
    }
}

/// The request body of an operation.
#[derive(Debug, Clone)]
pub struct RequestBody {
    pub required: bool,
    pub content: Vec<MediaType>,
}

impl RequestBody {
    /// The JSON media type, if any (the one the verifier sends).
    pub fn json(&self) -> Option<&MediaType> {
        self.content.iter().find(|m| m.is_json())
    }
}

/// The status codes a response documents.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum StatusKey {
    Code(u16),
    /// `4XX`: the first digit.
    Range(u8),
    Default,
}

impl StatusKey {
    fn parse(key: &str) -> Option<Self> {
        if key == "default" {
            return Some(Self::Default);
        }
        let b = key.as_bytes();
        if b.len() == 3 && (b'1'..=b'5').contains(&b[0]) && b[1..].eq_ignore_ascii_case(b"xx") {
            return Some(Self::Range(b[0] - b'0'));
        }
        key.parse::<u16>()
            .ok()
            .filter(|c| (100..600).contains(c))
            .map(Self::Code)
    }

    /// Whether a response with `status` is documented by this key.
    pub fn covers(self, status: u16) -> bool {
        match self {
            Self::Code(c) => c == status,
            Self::Range(d) => status / 100 == u16::from(d),
            Self::Default => true,
        }
    }
}

impl fmt::Display for StatusKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Code(c) => write!(f, "{c}"),
            Self::Range(d) => write!(f, "{d}XX"),
            Self::Default => f.write_str("default"),
        }
    }
}

/// One documented response of an operation.
#[derive(Debug, Clone)]
pub struct Response {
    pub key: StatusKey,
    pub content: Vec<MediaType>,
    /// Header names (lowercased) the response must carry.
    pub required_headers: Vec<String>,
}

/// One operation: a method on a path.
#[derive(Debug, Clone)]
pub struct Operation {
    /// `operationId`, or `METHOD /path`.
    pub id: String,
    pub method: Method,
    /// The path template, e.g. `/orders/{id}`.
    pub path: String,
    pub parameters: Vec<Parameter>,
    pub body: Option<RequestBody>,
    /// Sorted: exact codes first, then ranges, then `default`.
    pub responses: Vec<Response>,
    /// The security requirements: any one of them must be met (each names schemes that
    /// must all be met). Empty: the operation is public. A requirement with no scheme
    /// (`{}`) makes credentials optional.
    pub security: Vec<Vec<String>>,
}

impl Operation {
    /// Whether the operation needs credentials.
    pub fn is_protected(&self) -> bool {
        !self.security.is_empty() && self.security.iter().all(|r| !r.is_empty())
    }

    /// The documented response for `status`: an exact code, else its range, else `default`.
    pub fn response(&self, status: u16) -> Option<&Response> {
        // `responses` is sorted exact < range < default, so the first match is the best.
        self.responses.iter().find(|r| r.key.covers(status))
    }

    /// Whether the document says this operation can answer `status`.
    pub fn documents(&self, status: u16) -> bool {
        self.response(status).is_some()
    }

    /// `GET /orders/{id}`.
    pub fn label(&self) -> String {
        format!("{} {}", self.method, self.path)
    }
}

pub(crate) fn is_json(media: &str) -> bool {
    let essence = media.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/json")
        || essence
            .get(essence.len().saturating_sub(5)..)
            .is_some_and(|s| s.eq_ignore_ascii_case("+json"))
}

const METHODS: [(&str, Method); 8] = [
    ("get", Method::GET),
    ("put", Method::PUT),
    ("post", Method::POST),
    ("delete", Method::DELETE),
    ("options", Method::OPTIONS),
    ("head", Method::HEAD),
    ("patch", Method::PATCH),
    ("trace", Method::TRACE),
];

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
            if let Err(e) = serde_path_to_error::deserialize::<_, openapiv3::OpenAPI>(&value) {
                let (pointer, message) =
                    refine_30_error(&value, path_to_pointer(e.path()), e.inner().to_string());
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
        let reader = Reader {
            root: &root,
            origin: &origin,
            components: root.get("components").cloned().unwrap_or(Value::Null),
        };
        let global_security = match root.get("security") {
            Some(s) => reader.security(s, "/security")?,
            None => Vec::new(),
        };
        let paths = match root.get("paths") {
            Some(Value::Object(p)) => p,
            Some(_) => return Err(err("/paths", "must be an object".into())),
            None => return Err(err("/paths", "missing".into())),
        };
        let mut operations = Vec::new();
        let mut router = matchit::Router::new();
        let mut ids = BTreeSet::new();
        for (template, item) in paths {
            let item_ptr = format!("/paths/{}", escape(template));
            if !template.starts_with('/') {
                return Err(err(&item_ptr, "a path must start with `/`".into()));
            }
            let item = reader.deref(item, &item_ptr)?;
            let Value::Object(item) = item else {
                return Err(err(&item_ptr, "a path item must be an object".into()));
            };
            let shared = match item.get("parameters") {
                Some(p) => reader.parameters(p, &format!("{item_ptr}/parameters"))?,
                None => Vec::new(),
            };
            let mut indices = Vec::new();
            for (name, method) in METHODS.iter() {
                let Some(op) = item.get(*name) else { continue };
                let op_ptr = format!("{item_ptr}/{name}");
                let operation = reader.operation(
                    op,
                    &op_ptr,
                    method.clone(),
                    template,
                    &shared,
                    &global_security,
                )?;
                if !ids.insert(operation.id.clone()) {
                    return Err(err(
                        &format!("{op_ptr}/operationId"),
                        format!("operationId {:?} is used twice", operation.id),
                    ));
                }
                indices.push(operations.len());
                operations.push(operation);
            }
            router
                .insert(template.clone(), indices)
                .map_err(|e| err(&item_ptr, format!("path template: {e}")))?;
        }
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
        let matched = self.router.at(path).map_err(|_| RouteError::UnknownPath)?;
        matched
            .value
            .iter()
            .map(|&i| &self.operations[i])
            .find(|o| o.method == method)
            .ok_or(RouteError::UnknownMethod)
    }
}

/// Why no operation answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteError {
    UnknownPath,
    UnknownMethod,
}

fn escape(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// The OpenAPI Initiative's schema of 3.1 documents (2022-10-07; Apache-2.0), which checks
/// the structure and leaves Schema Objects to the validator of each schema.
const OAS_31_SCHEMA: &str = include_str!("oas-3.1-schema.json");

/// The first structural error of a 3.1 document: (JSON pointer, message). The deepest
/// error is reported, since `oneOf`s near the root otherwise say only "not valid".
fn check_31_structure(doc: &Value) -> Option<(String, String)> {
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

/// Reads operations out of the document's JSON.
struct Reader<'a> {
    root: &'a Value,
    origin: &'a str,
    components: Value,
}

impl<'a> Reader<'a> {
    fn err(&self, pointer: &str, message: impl Into<String>) -> DocumentError {
        DocumentError {
            origin: self.origin.to_owned(),
            pointer: pointer.to_owned(),
            message: message.into(),
        }
    }

    /// Follows `$ref`s of non-schema objects (parameters, bodies, responses, headers).
    fn deref(&self, mut value: &'a Value, pointer: &str) -> Result<&'a Value, DocumentError> {
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

    /// Compiles a schema (its `$ref`s resolved against the document's components).
    fn validator(&self, schema: &Value, pointer: &str) -> Result<Arc<Validator>, DocumentError> {
        check_refs(schema, pointer, self)?;
        let mut wrapped = match schema {
            Value::Object(m) => m.clone(),
            Value::Bool(b) => {
                let mut m = Map::new();
                if !b {
                    m.insert("not".into(), Value::Object(Map::new()));
                }
                m
            }
            _ => return Err(self.err(pointer, "a schema must be an object or a boolean")),
        };
        if !self.components.is_null() {
            wrapped.insert("components".into(), self.components.clone());
        }
        compile(&Value::Object(wrapped))
            .map(Arc::new)
            .map_err(|e| self.err(pointer, format!("invalid schema: {e}")))
    }

    fn security(&self, value: &Value, pointer: &str) -> Result<Vec<Vec<String>>, DocumentError> {
        let Value::Array(reqs) = value else {
            return Err(self.err(pointer, "must be an array of security requirements"));
        };
        reqs.iter()
            .enumerate()
            .map(|(i, r)| match r {
                Value::Object(m) => {
                    for name in m.keys() {
                        if self
                            .root
                            .pointer(&format!("/components/securitySchemes/{}", escape(name)))
                            .is_none()
                        {
                            return Err(self.err(
                                &format!("{pointer}/{i}"),
                                format!(
                                    "security scheme {name:?} is not in components.securitySchemes"
                                ),
                            ));
                        }
                    }
                    Ok(m.keys().cloned().collect())
                }
                _ => Err(self.err(&format!("{pointer}/{i}"), "must be an object")),
            })
            .collect()
    }

    fn parameters(&self, value: &'a Value, pointer: &str) -> Result<Vec<Parameter>, DocumentError> {
        let Value::Array(list) = value else {
            return Err(self.err(pointer, "must be an array"));
        };
        let mut out = Vec::new();
        for (i, p) in list.iter().enumerate() {
            let ptr = format!("{pointer}/{i}");
            let p = self.deref(p, &ptr)?;
            let name = p
                .get("name")
                .and_then(Value::as_str)
                .ok_or_else(|| self.err(&ptr, "a parameter needs a `name`"))?;
            let location = match p.get("in").and_then(Value::as_str) {
                Some("path") => Location::Path,
                Some("query") => Location::Query,
                Some("header") => Location::Header,
                Some("cookie") => Location::Cookie,
                other => {
                    return Err(self.err(
                        &format!("{ptr}/in"),
                        format!("`in` must be path, query, header or cookie, not {other:?}"),
                    ));
                }
            };
            let required = p.get("required").and_then(Value::as_bool).unwrap_or(false);
            if location == Location::Path && !required {
                return Err(self.err(&ptr, format!("path parameter {name:?} must be required")));
            }
            let schema = p
                .get("schema")
                .or_else(|| {
                    p.get("content")
                        .and_then(Value::as_object)
                        .and_then(|c| c.values().next())
                        .and_then(|m| m.get("schema"))
                })
                .cloned()
                .unwrap_or_else(|| Value::Object(Map::new()));
            let validator = self.validator(&schema, &format!("{ptr}/schema"))?;
            let mut examples = all_examples(p);
            if examples.is_empty() {
                examples = all_examples(&schema);
            }
            out.push(Parameter {
                name: name.to_owned(),
                location,
                required,
                schema,
                examples,
                validator,
            });
        }
        Ok(out)
    }

    fn content(
        &self,
        value: Option<&'a Value>,
        pointer: &str,
    ) -> Result<Vec<MediaType>, DocumentError> {
        let Some(value) = value else {
            return Ok(Vec::new());
        };
        let Value::Object(map) = value else {
            return Err(self.err(pointer, "`content` must be an object of media types"));
        };
        let mut out = Vec::new();
        for (range, media) in map {
            let ptr = format!("{pointer}/{}", escape(range));
            if !range.contains('/') {
                return Err(self.err(&ptr, format!("{range:?} is not a media type")));
            }
            let schema = media.get("schema").cloned();
            let validator = match &schema {
                Some(s) => Some(self.validator(s, &format!("{ptr}/schema"))?),
                None => None,
            };
            let examples = all_examples(media);
            out.push(MediaType {
                range: range.to_ascii_lowercase(),
                schema,
                examples,
                validator,
            });
        }
        Ok(out)
    }

    fn operation(
        &self,
        op: &'a Value,
        ptr: &str,
        method: Method,
        template: &str,
        shared: &[Parameter],
        global_security: &[Vec<String>],
    ) -> Result<Operation, DocumentError> {
        let id = op
            .get("operationId")
            .and_then(Value::as_str)
            .map(str::to_owned)
            .unwrap_or_else(|| format!("{method} {template}"));
        let mut parameters = match op.get("parameters") {
            Some(p) => self.parameters(p, &format!("{ptr}/parameters"))?,
            None => Vec::new(),
        };
        for p in shared {
            if !parameters
                .iter()
                .any(|q| q.name == p.name && q.location == p.location)
            {
                parameters.push(p.clone());
            }
        }
        for name in template_params(template) {
            if !parameters
                .iter()
                .any(|p| p.location == Location::Path && p.name == name)
            {
                return Err(self.err(
                    &format!("{ptr}/parameters"),
                    format!("path parameter {{{name}}} of {template} is not declared"),
                ));
            }
        }
        let body = match op.get("requestBody") {
            Some(b) => {
                let bptr = format!("{ptr}/requestBody");
                let b = self.deref(b, &bptr)?;
                Some(RequestBody {
                    required: b.get("required").and_then(Value::as_bool).unwrap_or(false),
                    content: self.content(b.get("content"), &format!("{bptr}/content"))?,
                })
            }
            None => None,
        };
        let Some(Value::Object(resps)) = op.get("responses") else {
            return Err(self.err(
                &format!("{ptr}/responses"),
                "an operation needs `responses`",
            ));
        };
        let mut responses = Vec::new();
        for (key, resp) in resps {
            let rptr = format!("{ptr}/responses/{}", escape(key));
            let status = StatusKey::parse(key).ok_or_else(|| {
                self.err(
                    &rptr,
                    format!("{key:?} is not a status code, `4XX` or `default`"),
                )
            })?;
            let resp = self.deref(resp, &rptr)?;
            let mut required_headers = Vec::new();
            if let Some(Value::Object(headers)) = resp.get("headers") {
                for (name, h) in headers {
                    let h = self.deref(h, &format!("{rptr}/headers/{}", escape(name)))?;
                    if h.get("required").and_then(Value::as_bool).unwrap_or(false) {
                        required_headers.push(name.to_ascii_lowercase());
                    }
                }
            }
            responses.push(Response {
                key: status,
                content: self.content(resp.get("content"), &format!("{rptr}/content"))?,
                required_headers,
            });
        }
        responses.sort_by_key(|r| r.key);
        let security = match op.get("security") {
            Some(s) => self.security(s, &format!("{ptr}/security"))?,
            None => global_security.to_vec(),
        };
        Ok(Operation {
            id,
            method,
            path: template.to_owned(),
            parameters,
            body,
            responses,
            security,
        })
    }
}

/// `example`, then the values of `examples`: a map of Example Objects (OpenAPI) or, in a
/// schema, an array (JSON Schema).
fn all_examples(v: &Value) -> Vec<Value> {
    let mut out: Vec<Value> = v.get("example").cloned().into_iter().collect();
    match v.get("examples") {
        Some(Value::Object(named)) => {
            out.extend(named.values().filter_map(|e| e.get("value").cloned()))
        }
        Some(Value::Array(list)) => out.extend(list.iter().cloned()),
        _ => {}
    }
    out
}

/// The `{name}`s of a path template.
pub(crate) fn template_params(template: &str) -> impl Iterator<Item = &str> {
    template
        .split('{')
        .skip(1)
        .filter_map(|s| s.split_once('}').map(|(name, _)| name))
}

/// Every `$ref` in a schema must point into the document.
fn check_refs(schema: &Value, pointer: &str, reader: &Reader<'_>) -> Result<(), DocumentError> {
    match schema {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                match r.strip_prefix('#') {
                    Some(target) if reader.root.pointer(target).is_some() => {}
                    Some(_) => {
                        return Err(reader.err(pointer, format!("$ref {r} points to nothing")));
                    }
                    None => {
                        return Err(reader.err(
                            pointer,
                            format!("$ref {r} points outside the document (nothing is fetched)"),
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
                                check_refs(sub, &format!("{at}/{}", escape(name)), reader)?;
                            }
                        }
                    }
                    _ => check_refs(v, &at, reader)?,
                }
            }
            Ok(())
        }
        Value::Array(a) => a
            .iter()
            .enumerate()
            .try_for_each(|(i, v)| check_refs(v, &format!("{pointer}/{i}"), reader)),
        _ => Ok(()),
    }
}

/// Compiles a 2020-12 schema with format checks and no external resolution.
pub(crate) fn compile(schema: &Value) -> Result<Validator, jsonschema::ValidationError<'static>> {
    jsonschema::options()
        .with_draft(Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
}

/// Rewrites the schemas of a 3.0 document to draft 2020-12.
fn convert_30_document(doc: &mut Value) {
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
pub(crate) fn convert_30_schema(schema: &mut Value) {
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

/// The documents of a folder: `<dir>/<service>.json`.
pub fn document_path(dir: &Path, service: &str) -> PathBuf {
    dir.join(format!("{service}.json"))
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

    #[test]
    fn status_keys() {
        assert_eq!(StatusKey::parse("404"), Some(StatusKey::Code(404)));
        assert_eq!(StatusKey::parse("4XX"), Some(StatusKey::Range(4)));
        assert_eq!(StatusKey::parse("default"), Some(StatusKey::Default));
        assert_eq!(StatusKey::parse("99"), None);
        assert!(StatusKey::Range(5).covers(503));
        assert!(!StatusKey::Code(200).covers(201));
    }

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("application/problem+json"));
        assert!(!is_json("text/plain"));
    }
}
