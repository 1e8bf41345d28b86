//! `anycastd check -c FILE` as operators run it: the real binary, real files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn check(file: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_anycastd"))
        .args(["check", "-c"])
        .arg(file)
        .output()
        .expect("run anycastd")
}

/// Writes `text` to `name` in a new temporary directory and checks it; the directory lives as
/// long as the first value.
fn check_text(name: &str, text: &str) -> (tempfile::TempDir, PathBuf, Output) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(name);
    std::fs::write(&file, text).unwrap();
    let out = check(&file);
    (dir, file, out)
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

#[test]
fn a_valid_file_prints_ok_and_exits_0() {
    let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("config-examples/minimal.toml");
    let out = check(&file);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(stdout(&out), format!("{}: ok\n", file.display()));
}

#[test]
fn an_invalid_file_prints_every_error_with_its_position_and_exits_1() {
    let (_dir, file, out) = check_text(
        "bad.toml",
        concat!(
            "[node]\n",
            "router_id = \"10.0.1.2\"\n",
            "asn = 0\n",
            "[[vip]]\n",
            "address = \"10.0.0.300\"\n",
            "interface = \"averyveryverylongname\"\n",
        ),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let f = file.display();
    assert_eq!(
        stdout(&out),
        format!(
            "{f}:3:7: node.asn: AS 0 is reserved; expected an AS number 1..=4294967295, or asdot like \"1.10\"\n\
             {f}:5:11: vip[0].address: \"10.0.0.300\" is not an IP address\n\
             {f}:6:13: vip[0].interface: interface \"averyveryverylongname\" is longer than 15 bytes\n"
        )
    );
}

#[test]
fn a_syntax_error_is_reported_at_its_position_and_exits_1() {
    let (_dir, file, out) = check_text("syntax.toml", "[node]\nrouter_id = 10.0.1.2\n");
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let text = stdout(&out);
    assert!(
        text.starts_with(&format!("{}:2:", file.display())),
        "{text}"
    );
    assert_eq!(text.lines().count(), 1, "{text}");
}

#[test]
fn a_missing_file_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("absent.toml");
    let out = check(&file);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(stdout(&out).is_empty());
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("absent.toml: cannot read"), "{err}");
}

#[test]
fn a_vip_whose_attributes_cannot_fit_in_one_update_is_rejected_with_the_size() {
    let communities: Vec<String> = (0..1100).map(|i| format!("\"65000:{i}\"")).collect();
    let (_dir, file, out) = check_text(
        "communities.toml",
        &format!(
            "[node]\nrouter_id = \"10.0.1.2\"\nasn = 65001\n[[vip]]\naddress = \"10.100.0.1\"\n\
             communities = [{}]\n",
            communities.join(", ")
        ),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        stdout(&out),
        format!(
            "{}:6:15: vip[0].communities: VIP 10.100.0.1: one route with 1100 communities and 0 \
             large communities (and GRACEFUL_SHUTDOWN while drained) needs an UPDATE of 4491 \
             bytes, more than the 4096-byte BGP message limit; use fewer\n",
            file.display()
        )
    );
}

#[test]
fn durations_beyond_their_bounds_are_rejected_at_their_position() {
    let (_dir, file, out) = check_text(
        "durations.toml",
        concat!(
            "[node]\n",
            "router_id = \"10.0.1.2\"\n",
            "asn = 65001\n",
            "[bgp]\n",
            "shutdown_delay = 9223372036854775807\n",
            "[[vip]]\n",
            "address = \"10.100.0.1\"\n",
            "[vip.check]\n",
            "port = 53\n",
            "interval = \"100000h\"\n",
        ),
    );
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let f = file.display();
    assert_eq!(
        stdout(&out),
        format!(
            "{f}:5:18: bgp.shutdown_delay: 2562047788015215h30m7s is out of range; expected at most 1h\n\
             {f}:10:12: vip[0].check.interval: 100000h is out of range; expected at most 24h\n"
        )
    );
}
