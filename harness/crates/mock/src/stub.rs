//! Mocks written in code: routes (a method and a path template, `/payments/{id}`) with
//! fixed answers. No contract: answers are not checked, and a request no route takes is
//! answered 404 and reported. Faults, overrides, calls and expectations work as on every
//! mock; a route's operation name is `METHOD /template`, or the name given.
//!
//! For matching on headers or bodies, mount wiremock mocks on [`MockServer::inner`].

use http::Method;
use serde_json::Value;
use wiremock::Request;

use crate::{
    server::MockServer,
    state::{Core, Reply, Responder},
};

#[derive(Debug, Clone)]
struct Route {
    name: String,
    method: Method,
    template: String,
    status: u16,
    body: Option<Value>,
}

/// A programmatic mock: routes with fixed answers.
#[derive(Debug, Clone, Default)]
pub struct StubMock {
    routes: Vec<Route>,
}

impl StubMock {
    pub fn new() -> Self {
        Self::default()
    }

    /// Answers `method` on `template` with `status` and a JSON body (operation name
    /// `METHOD /template`).
    pub fn route(self, method: Method, template: &str, status: u16, body: Option<Value>) -> Self {
        let name = format!("{method} {template}");
        self.named(name, method, template, status, body)
    }

    /// The same with an operation name of your own (for faults, overrides, expectations).
    pub fn named(
        mut self,
        name: impl Into<String>,
        method: Method,
        template: &str,
        status: u16,
        body: Option<Value>,
    ) -> Self {
        self.routes.push(Route {
            name: name.into(),
            method,
            template: template.to_owned(),
            status,
            body,
        });
        self
    }

    /// Starts the mock on 127.0.0.1 at a free port.
    pub async fn start(self) -> std::io::Result<MockServer> {
        MockServer::start(Core::new(Box::new(self), false), None).await
    }

    fn find(&self, req: &Request) -> Option<&Route> {
        let path = req.url.path();
        self.routes
            .iter()
            .find(|r| r.method == req.method && template_matches(&r.template, path))
    }
}

/// Whether a concrete path matches a template segment by segment (`{x}` takes one
/// non-empty segment).
fn template_matches(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.trim_end_matches('/').split('/').collect();
    let p: Vec<&str> = path.trim_end_matches('/').split('/').collect();
    t.len() == p.len()
        && t.iter()
            .zip(&p)
            .all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

impl Responder for StubMock {
    fn kind(&self) -> &'static str {
        "stubs"
    }

    fn source(&self) -> String {
        format!("{} stub routes", self.routes.len())
    }

    fn operations(&self) -> Vec<String> {
        self.routes.iter().map(|r| r.name.clone()).collect()
    }

    fn operation(&self, req: &Request) -> Option<String> {
        self.find(req).map(|r| r.name.clone())
    }

    fn reject(&self, req: &Request, _seq: u64) -> Option<Reply> {
        if self.find(req).is_some() {
            return None;
        }
        let reason = format!("no stub route takes {} {}", req.method, req.url.path());
        let mut reply = Reply::problem(404, "mock_no_route", "no stub route", &reason);
        reply.rejected = Some(reason);
        Some(reply)
    }

    fn respond(&self, req: &Request, seq: u64) -> Reply {
        match self.find(req) {
            Some(r) => match &r.body {
                Some(b) => Reply::json(r.status, "application/json", b),
                None => Reply {
                    status: r.status,
                    ..Reply::default()
                },
            },
            None => self.reject(req, seq).unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn templates() {
        assert!(super::template_matches("/a/{id}", "/a/7"));
        assert!(super::template_matches("/a/{id}/", "/a/7"));
        assert!(!super::template_matches("/a/{id}", "/a/7/b"));
        assert!(!super::template_matches("/a/{id}", "/b/7"));
    }
}
