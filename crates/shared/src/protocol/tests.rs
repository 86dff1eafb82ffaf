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
        Frame::Features {
            flags: features::ALL,
        },
        Frame::Batch {
            codec: Codec::Brotli,
            data: vec![1, 2, 3],
        },
        Frame::Fetch {
            doc_ids: vec!["a".into()],
        },
        Frame::Snapshot {
            doc_id: "a".into(),
            heads: vec![ChangeHash([9; 32]), ChangeHash([8; 32])],
            doc: vec![0x85, 0x6f],
        },
    ]
}

#[test]
fn batches_hold_their_frames_in_order_with_either_codec() {
    let frames: Vec<Vec<u8>> = samples()
        .iter()
        .filter(|f| !matches!(f, Frame::Batch { .. }))
        .map(Frame::encode)
        .collect();
    for codec in [Codec::Deflate, Codec::Brotli] {
        let batch = Frame::batch(&frames, codec);
        let Frame::Batch { codec: c, data } = Frame::decode(&batch.encode()).unwrap() else {
            panic!("not a batch");
        };
        assert_eq!(c, codec);
        assert_eq!(Frame::unbatch(c, &data).unwrap(), frames);
    }
}

#[test]
fn a_bad_batch_is_refused_not_inflated_without_limit() {
    assert!(matches!(
        Frame::unbatch(Codec::Deflate, b"not deflate at all"),
        Err(DecodeError::BadCompression(_) | DecodeError::Truncated)
    ));
    assert_eq!(
        Frame::decode(b"RF\x01\x09\x07\x00"),
        Err(DecodeError::UnknownCodec(7))
    );
    // A batch may not nest another batch.
    let inner = Frame::batch(&[Frame::Features { flags: 0 }.encode()], Codec::Deflate);
    let outer = Frame::batch(&[inner.encode()], Codec::Deflate);
    let Frame::Batch { codec, data } = outer else {
        panic!("not a batch");
    };
    assert_eq!(Frame::unbatch(codec, &data), Err(DecodeError::NestedBatch));
    // Zeros compress to almost nothing: refused once past the limit, in either codec.
    let bomb = vec![0u8; 1 << 20];
    for codec in [Codec::Deflate, Codec::Brotli] {
        let Frame::Batch { data, .. } = Frame::batch(std::slice::from_ref(&bomb), codec) else {
            panic!("not a batch");
        };
        assert!(data.len() < 8 * 1024);
        assert_eq!(
            unbatch_within(codec, &data, 64 * 1024, &mut MAX_ITEMS.clone()),
            Err(DecodeError::TooLarge(64 * 1024 + 1))
        );
    }
}

#[test]
fn a_small_batch_cannot_decode_into_millions_of_entries() {
    // 40 frames of 10,000 empty ids each: 400,000 Strings from a batch of a few KiB.
    let subscribe = Frame::Subscribe {
        doc_ids: vec![String::new(); 10_000],
    }
    .encode();
    let batch = Frame::deflate_batch(&vec![subscribe.clone(); 40]).encode();
    assert!(batch.len() < 64 * 1024, "{}", batch.len());
    assert_eq!(
        Frame::decode_all(&batch),
        Err(DecodeError::TooMany {
            what: "list entries",
            limit: MAX_ITEMS
        })
    );
    // Within the budget the same frames decode.
    let fine = Frame::deflate_batch(&vec![subscribe; 20]).encode();
    assert_eq!(Frame::decode_all(&fine).unwrap().len(), 20);
    // One frame alone is held to the same budget.
    let huge = Frame::Fetch {
        doc_ids: vec![String::new(); MAX_ITEMS + 1],
    }
    .encode();
    assert!(matches!(
        Frame::decode(&huge),
        Err(DecodeError::TooMany { .. })
    ));
}

#[test]
fn a_batch_holds_at_most_max_batch_frames() {
    let tiny = Frame::Features { flags: 0 }.encode();
    let over = Frame::deflate_batch(&vec![tiny.clone(); MAX_BATCH_FRAMES + 1]).encode();
    assert_eq!(
        Frame::decode_all(&over),
        Err(DecodeError::TooMany {
            what: "frames in a batch",
            limit: MAX_BATCH_FRAMES
        })
    );
    let full = Frame::deflate_batch(&vec![tiny; MAX_BATCH_FRAMES]).encode();
    assert_eq!(Frame::decode_all(&full).unwrap().len(), MAX_BATCH_FRAMES);
}

#[test]
fn before_hello_only_a_small_features_or_hello_is_decoded() {
    let hello = Frame::Hello { token: "t".into() };
    assert_eq!(Frame::decode_before_hello(&hello.encode()), Ok(hello));
    let features = Frame::Features { flags: 3 };
    assert_eq!(Frame::decode_before_hello(&features.encode()), Ok(features));
    let batch = Frame::deflate_batch(&[Frame::Hello { token: "t".into() }.encode()]);
    assert_eq!(
        Frame::decode_before_hello(&batch.encode()),
        Err(DecodeError::BeforeHello(T_BATCH))
    );
    let subscribe = Frame::Subscribe {
        doc_ids: vec!["a".into()],
    };
    assert_eq!(
        Frame::decode_before_hello(&subscribe.encode()),
        Err(DecodeError::BeforeHello(T_SUBSCRIBE))
    );
    let long = Frame::Hello {
        token: "x".repeat(MAX_PREAUTH_BYTES),
    }
    .encode();
    assert_eq!(
        Frame::decode_before_hello(&long),
        Err(DecodeError::TooLarge(long.len()))
    );
    assert_eq!(
        Frame::decode_before_hello(b"XX\x01\x09"),
        Err(DecodeError::BadMagic)
    );
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
