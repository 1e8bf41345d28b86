//! The message decoder on raw peer bytes: framing, every message type, both codec contexts,
//! and decode(encode(m)) == m for everything that decodes. Body: anycastd::bgp::fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    anycastd::bgp::fuzzing::decode_stream(data);
});
