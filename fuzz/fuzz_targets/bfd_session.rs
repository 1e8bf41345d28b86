//! One BFD session fed a peer's datagrams, reloads, AdminDown and the passing of time on a
//! virtual clock, with its invariants checked at every step. Body: anycastd::bfd::fuzzing.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    anycastd::bfd::fuzzing::session_conversation(data);
});
