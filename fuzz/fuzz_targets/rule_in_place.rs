//! Any bytes as a frame: `FrameView::rule_into` (the in-place rule decoder a firmware uses)
//! never panics, and agrees with the serde decoder: both accept or both refuse, and accepted
//! rules encode to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_codec::FrameView;
use telemetra_core::Rule;

fuzz_target!(|data: &[u8]| {
    let Ok(view) = FrameView::parse(data) else { return };
    let mut rule = Rule::default();
    let in_place = view.rule_into(&mut rule);
    let by_serde = view.rule();
    assert_eq!(in_place.is_ok(), by_serde.is_ok(), "{in_place:?} vs {by_serde:?}");
    if let (Ok(place), Ok(part)) = (in_place, by_serde) {
        assert_eq!(place, part.place());
        let mut a = [0u8; 2048];
        let mut b = [0u8; 2048];
        let a = postcard::to_slice(&rule, &mut a).expect("a decoded rule encodes");
        let b = postcard::to_slice(&part.rule, &mut b).expect("a decoded rule encodes");
        assert_eq!(a, b);
    }
});
