//! The recipe format (`fixtures/images/<name>/image.toml`): parsing with file and line in
//! errors, the content hash that tags its image, the import changes, and staging its files.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
};

use harness_core::{
    labels,
    text::{line_of, line_of_key},
};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::reference::RECIPE_REPO;

/// Label holding the recipe name on recipe images.
const RECIPE_LABEL: &str = "dev.harness.recipe";
/// Part of every recipe hash: changing how recipes are turned into images changes all tags.
const RECIPE_FORMAT: &[u8] = b"harness-recipe-format-1\n";

/// A recipe `fixtures/images/<name>/image.toml`: how to build a dependency's image from
/// Debian packages. The format is documented at the top of each `image.toml`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Recipe {
    pub(crate) name: String,
    pub(crate) dir: PathBuf,
    /// The reference this recipe stands in for (informational).
    pub(crate) provides: Option<String>,
    pub(crate) suite: String,
    pub(crate) packages: Vec<String>,
    pub(crate) user: Option<String>,
    pub(crate) entrypoint: Vec<String>,
    pub(crate) cmd: Vec<String>,
    pub(crate) env: Vec<(String, String)>,
    pub(crate) expose: Vec<u16>,
    pub(crate) workdir: Option<String>,
    pub(crate) setup: Vec<String>,
    /// File in the recipe folder -> absolute path in the image.
    pub(crate) files: BTreeMap<String, String>,
    /// sha256 over the format version, image.toml and each listed file.
    pub(crate) digest: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRecipe {
    provides: Option<String>,
    suite: String,
    packages: Vec<String>,
    user: Option<String>,
    #[serde(default)]
    entrypoint: Vec<String>,
    #[serde(default)]
    cmd: Vec<String>,
    #[serde(default)]
    env: Vec<String>,
    #[serde(default)]
    expose: Vec<u16>,
    workdir: Option<String>,
    #[serde(default)]
    setup: Vec<String>,
    #[serde(default)]
    files: BTreeMap<String, String>,
}

impl Recipe {
    /// Reads `<dir>/image.toml` and the files it lists.
    pub(crate) fn load(name: &str, dir: &Path) -> Result<Self> {
        let path = dir.join("image.toml");
        let text = std::fs::read_to_string(&path).map_err(|e| Error::Recipe {
            path: path.clone(),
            line: None,
            message: format!("cannot read recipe {name}: {e}"),
        })?;
        let mut recipe = Self::parse(name, dir, &text)?;
        let mut h = Sha256::new();
        h.update(RECIPE_FORMAT);
        h.update(text.as_bytes());
        for (file, dest) in &recipe.files {
            let bytes = std::fs::read(dir.join(file)).map_err(|e| Error::Recipe {
                path: path.clone(),
                line: line_of_key(&text, file),
                message: format!(
                    "[files] {file:?}: cannot read {}: {e}",
                    dir.join(file).display()
                ),
            })?;
            h.update(format!("\n{file}\n{dest}\n{}\n", bytes.len()).as_bytes());
            h.update(&bytes);
        }
        recipe.digest = format!("{:x}", h.finalize());
        Ok(recipe)
    }

    /// Parses and validates recipe text (the files it lists are not read; `digest` stays empty).
    pub(crate) fn parse(name: &str, dir: &Path, text: &str) -> Result<Self> {
        let path = dir.join("image.toml");
        let raw: RawRecipe = toml::from_str(text).map_err(|e| Error::Recipe {
            path: path.clone(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().to_owned(),
        })?;
        let err = |key: &str, message: String| Error::Recipe {
            path: path.clone(),
            line: line_of_key(text, key),
            message,
        };
        if raw.suite.is_empty()
            || !raw
                .suite
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        {
            return Err(err(
                "suite",
                format!(
                    "suite {:?} must be a Debian suite such as \"bookworm\"",
                    raw.suite
                ),
            ));
        }
        if raw.packages.is_empty() {
            return Err(err(
                "packages",
                "packages must name at least one Debian package".into(),
            ));
        }
        if let Some(p) = raw.packages.iter().find(|p| !valid_package(p)) {
            return Err(err(
                "packages",
                format!("{p:?} is not a Debian package name"),
            ));
        }
        if let Some(user) = &raw.user
            && (user.is_empty() || user.contains(char::is_whitespace))
        {
            return Err(err(
                "user",
                format!("user {user:?} must be a user name or uid[:gid]"),
            ));
        }
        let mut env = Vec::new();
        for e in &raw.env {
            match e.split_once('=') {
                Some((k, v))
                    if !k.is_empty()
                        && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') =>
                {
                    env.push((k.to_owned(), v.to_owned()));
                }
                _ => return Err(err("env", format!("env entry {e:?} must be NAME=value"))),
            }
        }
        if raw.expose.contains(&0) {
            return Err(err("expose", "expose holds port numbers 1-65535".into()));
        }
        for (file, dest) in &raw.files {
            let relative = Path::new(file);
            if file.is_empty()
                || relative.is_absolute()
                || relative
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(err(
                    file,
                    format!("[files] {file:?} must be a file inside the recipe folder"),
                ));
            }
            if !dest.starts_with('/') || !safe_path(dest) || dest.ends_with('/') {
                return Err(err(
                    file,
                    format!(
                        "[files] destination {dest:?} must be an absolute file path of letters, digits and ._+@-/"
                    ),
                ));
            }
        }
        Ok(Self {
            name: name.to_owned(),
            dir: dir.to_path_buf(),
            provides: raw.provides,
            suite: raw.suite,
            packages: raw.packages,
            user: raw.user,
            entrypoint: raw.entrypoint,
            cmd: raw.cmd,
            env,
            expose: raw.expose,
            workdir: raw.workdir,
            setup: raw.setup,
            files: raw.files,
            digest: String::new(),
        })
    }

    /// `harness-recipes/<name>:<12 hex of the recipe's content>`.
    pub(crate) fn tag(&self) -> String {
        format!(
            "{RECIPE_REPO}/{}:{}",
            self.name,
            &self.digest[..self.digest.len().min(12)]
        )
    }

    /// The Dockerfile instructions applied on import.
    pub(crate) fn changes(&self) -> Vec<String> {
        let mut c = Vec::new();
        for (k, v) in &self.env {
            c.push(format!("ENV {k}={}", quote(v)));
        }
        if let Some(dir) = &self.workdir {
            c.push(format!("WORKDIR {dir}"));
        }
        for port in &self.expose {
            c.push(format!("EXPOSE {port}"));
        }
        if let Some(user) = &self.user {
            c.push(format!("USER {user}"));
        }
        if !self.entrypoint.is_empty() {
            c.push(format!(
                "ENTRYPOINT {}",
                serde_json::to_string(&self.entrypoint).unwrap_or_default()
            ));
        }
        if !self.cmd.is_empty() {
            c.push(format!(
                "CMD {}",
                serde_json::to_string(&self.cmd).unwrap_or_default()
            ));
        }
        c.push(format!("LABEL {}=true", labels::MANAGED));
        c.push(format!("LABEL {RECIPE_LABEL}={}", self.name));
        c
    }

    /// Copies the recipe's files and the setup script into `work` and returns the mmdebstrap
    /// options (everything but the suite and the output file).
    pub(crate) fn stage(&self, work: &Path) -> std::io::Result<Vec<String>> {
        let mut args = vec![
            "--variant=essential".to_owned(),
            format!("--include={}", self.packages.join(",")),
            "--dpkgopt=path-exclude=/usr/share/doc/*".to_owned(),
            "--dpkgopt=path-exclude=/usr/share/man/*".to_owned(),
            "--dpkgopt=path-exclude=/usr/share/locale/*".to_owned(),
            "--dpkgopt=path-exclude=/usr/share/info/*".to_owned(),
        ];
        // copy-in keeps a file's name and mode but places it in a folder: each file is
        // staged under its final name in a folder of its own.
        for (i, (file, dest)) in self.files.iter().enumerate() {
            let dest = Path::new(dest);
            let (Some(parent), Some(base)) = (dest.parent(), dest.file_name()) else {
                continue;
            };
            let stage_dir = work.join(format!("file{i}"));
            std::fs::create_dir_all(&stage_dir)?;
            let staged = stage_dir.join(base);
            std::fs::copy(self.dir.join(file), &staged)?;
            args.push(format!(
                "--customize-hook=mkdir -p \"$1{}\"",
                parent.display()
            ));
            args.push(format!(
                "--customize-hook=copy-in {} {}",
                staged.display(),
                parent.display()
            ));
        }
        if !self.setup.is_empty() {
            let stage_dir = work.join("setup");
            std::fs::create_dir_all(&stage_dir)?;
            let mut script = String::from("set -eux\n");
            for line in &self.setup {
                script.push_str(line);
                script.push('\n');
            }
            std::fs::write(stage_dir.join("harness-setup.sh"), script)?;
            args.push(format!(
                "--customize-hook=copy-in {} /",
                stage_dir.join("harness-setup.sh").display()
            ));
            args.push("--customize-hook=chroot \"$1\" /bin/sh /harness-setup.sh".to_owned());
            args.push("--customize-hook=rm -f \"$1/harness-setup.sh\"".to_owned());
        }
        Ok(args)
    }
}

/// A value for a Dockerfile `ENV k=v` instruction.
fn quote(v: &str) -> String {
    if !v.is_empty()
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"/._-:,+@%".contains(&b))
    {
        return v.to_owned();
    }
    format!(
        "\"{}\"",
        v.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
    )
}

fn valid_package(p: &str) -> bool {
    p.len() >= 2
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"+-.".contains(&b))
}

fn safe_path(p: &str) -> bool {
    p.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"._+@-/".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const POSTGRES: &str = r#"
provides = "postgres:15"
suite = "bookworm"
packages = ["postgresql-15"]
user = "postgres"
entrypoint = ["/usr/local/bin/harness-entrypoint"]
env = ["PGDATA=/var/lib/postgresql/data", "GREETING=hello world"]
expose = [5432]
setup = ["mkdir -p /var/lib/postgresql/data"]

[files]
"entrypoint.sh" = "/usr/local/bin/harness-entrypoint"
"#;

    fn parse(text: &str) -> Result<Recipe> {
        Recipe::parse("pg", Path::new("/r/pg"), text)
    }

    #[test]
    fn parses_a_recipe_and_derives_import_changes() {
        let r = parse(POSTGRES).unwrap();
        assert_eq!(r.suite, "bookworm");
        assert_eq!(r.packages, vec!["postgresql-15"]);
        assert_eq!(
            r.files["entrypoint.sh"],
            "/usr/local/bin/harness-entrypoint"
        );
        assert_eq!(
            r.changes(),
            vec![
                "ENV PGDATA=/var/lib/postgresql/data",
                "ENV GREETING=\"hello world\"",
                "EXPOSE 5432",
                "USER postgres",
                "ENTRYPOINT [\"/usr/local/bin/harness-entrypoint\"]",
                "LABEL dev.harness.managed=true",
                "LABEL dev.harness.recipe=pg",
            ]
        );
    }

    #[test]
    fn recipe_errors_name_file_and_line() {
        let e = parse("suite = \"bookworm\"\npackages = [\"a1\"]\nentrypont = [\"x\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/pg/image.toml:3") && e.contains("entrypont"),
            "{e}"
        );
        let e = parse("suite = \"bookworm\"\npackages = []\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/pg/image.toml:2") && e.contains("at least one"),
            "{e}"
        );
        let e = parse("suite = \"bookworm\"\npackages = [\"a1\"]\nenv = [\"NOVALUE\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/pg/image.toml:3") && e.contains("NAME=value"),
            "{e}"
        );
        let e = parse("suite = \"bookworm\"\npackages = [\"a1\"]\n[files]\n\"../x\" = \"/x\"\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/r/pg/image.toml:4") && e.contains("inside the recipe folder"),
            "{e}"
        );
        let e =
            parse("suite = \"bookworm\"\npackages = [\"a1\"]\n[files]\n\"x\" = \"relative/x\"\n")
                .unwrap_err()
                .to_string();
        assert!(e.contains("absolute"), "{e}");
        let e = parse("packages = [\"a1\"]\n").unwrap_err().to_string();
        assert!(e.contains("suite"), "{e}");
    }

    #[test]
    fn the_shipped_recipes_parse() {
        let root =
            harness_core::workspace::find_workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        for name in ["postgres", "rabbitmq"] {
            let r = Recipe::load(name, &root.join("fixtures/images").join(name)).unwrap();
            assert!(r.tag().starts_with(&format!("harness-recipes/{name}:")));
            assert_eq!(r.tag().len(), format!("harness-recipes/{name}:").len() + 12);
            assert!(!r.entrypoint.is_empty() && r.user.is_some(), "{name}");
        }
    }

    #[test]
    fn recipe_hash_covers_image_toml_and_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("image.toml"), POSTGRES).unwrap();
        std::fs::write(
            dir.path().join("entrypoint.sh"),
            "#!/bin/sh\nexec postgres\n",
        )
        .unwrap();
        let first = Recipe::load("pg", dir.path()).unwrap().tag();
        assert_eq!(
            Recipe::load("pg", dir.path()).unwrap().tag(),
            first,
            "stable"
        );
        std::fs::write(
            dir.path().join("entrypoint.sh"),
            "#!/bin/sh\nexec postgres -d 1\n",
        )
        .unwrap();
        let second = Recipe::load("pg", dir.path()).unwrap().tag();
        assert_ne!(first, second, "a changed file changes the tag");
        std::fs::write(
            dir.path().join("image.toml"),
            POSTGRES.replace("5432", "5433"),
        )
        .unwrap();
        assert_ne!(
            Recipe::load("pg", dir.path()).unwrap().tag(),
            second,
            "a changed image.toml changes the tag"
        );
        std::fs::remove_file(dir.path().join("entrypoint.sh")).unwrap();
        let e = Recipe::load("pg", dir.path()).unwrap_err().to_string();
        assert!(
            e.contains("entrypoint.sh") && e.contains("image.toml:12"),
            "{e}"
        );
    }

    #[test]
    fn staging_copies_files_under_their_final_name_and_writes_the_setup_script() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("image.toml"), POSTGRES).unwrap();
        std::fs::write(dir.path().join("entrypoint.sh"), "#!/bin/sh\n").unwrap();
        let r = Recipe::load("pg", dir.path()).unwrap();
        let work = tempfile::tempdir().unwrap();
        let args = r.stage(work.path()).unwrap();
        assert!(
            args.contains(&"--include=postgresql-15".to_owned()),
            "{args:?}"
        );
        let staged = work.path().join("file0/harness-entrypoint");
        assert!(staged.is_file());
        assert!(
            args.contains(&format!(
                "--customize-hook=copy-in {} /usr/local/bin",
                staged.display()
            )),
            "{args:?}"
        );
        let script = std::fs::read_to_string(work.path().join("setup/harness-setup.sh")).unwrap();
        assert!(
            script.contains("mkdir -p /var/lib/postgresql/data"),
            "{script}"
        );
        assert!(
            args.iter()
                .any(|a| a.contains("chroot \"$1\" /bin/sh /harness-setup.sh")),
            "{args:?}"
        );
    }
}
