//! The crate map in docs/src/architecture.md says what `cargo metadata` says: every crate of the
//! harness, its folder, and which harness crates it depends on (normal dependencies; the
//! direction of the arrows). A crate added, moved or rewired without the map fails here.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
};

type Map = BTreeMap<String, (String, BTreeSet<String>)>;

fn workspace_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// name -> (folder relative to the workspace root, harness crates it depends on).
fn from_cargo() -> Map {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(cargo)
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = std::fs::canonicalize(workspace_root()).unwrap();
    let mut map = Map::new();
    for p in meta["packages"].as_array().unwrap() {
        let name = p["name"].as_str().unwrap();
        if !name.starts_with("harness") {
            continue;
        }
        let manifest = Path::new(p["manifest_path"].as_str().unwrap());
        let dir = manifest.parent().unwrap().strip_prefix(&root).unwrap();
        let deps = p["dependencies"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["kind"].is_null()) // normal dependencies only
            .map(|d| d["name"].as_str().unwrap().to_owned())
            .filter(|d| d.starts_with("harness"))
            .collect();
        map.insert(name.to_owned(), (format!("{}/", dir.display()), deps));
    }
    map
}

/// The rows between `<!-- crate-map -->` and `<!-- /crate-map -->`:
/// `| `name` | `folder/` | what | `dep`, `dep` (feature) |`.
fn from_docs() -> Map {
    let doc = std::fs::read_to_string(workspace_root().join("docs/src/architecture.md")).unwrap();
    let start = doc.find("<!-- crate-map -->").expect("crate-map marker");
    let end = doc.find("<!-- /crate-map -->").expect("/crate-map marker");
    let ticked = |cell: &str| -> Vec<String> {
        cell.split('`')
            .skip(1)
            .step_by(2)
            .map(str::to_owned)
            .collect()
    };
    let mut map = Map::new();
    for line in doc[start..end].lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = ticked(cells[1]).remove(0);
        let dir = ticked(cells[2]).remove(0);
        let deps = ticked(cells[4])
            .into_iter()
            .filter(|d| d.starts_with("harness"))
            .collect();
        map.insert(name, (dir, deps));
    }
    map
}

#[test]
fn the_crate_map_in_the_architecture_doc_matches_cargo_metadata() {
    let docs = from_docs();
    assert!(docs.len() >= 5, "{docs:?}");
    assert_eq!(docs, from_cargo());
}
