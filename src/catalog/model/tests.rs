use super::*;

const FILE: &str = r#"[node]
router_id = "10.0.1.2"
asn = 65001
labels = ["fra1", "edge"]

[[bgp.peer]]
address = "10.0.1.1"
asn = 65000

[[vip]]
address = "10.100.0.1"
interface = "lo"
"#;

fn file(text: &str) -> Config {
    config::parse(text, "node.toml").expect("the node file is valid")
}

fn snapshot(docs: &[(&str, &str)]) -> Snapshot {
    Snapshot {
        revision: 7,
        documents: docs
            .iter()
            .map(|(a, v)| (format!("/anycastd/vips/{a}"), v.to_string()))
            .collect(),
    }
}

fn merge(text: &str, docs: &[(&str, &str)]) -> Merged {
    Merger::new().merge(text, &file(text), "/anycastd", &snapshot(docs))
}

fn addresses(m: &Merged) -> Vec<String> {
    m.config
        .vips
        .iter()
        .map(|v| v.address.to_string())
        .collect()
}

const WEB: &str = r#"{"interface": "lo", "service": [{"name": "web", "port": 80,
    "backend": [{"address": "10.0.10.11", "port": 8080}]}]}"#;

#[test]
fn a_document_becomes_a_vip_after_the_local_ones_with_the_address_of_its_key() {
    let m = merge(FILE, &[("10.100.0.2", WEB)]);
    assert_eq!(addresses(&m), ["10.100.0.1", "10.100.0.2"]);
    assert_eq!(m.rejected, []);
    assert_eq!(m.vips.len(), 1);
    assert_eq!(
        m.vips[&"10.100.0.2".parse().unwrap()],
        "/anycastd/vips/10.100.0.2"
    );
    let vip = &m.config.vips[1];
    assert_eq!(vip.services[0].name, "web");
    assert_eq!(vip.services[0].backends.len(), 1);
}

#[test]
fn a_vip_applies_to_the_nodes_that_carry_all_of_its_labels() {
    let edge = r#"{"interface": "lo", "node_labels": ["edge"]}"#;
    let both = r#"{"interface": "lo", "node_labels": ["edge", "fra1"]}"#;
    let other = r#"{"interface": "lo", "node_labels": ["edge", "ams1"]}"#;
    let m = merge(
        FILE,
        &[
            ("10.100.0.2", edge),
            ("10.100.0.3", both),
            ("10.100.0.4", other),
        ],
    );
    assert_eq!(addresses(&m), ["10.100.0.1", "10.100.0.2", "10.100.0.3"]);
    assert_eq!(m.not_targeted, 1);
    assert_eq!(m.rejected, []);
    // A node without labels takes only the documents without node_labels.
    let bare = FILE.replace("labels = [\"fra1\", \"edge\"]\n", "");
    let m = merge(&bare, &[("10.100.0.2", edge), ("10.100.0.5", WEB)]);
    assert_eq!(addresses(&m), ["10.100.0.1", "10.100.0.5"]);
    assert_eq!(m.not_targeted, 1);
}

#[test]
fn a_bad_document_is_refused_alone_named_by_its_key_with_the_files_own_message() {
    let bad = r#"{"interface": "lo", "service": [{"name": "dns", "port": 70000}]}"#;
    let m = merge(FILE, &[("10.100.0.2", WEB), ("10.100.0.3", bad)]);
    assert_eq!(addresses(&m), ["10.100.0.1", "10.100.0.2"]);
    assert_eq!(m.rejected.len(), 1, "{:?}", m.rejected);
    assert_eq!(m.rejected[0].key, "/anycastd/vips/10.100.0.3");
    // The path names the document's VIP by address and its service by name, like an API write.
    let error = &m.rejected[0].error;
    assert!(
        error.contains("vip[10.100.0.3].service[dns].port: 70000 is out of range"),
        "{error}"
    );
}

#[test]
fn unknown_keys_non_objects_bad_json_and_bad_keys_are_refused_with_why() {
    let m = merge(
        FILE,
        &[
            ("10.100.0.2", r#"{"interface": "lo", "colour": "red"}"#),
            ("10.100.0.3", "[1, 2]"),
            ("10.100.0.4", "{"),
            ("not-an-address", "{}"),
            ("10.100.0.6", r#"{"node_labels": "edge"}"#),
        ],
    );
    assert_eq!(addresses(&m), ["10.100.0.1"]);
    let errors: Vec<(&str, &str)> = m
        .rejected
        .iter()
        .map(|r| (r.key.as_str(), r.error.as_str()))
        .collect();
    assert_eq!(errors.len(), 5, "{errors:?}");
    assert!(errors[0].1.contains("colour: unknown key"), "{errors:?}");
    assert!(errors[1].1.contains("found an array"), "{errors:?}");
    assert!(errors[2].1.starts_with("not JSON"), "{errors:?}");
    assert!(
        errors[3].1.contains("node_labels: expected an array"),
        "{errors:?}"
    );
    assert_eq!(errors[4].0, "/anycastd/vips/not-an-address");
    assert!(errors[4].1.contains("does not name a VIP"), "{errors:?}");
}

#[test]
fn a_catalog_vip_with_the_address_of_a_local_vip_is_refused_and_the_local_one_kept() {
    let m = merge(FILE, &[("10.100.0.1", WEB)]);
    assert_eq!(addresses(&m), ["10.100.0.1"]);
    assert!(m.config.vips[0].services.is_empty(), "the local VIP stays");
    assert!(
        m.rejected[0].error.contains("also a local [[vip]]"),
        "{:?}",
        m.rejected
    );
}

#[test]
fn a_document_whose_address_contradicts_its_key_is_refused() {
    let m = merge(FILE, &[("10.100.0.2", r#"{"address": "10.100.0.9"}"#)]);
    assert_eq!(m.vips.len(), 0);
    assert!(
        m.rejected[0].error.contains("its key says 10.100.0.2"),
        "{:?}",
        m.rejected
    );
    // The same address written another way is the same address.
    let m = merge(FILE, &[("2001:db8::5", r#"{"address": "2001:DB8::5"}"#)]);
    assert_eq!(
        m.rejected.len(),
        1,
        "no IPv6 peer next hop: refused by validation"
    );
    assert!(
        !m.rejected[0].error.contains("its key says"),
        "{:?}",
        m.rejected
    );
}

#[test]
fn two_documents_that_clash_with_each_other_keep_the_first_key_and_refuse_the_later() {
    let web2 = WEB.replace("10.0.10.11", "10.0.10.12");
    let m = merge(FILE, &[("10.100.0.2", WEB), ("10.100.0.3", &web2)]);
    assert_eq!(addresses(&m), ["10.100.0.1", "10.100.0.2"]);
    assert_eq!(m.rejected.len(), 1);
    assert_eq!(m.rejected[0].key, "/anycastd/vips/10.100.0.3");
    assert!(
        m.rejected[0].error.contains("duplicate service name"),
        "{:?}",
        m.rejected
    );
}

#[test]
fn verdicts_follow_the_file_a_document_refused_against_one_file_is_taken_with_the_next() {
    let mut merger = Merger::new();
    // Only peer 10.0.1.1 exists: a VIP for a peer the file lacks is refused...
    let doc = r#"{"interface": "lo", "peers": ["10.0.2.1"]}"#;
    let snap = snapshot(&[("10.100.0.2", doc)]);
    let m = merger.merge(FILE, &file(FILE), "/anycastd", &snap);
    assert_eq!(m.rejected.len(), 1, "{:?}", m.rejected);
    // ...asked again with the same file it stays refused (from the remembered verdict)...
    let m = merger.merge(FILE, &file(FILE), "/anycastd", &snap);
    assert_eq!(m.rejected.len(), 1);
    // ...and a file that gained the peer takes it.
    let more = format!("{FILE}\n[[bgp.peer]]\naddress = \"10.0.2.1\"\nasn = 65000\n");
    let m = merger.merge(&more, &file(&more), "/anycastd", &snap);
    assert_eq!(m.rejected, []);
    assert_eq!(m.vips.len(), 1);
}

#[test]
fn a_deleted_document_leaves_and_the_others_stay() {
    let mut merger = Merger::new();
    let cfg = file(FILE);
    let two = snapshot(&[
        ("10.100.0.2", WEB),
        ("10.100.0.3", r#"{"interface": "lo"}"#),
    ]);
    assert_eq!(merger.merge(FILE, &cfg, "/anycastd", &two).vips.len(), 2);
    let one = snapshot(&[("10.100.0.3", r#"{"interface": "lo"}"#)]);
    let m = merger.merge(FILE, &cfg, "/anycastd", &one);
    assert_eq!(addresses(&m), ["10.100.0.1", "10.100.0.3"]);
}

#[test]
fn documents_under_another_prefix_are_refused_by_key() {
    let m = Merger::new().merge(
        FILE,
        &file(FILE),
        "/other",
        &snapshot(&[("10.100.0.2", WEB)]),
    );
    assert_eq!(m.vips.len(), 0);
    assert!(m.rejected[0].error.contains("expected /other/vips/ADDRESS"));
}

#[test]
fn the_link_says_the_sync_state_and_the_error() {
    assert_eq!(Link::Starting.state(), SyncState::Stale);
    assert_eq!(Link::Watching.state(), SyncState::Synced);
    assert_eq!(
        Link::Resyncing("compacted".into()).state(),
        SyncState::Stale
    );
    let down = Link::Unreachable("connection refused".into());
    assert_eq!(down.state(), SyncState::Unreachable);
    assert_eq!(down.error(), Some("connection refused"));
    assert_eq!(
        serde_json::to_value(SyncState::Unreachable).unwrap(),
        "unreachable"
    );
}

#[test]
fn a_document_that_turns_bad_is_refused_and_its_previous_version_stays_in_force() {
    let mut merger = Merger::new();
    let cfg = file(FILE);
    let good = snapshot(&[("10.100.0.2", WEB)]);
    assert_eq!(merger.merge(FILE, &cfg, "/anycastd", &good).vips.len(), 1);
    // A value the validation refuses (found by the merged parse)...
    let bad_port = WEB.replace("\"port\": 80,", "\"port\": 0,");
    let m = merger.merge(
        FILE,
        &cfg,
        "/anycastd",
        &snapshot(&[("10.100.0.2", &bad_port)]),
    );
    assert_eq!(addresses(&m), ["10.100.0.1", "10.100.0.2"], "still served");
    assert_eq!(m.config.vips[1].services[0].port, 80, "as it was");
    assert_eq!(m.rejected.len(), 1, "{:?}", m.rejected);
    assert!(m.rejected[0].error.contains("port"), "{:?}", m.rejected);
    assert!(m.rejected[0].error.ends_with(KEPT), "{:?}", m.rejected);
    // ...or one refused before it (not JSON): the same.
    let m = merger.merge(FILE, &cfg, "/anycastd", &snapshot(&[("10.100.0.2", "{")]));
    assert_eq!(addresses(&m), ["10.100.0.1", "10.100.0.2"]);
    assert!(
        m.rejected[0].error.starts_with("not JSON"),
        "{:?}",
        m.rejected
    );
    // A good version again replaces it; a delete removes it for good.
    let web81 = WEB.replace("\"port\": 80,", "\"port\": 81,");
    let m = merger.merge(
        FILE,
        &cfg,
        "/anycastd",
        &snapshot(&[("10.100.0.2", &web81)]),
    );
    assert_eq!(
        (m.rejected.len(), m.config.vips[1].services[0].port),
        (0, 81)
    );
    let m = merger.merge(FILE, &cfg, "/anycastd", &snapshot(&[]));
    assert_eq!(addresses(&m), ["10.100.0.1"]);
    let m = merger.merge(FILE, &cfg, "/anycastd", &snapshot(&[("10.100.0.2", "{")]));
    assert_eq!(
        addresses(&m),
        ["10.100.0.1"],
        "a new bad document has nothing to keep"
    );
}
