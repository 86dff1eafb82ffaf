//! The wire protocol: versioned binary frames carried one per WebSocket binary message.
//!
//! `docs/protocol.md` is the normative description; this module is its implementation.
//! Every frame starts with the magic bytes `RF`, the protocol version and a frame type.

use std::io::{Read, Write};

use automerge::ChangeHash;

use wire::{Reader, Writer};

mod wire;

/// The protocol version this build speaks.
pub const PROTOCOL_VERSION: u8 = 1;
const MAGIC: [u8; 2] = *b"RF";
/// The largest frame either side accepts (16 MiB); larger frames are refused with
/// [`ErrorCode::TooLarge`].
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;
/// The most a [`Frame::Batch`] may hold once decompressed (64 MiB): a larger one is refused
/// as [`DecodeError::TooLarge`] without inflating the rest, so a small frame cannot make
/// its receiver allocate without limit.
pub const MAX_BATCH_BYTES: usize = 64 * 1024 * 1024;
/// The most frames one [`Frame::Batch`] may hold; senders start a new batch at this many.
pub const MAX_BATCH_FRAMES: usize = 16 * 1024;
/// The most list entries (document ids, hashes) and batched frames one WebSocket message
/// may decode into, across every frame of a batch. Lengths are bounded by the bytes
/// present, but an empty entry costs one byte on the wire and a whole `String` in memory:
/// without a count, a 64 MiB batch of empty ids would decode into gigabytes.
pub const MAX_ITEMS: usize = 1 << 18;
/// The largest frame accepted before the connection has authenticated, and then only a
/// [`Frame::Features`] or [`Frame::Hello`] (see [`Frame::decode_before_hello`]).
pub const MAX_PREAUTH_BYTES: usize = 8 * 1024;

/// Optional parts of the protocol, exchanged in [`Frame::Features`]. A side uses one only
/// once the peer has said it supports it, so an older peer is never sent a frame it
/// cannot read.
pub mod features {
    /// [`super::Frame::Batch`]: several frames sent as one, compressed.
    pub const BATCH: u64 = 1;
    /// [`super::Frame::Fetch`] and [`super::Frame::Snapshot`]: a document the device holds
    /// nothing of is sent whole, as stored, instead of through Automerge's sync exchange.
    pub const SNAPSHOT: u64 = 2;
    /// Everything this build supports.
    pub const ALL: u64 = BATCH | SNAPSHOT;
}

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
    /// Either way: the optional parts of the protocol the sender supports (a device sends
    /// it after `Hello`, the server answers with what both support), as [`features`] bits.
    Features { flags: u64 },
    /// Either way, once the peer supports [`features::BATCH`]: several frames as one,
    /// compressed with `codec` (see [`Frame::batch`] and [`Frame::unbatch`]).
    Batch { codec: Codec, data: Vec<u8> },
    /// Device → server, once the server supports [`features::SNAPSHOT`]: start syncing
    /// these documents; the device holds nothing of them, so send each whole.
    Fetch { doc_ids: Vec<DocId> },
    /// Server → device: a whole document as the server stores it (Automerge's storage
    /// format, loadable with `load` or `load_incremental`) and its heads.
    Snapshot {
        doc_id: DocId,
        heads: Vec<ChangeHash>,
        doc: Vec<u8>,
    },
}

/// How a [`Frame::Batch`] is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// Raw DEFLATE (RFC 1951): cheap to make, for the small batches a device sends.
    Deflate,
    /// Brotli (RFC 7932) with a window of up to 4 MiB: for the server's large batches,
    /// where one document's field names, clinicians and phrasing recur in the next.
    Brotli,
}

impl Codec {
    fn to_u8(self) -> u8 {
        match self {
            Codec::Deflate => 1,
            Codec::Brotli => 2,
        }
    }

    fn from_u8(n: u8) -> Result<Codec, DecodeError> {
        match n {
            1 => Ok(Codec::Deflate),
            2 => Ok(Codec::Brotli),
            n => Err(DecodeError::UnknownCodec(n)),
        }
    }
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
    /// The user, device or address has too many sync connections open; the connection
    /// will be closed (the device retries later).
    TooManyConnections,
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
            ErrorCode::TooManyConnections => 9,
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
            9 => ErrorCode::TooManyConnections,
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
            ErrorCode::TooManyConnections => "too_many_connections",
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
    #[error("unknown batch compression {0}")]
    UnknownCodec(u8),
    #[error("the batch does not decompress: {0}")]
    BadCompression(String),
    #[error("a batch may not hold another batch")]
    NestedBatch,
    #[error("the message holds more than {limit} {what}")]
    TooMany { what: &'static str, limit: usize },
    #[error(
        "before Hello only a Features or Hello frame of at most {MAX_PREAUTH_BYTES} bytes is accepted, not frame type {0:#04x}"
    )]
    BeforeHello(u8),
}

const T_HELLO: u8 = 0x01;
const T_WELCOME: u8 = 0x02;
const T_CASELOAD: u8 = 0x03;
const T_SUBSCRIBE: u8 = 0x04;
const T_SYNC: u8 = 0x05;
const T_ACK: u8 = 0x06;
const T_ERROR: u8 = 0x07;
const T_FEATURES: u8 = 0x08;
const T_BATCH: u8 = 0x09;
const T_FETCH: u8 = 0x0a;
const T_SNAPSHOT: u8 = 0x0b;

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
                w.hashes(heads);
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
            Frame::Features { flags } => {
                w.0.push(T_FEATURES);
                w.uint(*flags);
            }
            Frame::Batch { codec, data } => {
                w.0.push(T_BATCH);
                w.0.push(codec.to_u8());
                w.bytes(data);
            }
            Frame::Fetch { doc_ids } => {
                w.0.push(T_FETCH);
                w.strs(doc_ids);
            }
            Frame::Snapshot { doc_id, heads, doc } => {
                w.0.push(T_SNAPSHOT);
                w.str(doc_id);
                w.hashes(heads);
                w.bytes(doc);
            }
        }
        w.0
    }

    /// Packs encoded frames into one [`Frame::Batch`]: each as `bytes`, concatenated, then
    /// compressed. Brotli's quality is chosen for speed on small batches and for ratio on
    /// large ones (a first sync's snapshots), where it pays for itself many times over.
    pub fn batch(frames: &[Vec<u8>], codec: Codec) -> Frame {
        match codec {
            Codec::Deflate => Frame::deflate_batch(frames),
            Codec::Brotli => Frame::brotli_batch(frames),
        }
    }

    /// [`Frame::batch`] with DEFLATE. A device calls only this, so its WebAssembly build
    /// carries no Brotli encoder (it only decodes Brotli).
    pub fn deflate_batch(frames: &[Vec<u8>]) -> Frame {
        let raw = concat_frames(frames);
        let mut z = flate2::write::DeflateEncoder::new(
            Vec::with_capacity(raw.len() / 2),
            flate2::Compression::default(),
        );
        z.write_all(&raw).expect("writing to a Vec");
        Frame::Batch {
            codec: Codec::Deflate,
            data: z.finish().expect("writing to a Vec"),
        }
    }

    /// [`Frame::batch`] with Brotli.
    pub fn brotli_batch(frames: &[Vec<u8>]) -> Frame {
        let raw = concat_frames(frames);
        let quality = if raw.len() < 64 * 1024 { 4 } else { 5 };
        // A window no larger than the input: the encoder's memory follows it.
        let lgwin = raw.len().next_power_of_two().trailing_zeros().clamp(16, 22);
        let params = brotli::enc::BrotliEncoderParams {
            quality,
            lgwin: lgwin as i32,
            size_hint: raw.len(),
            ..Default::default()
        };
        let mut data = Vec::with_capacity(raw.len() / 4);
        brotli::BrotliCompress(&mut raw.as_slice(), &mut data, &params)
            .expect("compressing from and to memory");
        Frame::Batch {
            codec: Codec::Brotli,
            data,
        }
    }

    /// The encoded frames a [`Frame::Batch`] holds, in order. Refuses a batch that
    /// decompresses to more than [`MAX_BATCH_BYTES`], holds a frame larger than
    /// [`MAX_FRAME_BYTES`] or another batch; the frames themselves are decoded by the
    /// caller, one by one.
    pub fn unbatch(codec: Codec, data: &[u8]) -> Result<Vec<Vec<u8>>, DecodeError> {
        unbatch_within(codec, data, MAX_BATCH_BYTES, &mut MAX_ITEMS.clone())
    }

    /// The frames one message holds: the frame itself, or every frame of a
    /// [`Frame::Batch`], all decoded before any is returned, so a malformed batch yields
    /// nothing. The whole message may decode into at most [`MAX_ITEMS`] entries.
    pub fn decode_all(bytes: &[u8]) -> Result<Vec<Frame>, DecodeError> {
        let mut budget = MAX_ITEMS;
        match Frame::decode_counted(bytes, &mut budget)? {
            Frame::Batch { codec, data } => {
                unbatch_within(codec, &data, MAX_BATCH_BYTES, &mut budget)?
                    .iter()
                    .map(|f| Frame::decode_counted(f, &mut budget))
                    .collect()
            }
            frame => Ok(vec![frame]),
        }
    }

    /// The one frame a connection accepts before it has authenticated: a
    /// [`Frame::Features`] or [`Frame::Hello`] of at most [`MAX_PREAUTH_BYTES`], checked
    /// before anything is decoded (a [`Frame::Batch`] is never inflated for a stranger).
    pub fn decode_before_hello(bytes: &[u8]) -> Result<Frame, DecodeError> {
        if bytes.len() > MAX_PREAUTH_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        if let Some(&kind) = bytes.get(3)
            && bytes.starts_with(&MAGIC)
            && kind != T_HELLO
            && kind != T_FEATURES
        {
            return Err(DecodeError::BeforeHello(kind));
        }
        Frame::decode(bytes)
    }

    /// Decodes one frame, refusing anything malformed with a precise reason.
    pub fn decode(bytes: &[u8]) -> Result<Frame, DecodeError> {
        Frame::decode_counted(bytes, &mut MAX_ITEMS.clone())
    }

    /// [`Frame::decode`], taking the list entries it decodes from `budget`.
    fn decode_counted(bytes: &[u8], budget: &mut usize) -> Result<Frame, DecodeError> {
        if bytes.len() > MAX_FRAME_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let mut r = Reader {
            rest: bytes,
            budget,
        };
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
            T_ACK => Frame::Ack {
                doc_id: r.str()?,
                heads: r.hashes()?,
            },
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
            T_FEATURES => Frame::Features { flags: r.uint()? },
            T_BATCH => Frame::Batch {
                codec: Codec::from_u8(r.byte()?)?,
                data: r.bytes()?.to_vec(),
            },
            T_FETCH => Frame::Fetch { doc_ids: r.strs()? },
            T_SNAPSHOT => Frame::Snapshot {
                doc_id: r.str()?,
                heads: r.hashes()?,
                doc: r.bytes()?.to_vec(),
            },
            other => return Err(DecodeError::UnknownType(other)),
        };
        if !r.rest.is_empty() {
            return Err(DecodeError::Trailing(r.rest.len()));
        }
        Ok(frame)
    }
}

/// Each frame as `bytes`, concatenated: what a batch compresses.
fn concat_frames(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut raw = Writer(Vec::with_capacity(frames.iter().map(|f| f.len() + 4).sum()));
    for frame in frames {
        raw.bytes(frame);
    }
    raw.0
}

/// [`Frame::unbatch`] with the limit as a parameter.
fn unbatch_within(
    codec: Codec,
    data: &[u8],
    max: usize,
    budget: &mut usize,
) -> Result<Vec<Vec<u8>>, DecodeError> {
    let limit = max as u64 + 1;
    let mut raw = Vec::new();
    let read = match codec {
        Codec::Deflate => flate2::read::DeflateDecoder::new(data)
            .take(limit)
            .read_to_end(&mut raw),
        Codec::Brotli => brotli::Decompressor::new(data, 4096)
            .take(limit)
            .read_to_end(&mut raw),
    };
    read.map_err(|e| DecodeError::BadCompression(e.to_string()))?;
    if raw.len() > max {
        return Err(DecodeError::TooLarge(raw.len()));
    }
    let mut r = Reader { rest: &raw, budget };
    let mut frames = Vec::new();
    while !r.rest.is_empty() {
        if frames.len() == MAX_BATCH_FRAMES {
            return Err(DecodeError::TooMany {
                what: "frames in a batch",
                limit: MAX_BATCH_FRAMES,
            });
        }
        r.spend(1)?;
        let frame = r.bytes()?;
        if frame.len() > MAX_FRAME_BYTES {
            return Err(DecodeError::TooLarge(frame.len()));
        }
        if frame.get(3) == Some(&T_BATCH) {
            return Err(DecodeError::NestedBatch);
        }
        frames.push(frame.to_vec());
    }
    Ok(frames)
}

#[cfg(test)]
mod tests;
