//! Any bytes as a frame: `FrameView::command` (the command decoder a firmware uses, written
//! without serde's derived visitors) never panics, and agrees with the serde decoder: both
//! accept or both refuse, and accepted commands encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::{Frame, FrameView, Message};

fuzz_target!(|data: &[u8]| {
    let Ok(view) = FrameView::parse(data) else { return };
    let by_hand = view.command();
    let by_serde = Frame::decode(data).map(|f| f.message);
    match (&by_hand, &by_serde) {
        (Ok(a), Ok(Message::Command(b))) => {
            let mut x = [0u8; 512];
            let mut y = [0u8; 512];
            let x = postcard::to_slice(a, &mut x).expect("a decoded command encodes");
            let y = postcard::to_slice(b, &mut y).expect("a decoded command encodes");
            assert_eq!(x, y);
        }
        (Err(_), Err(_)) => {}
        (Err(_), Ok(m)) => assert!(!matches!(m, Message::Command(_)), "{by_hand:?} vs {by_serde:?}"),
        (Ok(_), _) => panic!("{by_hand:?} vs {by_serde:?}"),
    }
});
