//! `[node] labels` and `[catalog]`.

use std::path::PathBuf;

use super::*;
use crate::config::{DEFAULT_CATALOG_CACHE, DEFAULT_CATALOG_PREFIX};

#[test]
fn catalog_defaults_and_labels() {
    let c = parse_ok(&with_node(&[
        r#"labels = ["fra1", "edge"]"#,
        "[catalog]",
        r#"etcd = ["http://10.0.9.1:2379", "http://etcd-2.example:2379"]"#,
    ]));
    assert_eq!(c.labels, ["fra1", "edge"]);
    let cat = c.catalog.unwrap();
    assert_eq!(cat.etcd.len(), 2);
    assert_eq!(cat.prefix, DEFAULT_CATALOG_PREFIX);
    assert_eq!(cat.vips_prefix(), "/anycastd/vips/");
    assert_eq!(cat.cache, None);
    let node = std::path::Path::new("/etc/anycastd/anycastd.toml");
    assert_eq!(
        cat.cache_path(node, None),
        PathBuf::from(DEFAULT_CATALOG_CACHE)
    );
    let state = std::path::Path::new("/var/lib/anycastd-lb1");
    assert_eq!(
        cat.cache_path(node, Some(state)),
        PathBuf::from("/var/lib/anycastd-lb1/catalog.json")
    );
    let set = crate::config::Catalog {
        cache: Some("cache/c.json".into()),
        ..cat.clone()
    };
    assert_eq!(
        set.cache_path(node, Some(state)),
        PathBuf::from("/etc/anycastd/cache/c.json")
    );
    assert_eq!((cat.ca, cat.username), (None, None));
    let plain = parse_ok(&with_node(&[]));
    assert_eq!((plain.labels.len(), plain.catalog), (0, None));
}

#[test]
fn catalog_needs_endpoints_that_are_urls_with_ports() {
    assert_errors(
        &with_node(&["[catalog]"]),
        &[(4, 1, "catalog: etcd is required")],
    );
    assert_errors(
        &with_node(&["[catalog]", "etcd = []"]),
        &[(
            5,
            8,
            "catalog.etcd: needs at least one endpoint, e.g. \"http://10.0.9.1:2379\"",
        )],
    );
    assert_one(
        &with_node(&[
            "[catalog]",
            r#"etcd = ["http://10.0.9.1:2379", "10.0.9.2:2379"]"#,
        ]),
        5,
        33,
        "catalog.etcd[1]: \"10.0.9.2:2379\": expected an etcd endpoint URL",
    );
    assert_one(
        &with_node(&["[catalog]", r#"etcd = ["http://10.0.9.1"]"#]),
        5,
        9,
        "has no port",
    );
}

#[test]
fn catalog_prefix_and_cache_are_checked() {
    let base = ["[catalog]", r#"etcd = ["http://10.0.9.1:2379"]"#];
    for bad in [r#"prefix = "anycastd""#, r#"prefix = "/anycastd/""#] {
        let mut lines = with_node(&base);
        lines.push(bad);
        assert_one(&lines, 6, 10, "catalog.prefix: ");
    }
    let mut lines = with_node(&base);
    lines.push(r#"cache = "/var/lib/anycastd/""#);
    assert_one(
        &lines,
        6,
        9,
        "catalog.cache: \"/var/lib/anycastd/\" is a directory",
    );
}

#[test]
fn catalog_tls_and_auth_keys_come_in_pairs_and_https_needs_a_ca() {
    assert_one(
        &with_node(&["[catalog]", r#"etcd = ["https://10.0.9.1:2379"]"#]),
        5,
        8,
        "https:// endpoints need catalog.ca",
    );
    assert_one(
        &with_node(&[
            "[catalog]",
            r#"etcd = ["https://10.0.9.1:2379"]"#,
            r#"ca = "/etc/anycastd/etcd-ca.pem""#,
            r#"cert = "/etc/anycastd/etcd.pem""#,
        ]),
        7,
        8,
        "catalog.cert: catalog.key is required with catalog.cert",
    );
    assert_one(
        &with_node(&[
            "[catalog]",
            r#"etcd = ["http://10.0.9.1:2379"]"#,
            r#"password = "x""#,
        ]),
        6,
        12,
        "catalog.password: catalog.username is required",
    );
    assert_one(
        &with_node(&[
            "[catalog]",
            r#"etcd = ["http://10.0.9.1:2379"]"#,
            r#"ca = "/ca.pem""#,
        ]),
        6,
        6,
        "catalog.ca: is only used with https:// endpoints",
    );
    let c = parse_ok(&with_node(&[
        "[catalog]",
        r#"etcd = ["https://10.0.9.1:2379"]"#,
        r#"ca = "/ca.pem""#,
        r#"cert = "/c.pem""#,
        r#"key = "/k.pem""#,
        r#"username = "anycastd""#,
        r#"password = "secret""#,
    ]));
    assert_eq!(c.catalog.unwrap().password.as_deref(), Some("secret"));
}

#[test]
fn labels_are_words_given_once() {
    assert_one(
        &with_node(&[r#"labels = "edge""#]),
        4,
        10,
        "node.labels: expected an array",
    );
    assert_one(
        &with_node(&[r#"labels = ["edge", "edge"]"#]),
        4,
        19,
        "node.labels[1]: duplicate label \"edge\"",
    );
    assert_one(
        &with_node(&[r#"labels = ["fra 1"]"#]),
        4,
        11,
        "node.labels[0]: label \"fra 1\" contains whitespace",
    );
}
