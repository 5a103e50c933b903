//! The route table's rules: which upstream serves a path, how the `/api` prefix is
//! stripped on the way in and put back on `Location` on the way out.

use std::fmt;

/// A service behind the gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Orders,
    Inventory,
    Shipping,
}

impl Target {
    /// All upstreams, in the order readiness reports them.
    pub const ALL: [Target; 3] = [Target::Orders, Target::Inventory, Target::Shipping];

    /// The name used in metrics labels, logs and readiness checks.
    pub fn name(self) -> &'static str {
        match self {
            Self::Orders => "orders",
            Self::Inventory => "inventory",
            Self::Shipping => "shipping",
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The public prefix the gateway adds in front of upstream paths.
pub const API_PREFIX: &str = "/api";

/// Upstream path prefixes that the gateway exposes under [`API_PREFIX`].
const EXPOSED: [&str; 3] = ["/orders", "/products", "/shipments"];

/// The upstream path and query for a public request: `/api/orders/1?x=y` -> `/orders/1?x=y`.
/// `None` when the path is not under `/api/`.
pub fn upstream_path(path: &str, query: Option<&str>) -> Option<String> {
    let rest = path.strip_prefix(API_PREFIX)?;
    if !rest.starts_with('/') {
        return None;
    }
    Some(match query {
        Some(q) => format!("{rest}?{q}"),
        None => rest.to_owned(),
    })
}

/// Rewrites an upstream `Location` so it points through the gateway:
/// `/orders/{id}` -> `/api/orders/{id}`. An absolute URL on the upstream's own base is
/// made relative first. Anything else (another host, a path the gateway does not expose)
/// is returned unchanged.
pub fn rewrite_location(location: &str, upstream_base: &str) -> String {
    let path = location
        .strip_prefix(upstream_base.trim_end_matches('/'))
        .filter(|rest| rest.starts_with('/'))
        .unwrap_or(location);
    let exposed = EXPOSED.iter().any(|prefix| {
        path.strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']))
    });
    if exposed {
        format!("{API_PREFIX}{path}")
    } else {
        location.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_the_api_prefix_and_keeps_the_query() {
        assert_eq!(
            upstream_path("/api/orders", None).as_deref(),
            Some("/orders")
        );
        assert_eq!(
            upstream_path("/api/orders", Some("customer=c%201")).as_deref(),
            Some("/orders?customer=c%201")
        );
        assert_eq!(
            upstream_path("/api/products/KB-001", None).as_deref(),
            Some("/products/KB-001")
        );
        assert_eq!(upstream_path("/apix/orders", None), None);
        assert_eq!(upstream_path("/orders", None), None);
    }

    #[test]
    fn location_is_rewritten_through_the_gateway() {
        let base = "http://127.0.0.1:8081";
        assert_eq!(rewrite_location("/orders/42", base), "/api/orders/42");
        assert_eq!(rewrite_location("/orders", base), "/api/orders");
        assert_eq!(
            rewrite_location("http://127.0.0.1:8081/orders/42", base),
            "/api/orders/42"
        );
        assert_eq!(rewrite_location("/ordersx/42", base), "/ordersx/42");
        assert_eq!(rewrite_location("/reservations/1", base), "/reservations/1");
        assert_eq!(
            rewrite_location("http://elsewhere/orders/1", base),
            "http://elsewhere/orders/1"
        );
    }
}
