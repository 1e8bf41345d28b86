//! Test helpers for the netlink fixtures: bytes out of annotated hex dumps.

/// Bytes from a hex string, whitespace ignored.
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    digits
        .chunks(2)
        .map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap())
        .collect()
}

/// Strips the annotations: keeps only the runs of hex digits before each comment.
pub(super) fn fixture(annotated: &str) -> Vec<u8> {
    let mut out = String::new();
    for line in annotated.lines() {
        for word in line.split_whitespace() {
            if word.bytes().all(|b| b.is_ascii_hexdigit()) && word.len() % 2 == 0 {
                out.push_str(word);
            } else {
                break;
            }
        }
    }
    hex(&out)
}
