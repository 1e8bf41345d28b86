//! The fuzz targets (fuzz/fuzz_targets/*, bodies in anycastd::bgp::fuzzing and
//! anycastd::bfd::fuzzing) on the stable
//! toolchain: every checked-in corpus file, then random mutations of them (bit flips, byte
//! changes, inserts, deletes, splices, length-field tweaks) for a time budget
//! (`FUZZ_SMOKE_SECS`, default 5 s per target). No coverage guidance: this is the regression
//! net that runs with `cargo test`; real fuzzing is `cargo fuzz run` (see fuzz/README.md).
//!
//! `ANYCASTD_WRITE_CORPUS=1 cargo test --test fuzz_smoke write_seed_corpus` regenerates the
//! seed files from messages the speaker really sends and an OPEN as FRR sends it.

use std::net::IpAddr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anycastd::bfd::fuzzing::{decode_datagrams, session_conversation};
use anycastd::bfd::packet::{Diag, Packet, State};
use anycastd::bgp::adj_rib_out::{AdjRibOut, ExportContext};
use anycastd::bgp::fuzzing::{decode_stream, fsm_conversation};
use anycastd::bgp::message::{
    CodecContext, Message, Notification, Open, RouteRefresh, Update, AFI_IPV4, AFI_IPV6,
};
use anycastd::bgp::{RouteAttrs, RouteSet};

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/corpus")
        .join(target)
}

fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(corpus_dir(target))
        .unwrap_or_else(|e| panic!("corpus for {target}: {e}"))
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .collect();
    files.sort();
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

/// Small xorshift PRNG: reproducible from the seed printed on failure.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..1 + rng.below(4) {
        let len = input.len();
        match rng.below(7) {
            0 if len > 0 => {
                let i = rng.below(len);
                input[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.below(len);
                input[i] = rng.next() as u8;
            }
            2 => {
                let i = rng.below(len + 1);
                input.insert(i, rng.next() as u8);
            }
            3 if len > 0 => {
                let i = rng.below(len);
                let n = 1 + rng.below((len - i).min(16));
                input.drain(i..i + n);
            }
            4 => {
                // Splice in part of another seed.
                let other = &seeds[rng.below(seeds.len())];
                if !other.is_empty() {
                    let a = rng.below(other.len());
                    let b = a + rng.below(other.len() - a + 1);
                    let at = rng.below(len + 1);
                    input.splice(at..at, other[a..b].iter().copied());
                }
            }
            5 if len > 2 => {
                // Interesting values in a 2-byte field (lengths everywhere in BGP).
                let i = rng.below(len - 1);
                let v: u16 = [0, 1, 18, 19, 4095, 4096, 4097, 0xffff][rng.below(8)];
                input[i..i + 2].copy_from_slice(&v.to_be_bytes());
            }
            6 if len > 0 => input.truncate(rng.below(len)),
            _ => {}
        }
    }
}

fn run_target(name: &str, target: fn(&[u8])) {
    let seeds = corpus(name);
    assert!(!seeds.is_empty(), "empty corpus for {name}");
    for (i, s) in seeds.iter().enumerate() {
        if catch_unwind(AssertUnwindSafe(|| target(s))).is_err() {
            panic!("{name}: corpus file #{i} panics: {s:02x?}");
        }
    }
    let budget = std::env::var("FUZZ_SMOKE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5);
    let seed = std::env::var("FUZZ_SMOKE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                | 1
        });
    let mut rng = Rng(seed);
    let started = Instant::now();
    let mut execs = 0u64;
    let mut input = Vec::new();
    while started.elapsed() < Duration::from_secs(budget) {
        for _ in 0..256 {
            if execs % 8 == 0 {
                input = seeds[rng.below(seeds.len())].clone();
            }
            mutate(&mut rng, &seeds, &mut input);
            if catch_unwind(AssertUnwindSafe(|| target(&input))).is_err() {
                panic!("{name}: a mutated input panics (FUZZ_SMOKE_SEED={seed}): {input:02x?}");
            }
            execs += 1;
        }
    }
    eprintln!(
        "{name}: {} corpus files + {execs} mutated inputs in {:?} (seed {seed})",
        seeds.len(),
        started.elapsed()
    );
}

#[test]
fn decode_target_survives_its_corpus_and_mutations() {
    run_target("decode", decode_stream);
}

#[test]
fn fsm_target_survives_its_corpus_and_mutations() {
    run_target("fsm", fsm_conversation);
}

#[test]
fn bfd_decode_target_survives_its_corpus_and_mutations() {
    run_target("bfd_decode", decode_datagrams);
}

#[test]
fn bfd_session_target_survives_its_corpus_and_mutations() {
    run_target("bfd_session", |d| {
        session_conversation(d);
    });
}

/// BFD Control packets in every state, as a peer (FRR bfdd: 300 ms, multiplier 3) sends them
/// during bring-up, a Poll Sequence and shutdown.
fn bfd_packets() -> Vec<[u8; 24]> {
    let base = Packet {
        diag: Diag::NONE,
        state: State::Down,
        poll: false,
        final_: false,
        control_plane_independent: false,
        demand: false,
        detect_mult: 3,
        my_discriminator: 7,
        your_discriminator: 0,
        desired_min_tx: 1_000_000,
        required_min_rx: 300_000,
        required_min_echo_rx: 50_000,
    };
    let ours = 0x0a0b_0c0d;
    let init = Packet {
        state: State::Init,
        your_discriminator: ours,
        ..base
    };
    let up = Packet {
        state: State::Up,
        desired_min_tx: 300_000,
        ..init
    };
    let poll = Packet { poll: true, ..up };
    let final_ = Packet { final_: true, ..up };
    let admin = Packet {
        state: State::AdminDown,
        diag: Diag::ADMIN_DOWN,
        ..up
    };
    let down = Packet {
        state: State::Down,
        diag: Diag::DETECTION_TIME_EXPIRED,
        your_discriminator: 0,
        ..up
    };
    [base, init, up, poll, final_, admin, down]
        .iter()
        .map(Packet::encode)
        .collect()
}

/// An OPEN as FRR 8 sends it (one capability per optional parameter, graceful restart and
/// FQDN included), from the codec's unit tests.
const FRR_OPEN: &[u8] = &[
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x00, 0x4a, 0x01, 0x04, 0xfd, 0xe8, 0x00, 0x09, 0x0a, 0x00, 0x00, 0x01, 0x2d, 0x02, 0x06, 0x01,
    0x04, 0x00, 0x01, 0x00, 0x01, 0x02, 0x06, 0x01, 0x04, 0x00, 0x02, 0x00, 0x01, 0x02, 0x02, 0x02,
    0x00, 0x02, 0x06, 0x41, 0x04, 0x00, 0x00, 0xfd, 0xe8, 0x02, 0x04, 0x40, 0x02, 0x00, 0x78, 0x02,
    0x09, 0x49, 0x07, 0x02, b'r', b'1', 0x00, 0x00, 0x00, 0x00,
];

/// The messages the speaker itself sends: OPEN (with graceful restart), UPDATEs for IPv4 and
/// IPv6 with every attribute we use, withdrawals, End-of-RIB, NOTIFICATION, ROUTE-REFRESH.
fn speaker_messages(ctx: &CodecContext) -> Vec<Vec<u8>> {
    let mut out = vec![
        Message::Open(
            Open::ours(65001, 9, "10.0.1.2".parse().unwrap())
                .with_graceful_restart(120, true, true),
        )
        .to_bytes(ctx),
        Message::Keepalive.to_bytes(ctx),
        Message::Notification(Notification::cease(2)).to_bytes(ctx),
        Message::RouteRefresh(RouteRefresh::request(1, 1)).to_bytes(ctx),
        Message::Update(Update::end_of_rib(AFI_IPV4)).to_bytes(ctx),
        Message::Update(Update::end_of_rib(AFI_IPV6)).to_bytes(ctx),
    ];
    let attrs = RouteAttrs::example();
    let routes: RouteSet = ["10.100.0.1", "10.100.0.2", "2001:db8:100::1"]
        .iter()
        .map(|a| (a.parse::<IpAddr>().unwrap(), attrs.clone()))
        .collect();
    // eBGP, iBGP, and IPv4 over an IPv6 next hop (RFC 8950).
    for (ibgp, extended_next_hop) in [(false, false), (true, false), (false, true)] {
        let export = ExportContext {
            peer: "10.0.1.1".parse().unwrap(),
            ibgp,
            local_asn: 65001,
            codec: *ctx,
            ipv4: true,
            ipv6: true,
            next_hop4: (!extended_next_hop).then(|| "10.0.1.2".parse().unwrap()),
            next_hop6: Some("2001:db8:1::2".parse().unwrap()),
            next_hop6_link_local: Some("fe80::2".parse().unwrap()),
            extended_next_hop,
        };
        let mut rib = AdjRibOut::default();
        for u in rib.diff(&routes, &export) {
            out.push(Message::Update(u).to_bytes(ctx));
        }
        for u in rib.diff(&RouteSet::new(), &export) {
            out.push(Message::Update(u).to_bytes(ctx));
        }
    }
    out
}

#[test]
fn write_seed_corpus() {
    if std::env::var_os("ANYCASTD_WRITE_CORPUS").is_none() {
        return; // Only regenerates the checked-in files when asked to.
    }
    let four = CodecContext {
        four_octet_as: true,
    };
    let two = CodecContext::default();
    let mut decode: Vec<Vec<u8>> = Vec::new();
    for (flag, ctx) in [(1u8, four), (0u8, two)] {
        for m in speaker_messages(&ctx) {
            decode.push([&[flag][..], &m].concat());
        }
        decode.push([&[flag][..], FRR_OPEN].concat());
    }
    // A whole stream: OPEN, KEEPALIVE, UPDATEs in one read.
    decode.push([&[1u8][..], &speaker_messages(&four).concat()].concat());

    // FSM conversations: config byte, then ops. A message is 0x80|type, length, body.
    let msg = |m: &[u8]| -> Vec<u8> {
        let kind = m[18];
        let body = &m[19..];
        let mut v = vec![0x80 | kind, body.len().min(255) as u8];
        v.extend_from_slice(&body[..body.len().min(255)]);
        v
    };
    let peer_open = Message::Open(Open::ours(65000, 9, "10.0.0.1".parse().unwrap())).to_bytes(&two);
    let keepalive = Message::Keepalive.to_bytes(&two);
    let updates = speaker_messages(&four);
    let mut fsm: Vec<Vec<u8>> = Vec::new();
    for cfg in [0u8, 1, 8, 16 | 8, 4, 2] {
        // connect, OPEN, KEEPALIVE (established), UPDATEs, keepalive timer, hold timer.
        let mut c = vec![cfg, 6];
        c.extend(msg(&peer_open));
        c.extend(msg(&keepalive));
        for u in &updates[4..] {
            c.extend(msg(u));
        }
        c.extend([5, 4, 0, 6]);
        c.extend(msg(FRR_OPEN));
        c.extend(msg(&keepalive));
        c.extend([10, 9, 8, 2]);
        fsm.push(c);
    }
    // BFD datagrams: a length byte, then the datagram.
    let packets = bfd_packets();
    let mut bfd_decode: Vec<Vec<u8>> = packets.iter().map(|p| [&[24u8][..], p].concat()).collect();
    bfd_decode.push(
        packets
            .iter()
            .flat_map(|p| [&[24u8][..], p].concat())
            .collect(),
    );
    // BFD conversations (see anycastd::bfd::fuzzing::session_conversation): timers, then the
    // peer Down, Init, Up, a poll, time passing, AdminDown from the peer, silence.
    let mut bfd_session: Vec<Vec<u8>> = Vec::new();
    for timers in [[0x1b, 3], [0x12, 3], [0x00, 1], [0x3f, 255]] {
        let mut c = timers.to_vec();
        for (i, p) in packets.iter().enumerate() {
            c.push(0x80 | if i == 0 { 2 } else { 3 });
            c.extend_from_slice(p);
            c.push(0x0a);
        }
        c.extend([0x41, 0x05, 0x3f, 0x3f, 0x60, 0x01]);
        bfd_session.push(c);
    }
    for (target, seeds) in [
        ("decode", decode),
        ("fsm", fsm),
        ("bfd_decode", bfd_decode),
        ("bfd_session", bfd_session),
    ] {
        let dir = corpus_dir(target);
        std::fs::create_dir_all(&dir).unwrap();
        for (i, s) in seeds.iter().enumerate() {
            std::fs::write(dir.join(format!("seed-{i:02}")), s).unwrap();
        }
    }
}
