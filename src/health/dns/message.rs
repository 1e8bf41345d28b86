//! DNS messages for the `dns` check (RFC 1035 §4.1): a query out, and of the reply only what
//! the verdict needs: its response code, the TC bit and how many answer records of the asked
//! type it holds. Pure, no I/O. A reply is untrusted bytes: every read is bounds-checked and
//! anything malformed is an error, never a panic.
//!
//! ```text
//!   header (12 bytes)                        question
//!   +----+-----------------------+           +-------------+-------+--------+
//!   | ID |QR|Opcode|AA|TC|RD|RA|Z|RCODE|    | QNAME       | QTYPE | QCLASS |
//!   +----+-----------------------+           | len label … |  u16  | u16=IN |
//!   | QDCOUNT | ANCOUNT | NSCOUNT | ARCOUNT | +-------------+-------+--------+
//!   answer RR: NAME (labels or a pointer) TYPE CLASS TTL(u32) RDLENGTH RDATA
//! ```

/// The only class asked about.
const CLASS_IN: u16 = 1;
/// `qtype = "ANY"`: every answer record counts.
const QTYPE_ANY: u16 = 255;
const HEADER_LEN: usize = 12;
/// Flags of the query: a standard query with RD set (recursion desired), as `dig` sends it: a
/// resolver then answers from its cache or by resolving, an authoritative server ignores it.
const QUERY_FLAGS: u16 = 0x0100;

/// A query for `name` (without its trailing dot, `""` for the root; labels already checked by
/// the config) and `qtype`, class IN, with message id `id`.
pub fn encode_query(id: u16, name: &str, qtype: u16) -> Vec<u8> {
    let mut m = Vec::with_capacity(HEADER_LEN + name.len() + 6);
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&QUERY_FLAGS.to_be_bytes());
    m.extend_from_slice(&[0, 1, 0, 0, 0, 0, 0, 0]); // QDCOUNT 1, no other records
    for label in name.split('.').filter(|l| !l.is_empty()) {
        // The config keeps labels at 1..=63 bytes; clamp anyway rather than write a bad length.
        let label = &label.as_bytes()[..label.len().min(63)];
        m.push(label.len() as u8);
        m.extend_from_slice(label);
    }
    m.push(0);
    m.extend_from_slice(&qtype.to_be_bytes());
    m.extend_from_slice(&CLASS_IN.to_be_bytes());
    m
}

/// What a reply says, as far as the check cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply {
    /// RCODE, the header's 4 bits (no EDNS is sent, so there is no extended code).
    pub rcode: u8,
    /// TC: the server had more to say than fits a UDP datagram.
    pub truncated: bool,
    /// Answer records of the asked type (all of them for ANY): a CNAME alone does not answer
    /// an A query.
    pub answers: u16,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("reply of {0} bytes, shorter than a DNS header")]
    Short(usize),
    #[error("reply id {got:#06x} is not the query's {sent:#06x}")]
    WrongId { got: u16, sent: u16 },
    #[error("message is a query, not a reply")]
    NotAReply,
    #[error("reply to opcode {0}, not a standard query")]
    Opcode(u8),
    #[error("reply with {0} questions")]
    Questions(u16),
    #[error("reply to another question")]
    OtherQuestion,
    #[error("reply ends inside its {0}")]
    Truncated(&'static str),
    #[error("malformed name in the {0}")]
    BadName(&'static str),
}

/// Reads the reply to the query `encode_query(id, name, qtype)` made. The question, when the
/// server echoes it (some leave it out of an error reply), must be the one asked. The answer
/// records are walked to count them; in a truncated (TC) reply, only those that are complete.
pub fn decode_reply(bytes: &[u8], id: u16, name: &str, qtype: u16) -> Result<Reply, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let header = r
        .take(HEADER_LEN, "header")
        .map_err(|_| DecodeError::Short(bytes.len()))?;
    let word = |i: usize| u16::from_be_bytes([header[i], header[i + 1]]);
    let (got, flags, qdcount, ancount) = (word(0), word(2), word(4), word(6));
    if got != id {
        return Err(DecodeError::WrongId { got, sent: id });
    }
    if flags & 0x8000 == 0 {
        return Err(DecodeError::NotAReply);
    }
    let opcode = ((flags >> 11) & 0xF) as u8;
    if opcode != 0 {
        return Err(DecodeError::Opcode(opcode));
    }
    let truncated = flags & 0x0200 != 0;
    let rcode = (flags & 0xF) as u8;
    match qdcount {
        0 => {}
        1 => {
            let asked = r.question_name()?;
            let tail = r.take(4, "question")?;
            let (t, c) = (
                u16::from_be_bytes([tail[0], tail[1]]),
                u16::from_be_bytes([tail[2], tail[3]]),
            );
            if !asked.eq_ignore_ascii_case(name) || t != qtype || c != CLASS_IN {
                return Err(DecodeError::OtherQuestion);
            }
        }
        n => return Err(DecodeError::Questions(n)),
    }
    let mut answers = 0u16;
    for _ in 0..ancount {
        match r.record_type() {
            Ok(t) if t == qtype || qtype == QTYPE_ANY => answers += 1,
            Ok(_) => {}
            // A truncated reply may stop anywhere: count what is complete.
            Err(_) if truncated => break,
            Err(e) => return Err(e),
        }
    }
    Ok(Reply {
        rcode,
        truncated,
        answers,
    })
}

/// A cursor over the reply.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], DecodeError> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or(DecodeError::Truncated(what))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn byte(&mut self, what: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, what)?[0])
    }

    /// The question's name, uncompressed (nothing precedes it that a pointer could name),
    /// labels joined by dots, `""` for the root.
    fn question_name(&mut self) -> Result<String, DecodeError> {
        const WHAT: &str = "question";
        let mut name = String::new();
        loop {
            let len = self.byte(WHAT)?;
            match len {
                0 => return Ok(name),
                1..=63 => {
                    let label = self.take(usize::from(len), WHAT)?;
                    if !name.is_empty() {
                        name.push('.');
                    }
                    // Compared with an ASCII name: any other byte makes it differ anyway.
                    name.extend(label.iter().map(|&b| char::from(b)));
                    if name.len() > 255 {
                        return Err(DecodeError::BadName(WHAT));
                    }
                }
                _ => return Err(DecodeError::BadName(WHAT)),
            }
        }
    }

    /// Skips one resource record of the answer section, returning its TYPE.
    fn record_type(&mut self) -> Result<u16, DecodeError> {
        const WHAT: &str = "answer section";
        // The owner name: labels, ended by the root or by a compression pointer (RFC 1035
        // §4.1.4). A pointer is not followed: only the record's type matters here.
        let mut labels = 0;
        loop {
            match self.byte(WHAT)? {
                0 => break,
                len @ 1..=63 => {
                    self.take(usize::from(len), WHAT)?;
                    labels += 1;
                    if labels > 127 {
                        return Err(DecodeError::BadName(WHAT));
                    }
                }
                0xC0..=0xFF => {
                    self.byte(WHAT)?;
                    break;
                }
                _ => return Err(DecodeError::BadName(WHAT)),
            }
        }
        let fixed = self.take(10, WHAT)?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlength = u16::from_be_bytes([fixed[8], fixed[9]]);
        self.take(usize::from(rdlength), WHAT)?;
        Ok(rtype)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: u16 = 1;
    const AAAA: u16 = 28;
    const CNAME: u16 = 5;

    /// `dig @… example.test A` with id 0xbeef, as the codec must write it.
    const QUERY: &[u8] = &[
        0xbe, 0xef, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, // header: RD, one question
        7, b'e', b'x', b'a', b'm', b'p', b'l', b'e', 4, b't', b'e', b's', b't', 0, // name
        0, 1, 0, 1, // A, IN
    ];

    /// A reply to QUERY: the header with `flags` and `ancount`, the question, then `answers`.
    fn reply(flags: u16, ancount: u16, answers: &[u8]) -> Vec<u8> {
        let mut m = QUERY.to_vec();
        m[2..4].copy_from_slice(&flags.to_be_bytes());
        m[6..8].copy_from_slice(&ancount.to_be_bytes());
        m.extend_from_slice(answers);
        m
    }

    /// An answer record named by a pointer to the question's name (offset 12).
    fn record(rtype: u16, rdata: &[u8]) -> Vec<u8> {
        let mut r = vec![0xC0, 12];
        r.extend_from_slice(&rtype.to_be_bytes());
        r.extend_from_slice(&[0, 1, 0, 0, 0x0e, 0x10]); // IN, TTL 3600
        r.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        r.extend_from_slice(rdata);
        r
    }

    #[test]
    fn a_query_is_written_as_dig_writes_it() {
        assert_eq!(encode_query(0xbeef, "example.test", A), QUERY);
        // The root: one zero byte for the name.
        assert_eq!(
            encode_query(1, "", 2),
            [0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1]
        );
    }

    #[test]
    fn a_reply_gives_its_rcode_and_the_answers_of_the_asked_type() {
        // QR RD RA, NOERROR, one A record.
        let m = reply(0x8180, 1, &record(A, &[10, 1, 2, 3]));
        let r = decode_reply(&m, 0xbeef, "example.test", A).unwrap();
        assert_eq!(
            r,
            Reply {
                rcode: 0,
                truncated: false,
                answers: 1
            }
        );
        // NXDOMAIN, no records.
        let r = decode_reply(&reply(0x8183, 0, &[]), 0xbeef, "example.test", A).unwrap();
        assert_eq!((r.rcode, r.answers), (3, 0));
    }

    #[test]
    fn a_cname_alone_does_not_answer_but_any_counts_everything() {
        let mut answers = record(CNAME, &[3, b'w', b'w', b'w', 0xC0, 12]);
        answers.extend(record(A, &[10, 0, 0, 1]));
        answers.extend(record(A, &[10, 0, 0, 2]));
        let m = reply(0x8180, 3, &answers);
        assert_eq!(
            decode_reply(&m, 0xbeef, "example.test", A).unwrap().answers,
            2
        );
        let only_cname = reply(0x8180, 1, &record(CNAME, &[0]));
        assert_eq!(
            decode_reply(&only_cname, 0xbeef, "example.test", A)
                .unwrap()
                .answers,
            0
        );
        let mut any = QUERY.to_vec();
        any[26..28].copy_from_slice(&255u16.to_be_bytes());
        any[2..4].copy_from_slice(&0x8180u16.to_be_bytes());
        any[6..8].copy_from_slice(&3u16.to_be_bytes());
        any.extend_from_slice(&answers);
        assert_eq!(
            decode_reply(&any, 0xbeef, "example.test", 255)
                .unwrap()
                .answers,
            3
        );
    }

    #[test]
    fn the_question_is_compared_without_case_and_may_be_left_out() {
        let mut m = reply(0x8180, 0, &[]);
        m[13] = b'E';
        assert!(decode_reply(&m, 0xbeef, "example.test", A).is_ok());
        let other = decode_reply(&reply(0x8180, 0, &[]), 0xbeef, "example.org", A);
        assert_eq!(other, Err(DecodeError::OtherQuestion));
        let other = decode_reply(&reply(0x8180, 0, &[]), 0xbeef, "example.test", AAAA);
        assert_eq!(other, Err(DecodeError::OtherQuestion));
        // REFUSED without the question: header only.
        let mut bare = QUERY[..12].to_vec();
        bare[2..4].copy_from_slice(&0x8105u16.to_be_bytes());
        bare[4..6].copy_from_slice(&[0, 0]);
        assert_eq!(
            decode_reply(&bare, 0xbeef, "example.test", A)
                .unwrap()
                .rcode,
            5
        );
    }

    #[test]
    fn the_id_and_the_qr_bit_are_verified() {
        let m = reply(0x8180, 0, &[]);
        assert_eq!(
            decode_reply(&m, 0x1234, "example.test", A),
            Err(DecodeError::WrongId {
                got: 0xbeef,
                sent: 0x1234
            })
        );
        // Our own query reflected back.
        assert_eq!(
            decode_reply(QUERY, 0xbeef, "example.test", A),
            Err(DecodeError::NotAReply)
        );
        // A NOTIFY (opcode 4) reply.
        assert_eq!(
            decode_reply(&reply(0xA180, 0, &[]), 0xbeef, "example.test", A),
            Err(DecodeError::Opcode(4))
        );
    }

    #[test]
    fn a_truncated_reply_counts_only_complete_records() {
        // TC set, ANCOUNT 2, but only one record and half of the next arrived.
        let mut answers = record(A, &[10, 0, 0, 1]);
        answers.extend(&record(A, &[10, 0, 0, 2])[..7]);
        let r = decode_reply(&reply(0x8380, 2, &answers), 0xbeef, "example.test", A).unwrap();
        assert_eq!(
            r,
            Reply {
                rcode: 0,
                truncated: true,
                answers: 1
            }
        );
        // Without TC the same bytes are malformed.
        assert_eq!(
            decode_reply(&reply(0x8180, 2, &answers), 0xbeef, "example.test", A),
            Err(DecodeError::Truncated("answer section"))
        );
    }

    #[test]
    fn short_and_malformed_replies_are_errors() {
        for n in 0..12 {
            assert_eq!(
                decode_reply(&QUERY[..n], 0xbeef, "example.test", A),
                Err(DecodeError::Short(n))
            );
        }
        let m = reply(0x8180, 0, &[]);
        for n in 12..m.len() {
            assert!(
                matches!(
                    decode_reply(&m[..n], 0xbeef, "example.test", A),
                    Err(DecodeError::Truncated("question"))
                ),
                "cut at {n}"
            );
        }
        // Two questions; a label length with the reserved 01 bits; a pointer in the question.
        let mut two = m.clone();
        two[5] = 2;
        assert_eq!(
            decode_reply(&two, 0xbeef, "example.test", A),
            Err(DecodeError::Questions(2))
        );
        let mut bad = m.clone();
        bad[12] = 0x47;
        assert_eq!(
            decode_reply(&bad, 0xbeef, "example.test", A),
            Err(DecodeError::BadName("question"))
        );
        bad[12] = 0xC0;
        assert_eq!(
            decode_reply(&bad, 0xbeef, "example.test", A),
            Err(DecodeError::BadName("question"))
        );
        // An answer whose RDLENGTH runs past the end.
        let mut rec = record(A, &[10, 0, 0, 1]);
        rec[11] = 200;
        assert_eq!(
            decode_reply(&reply(0x8180, 1, &rec), 0xbeef, "example.test", A),
            Err(DecodeError::Truncated("answer section"))
        );
        // ANCOUNT larger than what is there.
        assert_eq!(
            decode_reply(&reply(0x8180, 1, &[]), 0xbeef, "example.test", A),
            Err(DecodeError::Truncated("answer section"))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap, deterministic sweep: every prefix and single-byte change of a valid reply,
        // and pseudo-random messages behind a valid header.
        let valid = reply(
            0x8180,
            2,
            &[record(A, &[1, 2, 3, 4]), record(CNAME, &[0])].concat(),
        );
        for i in 0..valid.len() {
            for b in [0x00, 0x01, 0x3F, 0x40, 0x80, 0xC0, 0xFF] {
                let mut m = valid.clone();
                m[i] = b;
                let _ = decode_reply(&m, 0xbeef, "example.test", A);
                let _ = decode_reply(&m[..i], 0xbeef, "example.test", A);
            }
        }
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..2000 {
            let mut m = valid[..12].to_vec();
            for _ in 0..(seed % 64) {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                m.push(seed as u8);
            }
            m[6] = (seed >> 8) as u8;
            let _ = decode_reply(&m, 0xbeef, "example.test", A);
        }
    }
}
