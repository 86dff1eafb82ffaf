//! The frame and batch decoder: any bytes a socket delivers decode or are refused with
//! an error, never a panic, and a frame that decodes encodes back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redfolder_shared::protocol::Frame;

fuzz_target!(|data: &[u8]| {
    if let Ok(frames) = Frame::decode_all(data) {
        for frame in frames {
            let again = Frame::decode(&frame.encode()).expect("an encoded frame decodes");
            assert_eq!(again, frame);
        }
    }
    let _ = Frame::decode_before_hello(data);
});
