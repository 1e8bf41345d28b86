//! Durations as operators write them: `"500ms"`, `"2s"`, `"1m"`, `"1h"`, `"1m30s"`, `"0s"`.
//!
//! Deliberately strict: a bare number (`"2"`) or a space (`"2 s"`) is rejected, because a
//! unitless timer is the classic way to configure 2 ms when 2 s was meant.

use std::time::Duration;

/// The accepted forms, for error messages.
pub const DURATION_FORMS: &str =
    r#"a number with a unit, like "500ms", "2s", "1m", "1h" or "1m30s" (units: h, m, s, ms)"#;

/// Parses `"1h2m3s400ms"`-style text: one or more `<digits><unit>` parts, units in descending
/// order, each at most once. Returns `None` when the text is not of that form or overflows.
pub fn parse(text: &str) -> Option<Duration> {
    // Units from largest to smallest; a part must use a unit after the previous part's unit.
    const UNITS: [(&str, u64); 4] = [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)];
    let mut rest = text;
    let mut total_ms: u64 = 0;
    let mut next_unit = 0;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let pos = UNITS.iter().position(|(u, _)| *u == unit)?;
        if pos < next_unit {
            return None;
        }
        next_unit = pos + 1;
        total_ms = total_ms.checked_add(number.checked_mul(UNITS[pos].1)?)?;
    }
    Some(Duration::from_millis(total_ms))
}

/// Formats a duration the way `parse` reads it (`1m30s`, `500ms`, `0s`), for messages.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    let mut out = String::new();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000), ("ms", 1)] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(n: u64) -> Option<Duration> {
        Some(Duration::from_millis(n))
    }

    #[test]
    fn single_units_parse() {
        assert_eq!(parse("2s"), ms(2_000));
        assert_eq!(parse("500ms"), ms(500));
        assert_eq!(parse("1m"), ms(60_000));
        assert_eq!(parse("1h"), ms(3_600_000));
        assert_eq!(parse("0s"), ms(0));
    }

    #[test]
    fn compound_durations_parse_in_descending_units() {
        assert_eq!(parse("1m30s"), ms(90_000));
        assert_eq!(parse("1h2m3s4ms"), ms(3_723_004));
        assert_eq!(parse("1s500ms"), ms(1_500));
    }

    #[test]
    fn unitless_spaced_signed_and_fractional_forms_are_rejected() {
        for bad in [
            "", "2", "2 s", " 2s", "2s ", "-2s", "1.5s", "s", "2x", "2sec", "30s1m", "1s1s", "2S",
            "1m 30s",
        ] {
            assert_eq!(parse(bad), None, "{bad:?} should be rejected");
        }
    }

    #[test]
    fn overflow_is_rejected_not_wrapped() {
        assert_eq!(parse("99999999999999999999s"), None);
        assert_eq!(parse("18446744073709551615h"), None);
    }

    #[test]
    fn format_round_trips() {
        for text in ["0s", "500ms", "2s", "1m30s", "1h", "1h2m3s4ms"] {
            assert_eq!(format(parse(text).unwrap()), text);
        }
    }
}
