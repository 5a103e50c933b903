//! The cargo workspace a manifest or a recipe belongs to.

use std::path::{Path, PathBuf};

pub fn find_workspace_root(dir: &Path) -> PathBuf {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let absolute = std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
    for candidate in absolute.ancestors() {
        let Ok(text) = std::fs::read_to_string(candidate.join("Cargo.toml")) else {
            continue;
        };
        if text
            .parse::<toml::Table>()
            .is_ok_and(|t| t.contains_key("workspace"))
        {
            return candidate.to_path_buf();
        }
    }
    absolute
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workspace_root_is_the_nearest_workspace_ancestor() {
        let here = Path::new(env!("CARGO_MANIFEST_DIR"));
        let root = find_workspace_root(&here.join("src"));
        assert!(root.join("sample-services").is_dir(), "{}", root.display());
        let lone = tempfile::tempdir().unwrap();
        assert_eq!(find_workspace_root(lone.path()), lone.path());
    }
}
