//! The wire protocol: versioned binary frames carried one per WebSocket binary message.
//!
//! `docs/protocol.md` is the normative description; this module is its implementation.
//! Every frame starts with the magic bytes `RF`, the protocol version and a frame type.

use automerge::ChangeHash;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 1;
const MAGIC: [u8; 2] = *b"RF";
/// The largest frame either side accepts (16 MiB); larger frames are refused with
/// [`ErrorCode::TooLarge`].
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Identifies one plan document (the patient's id in the server).
pub type DocId = String;

/// One protocol frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// Client → server, first frame on a connection: authenticate with an access token.
    Hello { token: String },
    /// Server → client: the token is good; who the connection belongs to.
    Welcome {
        user_id: String,
        user_name: String,
        role: String,
    },
    /// Server → client: every document this user may sync, so a device can fetch its caseload.
    Caseload { doc_ids: Vec<DocId> },
    /// Client → server: start syncing these documents.
    Subscribe { doc_ids: Vec<DocId> },
    /// Either way: one Automerge sync message for one document. `epoch` and `seq` let the
    /// receiver discard duplicates and detect gaps (see [`crate::sync::Session`]).
    Sync {
        doc_id: DocId,
        epoch: u32,
        seq: u64,
        message: Vec<u8>,
    },
    /// Server → client: everything up to `heads` is durably committed on the server.
    Ack {
        doc_id: DocId,
        heads: Vec<ChangeHash>,
    },
    /// Either way: something went wrong, for one document or (no `doc_id`) the connection.
    Error {
        code: ErrorCode,
        doc_id: Option<DocId>,
        message: String,
    },
}

/// Machine-readable error codes carried by [`Frame::Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// The frame could not be decoded.
    BadFrame,
    /// The peer speaks a protocol version this build does not.
    UnsupportedVersion,
    /// No valid token: the connection will be closed.
    Unauthorized,
    /// The user may not sync this document.
    Forbidden,
    /// A change was refused (permissions or schema); nothing of it was stored.
    Refused,
    /// The frame was larger than [`MAX_FRAME_BYTES`].
    TooLarge,
    /// The device has been revoked and must erase its local data.
    DeviceRevoked,
    /// The server failed; the change was not acknowledged and may be sent again.
    Internal,
    /// A code from a newer peer.
    Other(u16),
}

impl ErrorCode {
    fn to_u16(self) -> u16 {
        match self {
            ErrorCode::BadFrame => 1,
            ErrorCode::UnsupportedVersion => 2,
            ErrorCode::Unauthorized => 3,
            ErrorCode::Forbidden => 4,
            ErrorCode::Refused => 5,
            ErrorCode::TooLarge => 6,
            ErrorCode::DeviceRevoked => 7,
            ErrorCode::Internal => 8,
            ErrorCode::Other(n) => n,
        }
    }

    fn from_u16(n: u16) -> ErrorCode {
        match n {
            1 => ErrorCode::BadFrame,
            2 => ErrorCode::UnsupportedVersion,
            3 => ErrorCode::Unauthorized,
            4 => ErrorCode::Forbidden,
            5 => ErrorCode::Refused,
            6 => ErrorCode::TooLarge,
            7 => ErrorCode::DeviceRevoked,
            8 => ErrorCode::Internal,
            n => ErrorCode::Other(n),
        }
    }

    /// A stable lower-case name, for logs and the app.
    pub fn name(self) -> &'static str {
        match self {
            ErrorCode::BadFrame => "bad_frame",
            ErrorCode::UnsupportedVersion => "unsupported_version",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Forbidden => "forbidden",
            ErrorCode::Refused => "refused",
            ErrorCode::TooLarge => "too_large",
            ErrorCode::DeviceRevoked => "device_revoked",
            ErrorCode::Internal => "internal",
            ErrorCode::Other(_) => "other",
        }
    }
}

/// Why bytes could not be decoded into a [`Frame`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    #[error("frame is {0} bytes, more than the limit of {MAX_FRAME_BYTES}")]
    TooLarge(usize),
    #[error("frame does not start with the RF magic bytes")]
    BadMagic,
    #[error("protocol version {0} is not supported (this build speaks {PROTOCOL_VERSION})")]
    UnsupportedVersion(u8),
    #[error("unknown frame type {0:#04x}")]
    UnknownType(u8),
    #[error("frame ended early")]
    Truncated,
    #[error("frame has {0} unexpected trailing bytes")]
    Trailing(usize),
    #[error("a length or number in the frame is out of range")]
    Overflow,
    #[error("a string in the frame is not UTF-8")]
    NotUtf8,
}

const T_HELLO: u8 = 0x01;
const T_WELCOME: u8 = 0x02;
const T_CASELOAD: u8 = 0x03;
const T_SUBSCRIBE: u8 = 0x04;
const T_SYNC: u8 = 0x05;
const T_ACK: u8 = 0x06;
const T_ERROR: u8 = 0x07;

impl Frame {
    /// Encodes the frame for the wire.
    pub fn encode(&self) -> Vec<u8> {
        let mut w = Writer(Vec::with_capacity(64));
        w.0.extend_from_slice(&MAGIC);
        w.0.push(PROTOCOL_VERSION);
        match self {
            Frame::Hello { token } => {
                w.0.push(T_HELLO);
                w.str(token);
            }
            Frame::Welcome {
                user_id,
                user_name,
                role,
            } => {
                w.0.push(T_WELCOME);
                w.str(user_id);
                w.str(user_name);
                w.str(role);
            }
            Frame::Caseload { doc_ids } => {
                w.0.push(T_CASELOAD);
                w.strs(doc_ids);
            }
            Frame::Subscribe { doc_ids } => {
                w.0.push(T_SUBSCRIBE);
                w.strs(doc_ids);
            }
            Frame::Sync {
                doc_id,
                epoch,
                seq,
                message,
            } => {
                w.0.push(T_SYNC);
                w.str(doc_id);
                w.uint(u64::from(*epoch));
                w.uint(*seq);
                w.bytes(message);
            }
            Frame::Ack { doc_id, heads } => {
                w.0.push(T_ACK);
                w.str(doc_id);
                w.uint(heads.len() as u64);
                for h in heads {
                    w.0.extend_from_slice(&h.0);
                }
            }
            Frame::Error {
                code,
                doc_id,
                message,
            } => {
                w.0.push(T_ERROR);
                w.uint(u64::from(code.to_u16()));
                match doc_id {
                    Some(id) => {
                        w.0.push(1);
                        w.str(id);
                    }
                    None => w.0.push(0),
                }
                w.str(message);
            }
        }
        w.0
    }

    /// Decodes one frame, refusing anything malformed with a precise reason.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let mut r = Reader(bytes);
        if r.take(2)? != MAGIC {
            return Err(DecodeError::BadMagic);
        }
        let version = r.byte()?;
        if version != PROTOCOL_VERSION {
            return Err(DecodeError::UnsupportedVersion(version));
        }
        let frame = match r.byte()? {
            T_HELLO => Frame::Hello { token: r.str()? },
            T_WELCOME => Frame::Welcome {
                user_id: r.str()?,
                user_name: r.str()?,
                role: r.str()?,
            },
            T_CASELOAD => Frame::Caseload { doc_ids: r.strs()? },
            T_SUBSCRIBE => Frame::Subscribe { doc_ids: r.strs()? },
            T_SYNC => Frame::Sync {
                doc_id: r.str()?,
                epoch: u32::try_from(r.uint()?).map_err(|_| DecodeError::Overflow)?,
                seq: r.uint()?,
                message: r.bytes()?.to_vec(),
            },
            T_ACK => {
                let doc_id = r.str()?;
                let n = r.len()?;
                let mut heads = Vec::with_capacity(n.min(1024));
                for _ in 0..n {
                    let raw: [u8; 32] = r.take(32)?.try_into().expect("took 32 bytes");
                    heads.push(ChangeHash(raw));
                }
                Frame::Ack { doc_id, heads }
            }
            T_ERROR => {
                let code = u16::try_from(r.uint()?).map_err(|_| DecodeError::Overflow)?;
                let doc_id = match r.byte()? {
                    0 => None,
                    _ => Some(r.str()?),
                };
                Frame::Error {
                    code: ErrorCode::from_u16(code),
                    doc_id,
                    message: r.str()?,
                }
            }
            other => return Err(DecodeError::UnknownType(other)),
        };
        if !r.0.is_empty() {
            return Err(DecodeError::Trailing(r.0.len()));
        }
        Ok(frame)
    }
}

struct Writer(Vec<u8>);

impl Writer {
    /// Unsigned LEB128.
    fn uint(&mut self, mut n: u64) {
        loop {
            let byte = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.0.push(byte);
                return;
            }
            self.0.push(byte | 0x80);
        }
    }

    fn bytes(&mut self, b: &[u8]) {
        self.uint(b.len() as u64);
        self.0.extend_from_slice(b);
    }

    fn str(&mut self, s: &str) {
        self.bytes(s.as_bytes());
    }

    fn strs(&mut self, items: &[String]) {
        self.uint(items.len() as u64);
        for s in items {
            self.str(s);
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError::Truncated);
        }
        let (head, tail) = self.0.split_at(n);
        self.0 = tail;
        Ok(head)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn uint(&mut self) -> Result<u64, DecodeError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            let part = u64::from(b & 0x7f);
            if shift == 63 && part > 1 {
                return Err(DecodeError::Overflow);
            }
            n |= part << shift;
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(DecodeError::Overflow)
    }

    /// A length, which can never exceed the bytes left in the frame.
    fn len(&mut self) -> Result<usize, DecodeError> {
        let n = usize::try_from(self.uint()?).map_err(|_| DecodeError::Overflow)?;
        if n > self.0.len() {
            return Err(DecodeError::Truncated);
        }
        Ok(n)
    }

    fn bytes(&mut self) -> Result<&'a [u8], DecodeError> {
        let n = self.len()?;
        self.take(n)
    }

    fn str(&mut self) -> Result<String, DecodeError> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| DecodeError::NotUtf8)
    }

    fn strs(&mut self) -> Result<Vec<String>, DecodeError> {
        let n = self.len()?;
        (0..n).map(|_| self.str()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Frame> {
        vec![
            Frame::Hello {
                token: "tok".into(),
            },
            Frame::Welcome {
                user_id: "u1".into(),
                user_name: "Dr A".into(),
                role: "case_manager".into(),
            },
            Frame::Caseload {
                doc_ids: vec!["a".into(), "b".into()],
            },
            Frame::Subscribe { doc_ids: vec![] },
            Frame::Sync {
                doc_id: "a".into(),
                epoch: 3,
                seq: 300,
                message: vec![0x42, 1, 2],
            },
            Frame::Ack {
                doc_id: "a".into(),
                heads: vec![ChangeHash([7; 32])],
            },
            Frame::Error {
                code: ErrorCode::Refused,
                doc_id: Some("a".into()),
                message: "no".into(),
            },
            Frame::Error {
                code: ErrorCode::Other(999),
                doc_id: None,
                message: String::new(),
            },
        ]
    }

    #[test]
    fn every_frame_round_trips() {
        for f in samples() {
            assert_eq!(Frame::decode(&f.encode()).unwrap(), f);
        }
    }

    #[test]
    fn malformed_frames_get_a_precise_error() {
        assert_eq!(Frame::decode(b"XX\x01\x01"), Err(DecodeError::BadMagic));
        assert_eq!(
            Frame::decode(b"RF\x09\x01"),
            Err(DecodeError::UnsupportedVersion(9))
        );
        assert_eq!(
            Frame::decode(b"RF\x01\x7f"),
            Err(DecodeError::UnknownType(0x7f))
        );
        assert_eq!(Frame::decode(b"RF"), Err(DecodeError::Truncated));
        // A length prefix that claims more bytes than the frame holds.
        assert_eq!(
            Frame::decode(b"RF\x01\x01\x05ab"),
            Err(DecodeError::Truncated)
        );
        let mut trailing = Frame::Hello { token: "t".into() }.encode();
        trailing.push(0);
        assert_eq!(Frame::decode(&trailing), Err(DecodeError::Trailing(1)));
        assert_eq!(
            Frame::decode(b"RF\x01\x01\x02\xff\xfe"),
            Err(DecodeError::NotUtf8)
        );
        assert_eq!(
            Frame::decode(&vec![0; MAX_FRAME_BYTES + 1]),
            Err(DecodeError::TooLarge(MAX_FRAME_BYTES + 1))
        );
    }

    #[test]
    fn truncating_any_frame_anywhere_is_an_error_not_a_panic() {
        for f in samples() {
            let bytes = f.encode();
            for cut in 0..bytes.len() {
                assert!(Frame::decode(&bytes[..cut]).is_err(), "{f:?} cut at {cut}");
            }
        }
    }
}
