//! `${service.attr}` placeholders in environment values (`host`, `port`, `url` of another
//! service): finding them for validation, and substituting them when a container is made.

/// `${service.host}`, `${service.port}`, `${service.url}` references in a value:
/// (service, attribute) pairs.
pub(super) fn placeholders(value: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + end];
        if let Some((svc, attr)) = inner.split_once('.') {
            out.push((svc.to_owned(), attr.to_owned()));
        }
        rest = &rest[start + end + 1..];
    }
    out
}

/// Replaces `${service.attr}` using `lookup(service, attr)`; unknown ones are left as they are.
pub(crate) fn substitute(value: &str, lookup: impl Fn(&str, &str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(start) = rest.find("${") {
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let inner = &rest[start + 2..start + end];
        out.push_str(&rest[..start]);
        match inner.split_once('.').and_then(|(s, a)| lookup(s, a)) {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[start..start + end + 1]),
        }
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_substitute() {
        let v = substitute("http://${a.host}:${a.port}/x?${b.nope}", |s, a| {
            match (s, a) {
                ("a", "host") => Some("h".into()),
                ("a", "port") => Some("1".into()),
                _ => None,
            }
        });
        assert_eq!(v, "http://h:1/x?${b.nope}");
        assert_eq!(
            placeholders("${a.url} ${b.host}"),
            vec![("a".into(), "url".into()), ("b".into(), "host".into())]
        );
    }
}
