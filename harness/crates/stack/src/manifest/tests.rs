//! The manifest format end to end: files parsed, checked and ordered, with the messages
//! and lines their errors give.

use std::{path::Path, time::Duration};

use crate::error::Result;

use super::*;

#[test]
fn image_requests_resolve_a_dockerfile_against_the_manifest_folder() {
    let m = Manifest::parse(
        "[services.a]\nbuild = \"pay\"\ndockerfile = \"docker/Dockerfile\"\n[services.b]\nimage = \"x:1\"\nrecipe = \"r\"\n",
        Path::new("/repo/suites/stack.toml"),
    );
    // The dockerfile must exist for parsing; check the resolution on a built manifest.
    let m = m.unwrap_or_else(|_| {
        Manifest::new("s")
            .with_service(
                "a",
                ServiceSpec::build("pay").dockerfile("docker/Dockerfile"),
            )
            .with_service("b", ServiceSpec::image("x:1").recipe("r"))
    });
    let requests = m
        .image_requests(Some(&["b".into(), "a".into(), "b".into()]))
        .unwrap();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[0].service, "b");
    assert_eq!(
        requests[1].source,
        ImageSource::Build {
            package: "pay".into(),
            dockerfile: Some(m.base_dir().join("docker/Dockerfile")),
        }
    );
    assert!(m.image_requests(Some(&["nope".into()])).is_err());
}

const GOOD: &str = r#"
name = "demo"

[services.db]
image = "postgres:15"
recipe = "postgres"
env = { POSTGRES_PASSWORD = "pw" }
ports = [5432]
ready = { tcp = 5432 }
memory = "512m"
cpus = 0.5

[services.api]
build = "orders"
env = { DATABASE_URL = "postgres://u:p@${db.host}:${db.port}/x" }
ports = [8081]
depends_on = ["db"]
ready = { http = "/health/ready" }
ready_timeout = "90s"
"#;

fn parse(text: &str) -> Result<Manifest> {
    Manifest::parse(text, Path::new("stack.toml"))
}

#[test]
fn parses_a_full_manifest() {
    let m = parse(GOOD).unwrap();
    assert_eq!(m.name, "demo");
    let api = m.service("api").unwrap();
    assert_eq!(
        api.ready,
        Readiness::Http {
            port: 8081,
            path: "/health/ready".into(),
            status: 200
        }
    );
    assert_eq!(api.ready_timeout, Duration::from_secs(90));
    let db = m.service("db").unwrap();
    assert_eq!(db.resources.memory_bytes, Some(512 << 20));
    assert_eq!(db.resources.nano_cpus, Some(500_000_000));
    assert_eq!(m.start_order().unwrap(), vec!["db", "api"]);
}

#[test]
fn syntax_errors_name_file_and_line() {
    let e = parse("name = \"x\"\n[services.a]\nimage = \n")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("stack.toml:3"), "{e}");
}

#[test]
fn unknown_keys_are_rejected_with_their_line() {
    let e = parse("[services.a]\nimage = \"x\"\nportz = [1]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("stack.toml:3") && e.contains("portz"), "{e}");
}

#[test]
fn dependencies_take_a_condition() {
    let m = parse(
        "[services.mq]\nimage = \"x\"\n[services.db]\nimage = \"y\"\n[services.api]\nimage = \"z\"\ndepends_on = [\"db\", { service = \"mq\", condition = \"started\" }, { service = \"x2\" }]\n[services.x2]\nimage = \"w\"\n",
    )
    .unwrap();
    let api = m.service("api").unwrap();
    assert_eq!(
        api.depends_on,
        vec![
            Dependency {
                service: "db".into(),
                condition: Condition::Ready
            },
            Dependency {
                service: "mq".into(),
                condition: Condition::Started
            },
            Dependency {
                service: "x2".into(),
                condition: Condition::Ready
            },
        ]
    );
    let order = m.start_order().unwrap();
    let pos = |n: &str| order.iter().position(|s| s == n).unwrap();
    assert!(
        pos("mq") < pos("api") && pos("x2") < pos("api"),
        "{order:?}"
    );
}

#[test]
fn bad_dependency_entries_say_what_is_expected() {
    let text = "[services.mq]\nimage = \"x\"\n[services.api]\nimage = \"z\"\ndepends_on = [{ service = \"mq\", condition = \"healthy\" }]\n";
    let e = parse(text).unwrap_err().to_string();
    assert!(
        e.contains("stack.toml:3") && e.contains("\"healthy\"") && e.contains("\"started\""),
        "{e}"
    );
    let e = parse(
        &text
            .replace("service =", "name =")
            .replace("healthy", "started"),
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("`name`") && e.contains("service = "), "{e}");
    let e = parse(&text.replace(
        "[{ service = \"mq\", condition = \"healthy\" }]",
        "[\"mq\", \"mq\"]",
    ))
    .unwrap_err()
    .to_string();
    assert!(e.contains("twice"), "{e}");
    let e = parse(&text.replace("[{ service = \"mq\", condition = \"healthy\" }]", "[3]"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("not a service"), "{e}");
}

#[test]
fn bad_references_and_cycles_are_reported() {
    let e = parse("[services.a]\nimage = \"x\"\ndepends_on = [\"b\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("stack.toml:1") && e.contains("\"b\""), "{e}");
    let e = parse("[services.a]\nimage = \"x\"\ndepends_on = [\"b\"]\n[services.b]\nimage = \"y\"\ndepends_on = [\"a\"]\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("cycle"), "{e}");
    let e = parse("[services.a]\nimage = \"x\"\nenv = { U = \"${nope.host}\" }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope"), "{e}");
}

#[test]
fn readiness_needs_one_rule() {
    let e = parse("[services.a]\nimage = \"x\"\nready = { tcp = 1, log = \"y\" }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("exactly one"), "{e}");
    let e = parse("[services.a]\nimage = \"x\"\nready = { http = \"/h\" }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("port"), "{e}");
    let e = parse("[services.a]\nimage = \"x\"\nports = [1]\nready = { tcp = 2 }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("port 2") && e.contains("not in `ports`"), "{e}");
    let e = parse("[services.a]\nimage = \"x\"\nports = [1]\nready = { tcp = 1, status = 200 }\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains("ready.http"), "{e}");
}

#[test]
fn unknown_placeholder_attributes_are_rejected() {
    let e = parse(
        "[services.a]\nimage = \"x\"\nports = [1]\n[services.b]\nimage = \"y\"\nenv = { U = \"${a.hots}\" }\n",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("a.hots") && e.contains(".host"), "{e}");
}
