//! The BFD Control packet decoder on raw datagrams: every §6.8.6 check it promises holds for
//! what it accepts, and decode(encode(p)) == p. Body: anycastd::bfd::fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    anycastd::bfd::fuzzing::decode_datagrams(data);
});
