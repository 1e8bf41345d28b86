//! Tests of `config::parse`: one per rule, each asserting the message and its exact line:column,
//! plus defaults, error collection and the shipped examples.
//!
//! Texts are written as arrays of lines so positions are easy to count: line N is element N-1.
//! `with_node` prepends the three `[node]` lines every valid file needs, so the first line a test
//! gives is line 4.

mod bgp;
mod catalog;
mod check;
mod check_types;
mod general;
mod policy;
mod service;
mod vip;

use super::{parse, Config};

const NODE: [&str; 3] = ["[node]", r#"router_id = "10.0.1.2""#, "asn = 65001"];

fn with_node<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    NODE.iter().copied().chain(lines.iter().copied()).collect()
}

/// A VIP (lines 4-5), service "web" (lines 6-8) and the given lines, then one backend (last two lines).
fn service(extra: &[&'static str]) -> Vec<&'static str> {
    let mut lines = with_node(&[
        "[[vip]]",                   // 4
        r#"address = "10.100.0.1""#, // 5
        "[[vip.service]]",           // 6
        r#"name = "web""#,           // 7
        "port = 80",                 // 8
    ]);
    lines.extend(extra);
    lines.extend(["[[vip.service.backend]]", r#"address = "10.0.10.11""#]);
    lines
}

fn text(lines: &[&str]) -> String {
    let mut t = lines.join("\n");
    t.push('\n');
    t
}

/// Every error as (line, col, message).
fn errors(lines: &[&str]) -> Vec<(usize, usize, String)> {
    match parse(&text(lines), "test.toml") {
        Ok(_) => Vec::new(),
        Err(e) => e
            .errors
            .into_iter()
            .map(|e| (e.line, e.col, e.message))
            .collect(),
    }
}

#[track_caller]
fn parse_ok(lines: &[&str]) -> Config {
    match parse(&text(lines), "test.toml") {
        Ok(c) => c,
        Err(e) => panic!("expected a valid config, got:\n{e}"),
    }
}

/// Asserts that the file has exactly these errors, as (line, col, message), in this order.
#[track_caller]
fn assert_errors(lines: &[&str], expected: &[(usize, usize, &str)]) {
    let expected: Vec<(usize, usize, String)> = expected
        .iter()
        .map(|(l, c, m)| (*l, *c, m.to_string()))
        .collect();
    assert_eq!(errors(lines), expected);
}

/// Asserts that the file has exactly one error, at `line:col`, whose message contains `part`.
#[track_caller]
fn assert_one(lines: &[&str], line: usize, col: usize, part: &str) {
    let errors = errors(lines);
    assert_eq!(errors.len(), 1, "expected one error, got {errors:#?}");
    let (l, c, message) = &errors[0];
    assert!(
        message.contains(part),
        "{message:?} does not contain {part:?}"
    );
    assert_eq!((*l, *c), (line, col), "position of {message:?}");
}
