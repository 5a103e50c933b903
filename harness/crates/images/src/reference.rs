//! Image references and content tags, and the repositories of the images Harness makes.

/// Repository of own-service images: `harness/<package>:<hash>`.
pub(crate) const BUILD_REPO: &str = "harness";
/// Repository of recipe images: `harness-recipes/<recipe>:<hash>`.
pub(crate) const RECIPE_REPO: &str = "harness-recipes";

/// `name[:tag]` of a reference; a `:` before the last `/` is a registry port, and a digest
/// reference is passed whole.
pub fn split_reference(reference: &str) -> (&str, Option<&str>) {
    if reference.contains('@') {
        return (reference, None);
    }
    let slash = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[slash..].rfind(':') {
        Some(i) => (&reference[..slash + i], Some(&reference[slash + i + 1..])),
        None => (reference, None),
    }
}

pub(crate) fn hex12(digest: &[u8]) -> String {
    digest.iter().take(6).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_name_and_tag() {
        assert_eq!(split_reference("postgres:15"), ("postgres", Some("15")));
        assert_eq!(split_reference("postgres"), ("postgres", None));
        assert_eq!(
            split_reference("localhost:5000/x/y"),
            ("localhost:5000/x/y", None)
        );
        assert_eq!(
            split_reference("localhost:5000/y:2"),
            ("localhost:5000/y", Some("2"))
        );
        assert_eq!(split_reference("y@sha256:abc"), ("y@sha256:abc", None));
    }
}
