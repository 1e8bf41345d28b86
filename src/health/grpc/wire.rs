//! The two messages of `grpc.health.v1.Health/Check` and gRPC's framing, by hand: each
//! message has one field, so a protobuf library would be all overhead. Pure, no I/O; the
//! response is untrusted bytes and anything malformed is an error, never a panic.
//!
//! ```text
//!   gRPC message on HTTP/2 DATA:  | compressed: u8 | length: u32 BE | protobuf bytes |
//!   HealthCheckRequest  { string service = 1; }        -> 0x0A len "service" (absent if "")
//!   HealthCheckResponse { ServingStatus status = 1; }   -> 0x08 varint
//!   ServingStatus: UNKNOWN 0, SERVING 1, NOT_SERVING 2, SERVICE_UNKNOWN 3 (Watch only)
//! ```

/// The method every gRPC health server answers.
pub const PATH: &str = "/grpc.health.v1.Health/Check";
/// `ServingStatus.SERVING`.
pub const SERVING: u64 = 1;

/// The request for `service`, framed (uncompressed).
pub fn encode_request(service: &str) -> Vec<u8> {
    let mut message = Vec::new();
    if !service.is_empty() {
        // proto3 leaves a default (empty) string out of the message.
        message.push(0x0A); // field 1, wire type 2 (length-delimited)
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut framed = vec![0];
    framed.extend_from_slice(&(message.len() as u32).to_be_bytes());
    framed.extend_from_slice(&message);
    framed
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    #[error("empty response body")]
    Empty,
    #[error("response body ends inside its message")]
    Truncated,
    #[error("compressed response, though none was asked for")]
    Compressed,
    #[error("more than one message in a unary response")]
    Trailing,
    #[error("malformed protobuf in the response")]
    Malformed,
}

/// The serving status in a framed `HealthCheckResponse` (the whole body of the response).
pub fn decode_response(body: &[u8]) -> Result<u64, WireError> {
    if body.is_empty() {
        return Err(WireError::Empty);
    }
    let Some((header, rest)) = body.split_first_chunk::<5>() else {
        return Err(WireError::Truncated);
    };
    if header[0] != 0 {
        return Err(WireError::Compressed);
    }
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if rest.len() < len {
        return Err(WireError::Truncated);
    }
    if rest.len() > len {
        return Err(WireError::Trailing);
    }
    status_field(rest)
}

/// Field 1 of the message (the last one, as protobuf merges); absent means UNKNOWN (0).
/// Other fields are skipped, as protobuf readers do, so a newer server still parses.
fn status_field(mut m: &[u8]) -> Result<u64, WireError> {
    let mut status = 0;
    while !m.is_empty() {
        let key = varint(&mut m)?;
        let (field, wire_type) = (key >> 3, key & 7);
        match wire_type {
            0 => {
                let v = varint(&mut m)?;
                if field == 1 {
                    status = v;
                }
            }
            1 => m = skip(m, 8)?,
            2 => {
                let len = usize::try_from(varint(&mut m)?).map_err(|_| WireError::Malformed)?;
                m = skip(m, len)?;
            }
            5 => m = skip(m, 4)?,
            // Groups (3, 4) are gone from proto3; 6 and 7 do not exist.
            _ => return Err(WireError::Malformed),
        }
        if field == 0 {
            return Err(WireError::Malformed);
        }
    }
    Ok(status)
}

fn skip(m: &[u8], n: usize) -> Result<&[u8], WireError> {
    m.get(n..).ok_or(WireError::Malformed)
}

/// A base-128 varint of at most 10 bytes.
fn varint(m: &mut &[u8]) -> Result<u64, WireError> {
    let mut value = 0u64;
    for i in 0..10 {
        let (&b, rest) = m.split_first().ok_or(WireError::Malformed)?;
        *m = rest;
        value |= u64::from(b & 0x7F) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(WireError::Malformed)
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// `ServingStatus` in words, as grpc_health_probe prints it.
pub fn serving_status_name(status: u64) -> String {
    match status {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => format!("status {n}"),
    }
}

/// A gRPC status code's name (grpc/doc/statuscodes.md).
pub fn status_code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
    NAMES.get(code as usize).copied().unwrap_or("unknown code")
}

/// `grpc-message` is percent-encoded (PROTOCOL-HTTP2.md); a bad escape is kept as written.
pub fn decode_message(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (
            text[i],
            text.get(i + 1).copied().and_then(hex),
            text.get(i + 2).copied().and_then(hex),
        ) {
            (b'%', Some(hi), Some(lo)) => {
                out.push((hi * 16 + lo) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_framed_and_leave_an_empty_service_out() {
        assert_eq!(encode_request(""), [0, 0, 0, 0, 0]);
        assert_eq!(
            encode_request("web"),
            [0, 0, 0, 0, 5, 0x0A, 3, b'w', b'e', b'b']
        );
        // A name of 200 bytes needs a two-byte length varint (200 = 0xC8 0x01).
        let long = "a".repeat(200);
        let framed = encode_request(&long);
        assert_eq!(&framed[..8], &[0, 0, 0, 0, 203, 0x0A, 0xC8, 0x01]);
    }

    #[test]
    fn responses_give_their_serving_status() {
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 1]), Ok(SERVING));
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 2]), Ok(2));
        // UNKNOWN (0) is the default, left out by proto3.
        assert_eq!(decode_response(&[0, 0, 0, 0, 0]), Ok(0));
        // Unknown fields of every wire type are skipped; the last status wins.
        let m = [
            0x08, 2, // status NOT_SERVING
            0x10, 0x96, 0x01, // field 2, varint
            0x1A, 2, b'h', b'i', // field 3, bytes
            0x25, 1, 2, 3, 4, // field 4, fixed32
            0x29, 1, 2, 3, 4, 5, 6, 7, 8, // field 5, fixed64
            0x08, 1, // status SERVING
        ];
        let mut framed = vec![0, 0, 0, 0, m.len() as u8];
        framed.extend_from_slice(&m);
        assert_eq!(decode_response(&framed), Ok(SERVING));
    }

    #[test]
    fn malformed_frames_and_messages_are_errors() {
        assert_eq!(decode_response(&[]), Err(WireError::Empty));
        assert_eq!(decode_response(&[0, 0, 0]), Err(WireError::Truncated));
        assert_eq!(
            decode_response(&[0, 0, 0, 0, 2, 0x08]),
            Err(WireError::Truncated)
        );
        assert_eq!(
            decode_response(&[1, 0, 0, 0, 2, 0x08, 1]),
            Err(WireError::Compressed)
        );
        assert_eq!(
            decode_response(&[0, 0, 0, 0, 2, 0x08, 1, 0]),
            Err(WireError::Trailing)
        );
        for bad in [
            &[0x08][..],   // varint missing
            &[0x08, 0x80], // varint never ends
            &[0x0B],       // group start
            &[0x0A, 5, 1], // bytes past the end
            &[0x00, 1],    // field 0
            &[
                0x08, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01,
            ], // > 10 bytes
        ] {
            let mut framed = vec![0, 0, 0, 0, bad.len() as u8];
            framed.extend_from_slice(bad);
            assert_eq!(
                decode_response(&framed),
                Err(WireError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..5000 {
            let len = (seed % 24) as usize;
            let mut body = vec![0, 0, 0, 0, len as u8];
            for _ in 0..len {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                body.push(seed as u8);
            }
            let _ = decode_response(&body);
            let _ = decode_response(&body[..body.len() / 2]);
        }
    }

    #[test]
    fn names_and_messages_read_as_operators_know_them() {
        assert_eq!(serving_status_name(2), "NOT_SERVING");
        assert_eq!(serving_status_name(9), "status 9");
        assert_eq!(status_code_name(5), "NOT_FOUND");
        assert_eq!(status_code_name(99), "unknown code");
        assert_eq!(
            decode_message(b"unknown%20service%3A x"),
            "unknown service: x"
        );
        assert_eq!(decode_message(b"100%"), "100%");
        assert_eq!(decode_message(b"%zz"), "%zz");
    }
}
