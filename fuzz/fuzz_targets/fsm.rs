//! The session FSM fed a peer's conversation: decoded messages interleaved with timer and TCP
//! events, with the FSM's invariants checked at every step. Body: anycastd::bgp::fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    anycastd::bgp::fuzzing::fsm_conversation(data);
});
