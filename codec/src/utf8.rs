//! UTF-8 validated a character at a time, into a fixed-capacity string.
//!
//! `core::str::from_utf8` is built for long texts (a word-at-a-time ASCII fast path and a
//! 256-byte width table): about 620 bytes of a Cortex-M4's flash, a tenth of a node's codec
//! budget. The codec's strings are names and short texts of at most a few dozen bytes; this
//! decoder is a quarter of that size, needs no `unsafe` (each character is checked by
//! `char::from_u32` and pushed as a `char`), and accepts exactly what `from_utf8` accepts (a
//! property test and an exhaustive test of every one- and two-byte input hold it to that).

/// Appends `bytes` to `out` if they are valid UTF-8 and fit; `None` (with `out` partly
/// written) otherwise. One copy for every capacity: `out` is a string's view
/// (`String::as_mut_view`).
pub(crate) fn push_utf8(bytes: &[u8], out: &mut heapless::string::StringView) -> Option<()> {
    let mut rest = bytes;
    while let Some((c, len)) = next_char(rest) {
        out.push(c).ok()?;
        rest = &rest[len..];
    }
    rest.is_empty().then_some(())
}

/// The first character of `bytes` and its length in bytes; `None` when `bytes` is empty or
/// starts with an invalid sequence (a stray continuation byte, an overlong form, a surrogate,
/// a code point above U+10FFFF, or a sequence cut short).
fn next_char(bytes: &[u8]) -> Option<(char, usize)> {
    let first = *bytes.first()?;
    // The sequence length and the lowest code point it may carry (shorter forms are overlong).
    let (len, bits, min) = match first {
        0x00..=0x7f => return Some((char::from(first), 1)),
        0xc2..=0xdf => (2, first & 0x1f, 0x80),
        0xe0..=0xef => (3, first & 0x0f, 0x800),
        0xf0..=0xf4 => (4, first & 0x07, 0x1_0000),
        _ => return None,
    };
    let mut code = u32::from(bits);
    for &b in bytes.get(1..len)? {
        if b & 0xc0 != 0x80 {
            return None;
        }
        code = code << 6 | u32::from(b & 0x3f);
    }
    // `from_u32` refuses surrogates and code points above U+10FFFF.
    if code < min {
        return None;
    }
    char::from_u32(code).map(|c| (c, len))
}

#[cfg(test)]
mod tests {
    use super::push_utf8;
    use proptest::prelude::*;

    fn ours(bytes: &[u8]) -> Option<heapless::String<64>> {
        let mut out = heapless::String::new();
        push_utf8(bytes, out.as_mut_view()).map(|()| out)
    }

    fn agrees(bytes: &[u8]) -> bool {
        match (ours(bytes), core::str::from_utf8(bytes)) {
            (Some(a), Ok(b)) => a.as_str() == b,
            (None, Err(_)) => true,
            _ => false,
        }
    }

    #[test]
    fn every_one_and_two_byte_input_as_from_utf8() {
        for a in 0..=255u8 {
            assert!(agrees(&[a]), "{a:#x}");
            for b in 0..=255u8 {
                assert!(agrees(&[a, b]), "{a:#x} {b:#x}");
            }
        }
    }

    #[test]
    fn the_edges_of_each_form() {
        for bytes in [
            &[0xe0, 0x9f, 0xbf][..],   // overlong U+07FF
            &[0xe0, 0xa0, 0x80],       // U+0800
            &[0xed, 0x9f, 0xbf],       // U+D7FF
            &[0xed, 0xa0, 0x80],       // a surrogate
            &[0xee, 0x80, 0x80],       // U+E000
            &[0xf0, 0x8f, 0xbf, 0xbf], // overlong U+FFFF
            &[0xf0, 0x90, 0x80, 0x80], // U+10000
            &[0xf4, 0x8f, 0xbf, 0xbf], // U+10FFFF
            &[0xf4, 0x90, 0x80, 0x80], // above U+10FFFF
            &[0xf0, 0x90, 0x80],       // cut short
            "héllo → 🌡".as_bytes(),
        ] {
            assert!(agrees(bytes), "{bytes:x?}");
        }
    }

    #[test]
    fn a_string_over_capacity_is_refused() {
        let mut out = heapless::String::<3>::new();
        assert_eq!(push_utf8(b"abcd", out.as_mut_view()), None);
        let mut out = heapless::String::<4>::new();
        assert_eq!(push_utf8("aé".as_bytes(), out.as_mut_view()), Some(()));
        assert_eq!(out, "aé");
    }

    /// Bytes that are mostly UTF-8-shaped: lead bytes followed by continuation bytes.
    fn utf8ish() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(
            prop_oneof![any::<u8>(), 0x80u8..0xc0, 0xc0u8..0xf8, Just(0xed), Just(0xf4)],
            0..12,
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn accepts_what_from_utf8_accepts(bytes in utf8ish()) {
            prop_assert!(agrees(&bytes), "{:x?}", bytes);
        }

        #[test]
        fn valid_strings_come_back_whole(s in "\\PC{0,16}") {
            let back = ours(s.as_bytes());
            prop_assert_eq!(back.as_deref(), Some(s.as_str()));
        }
    }
}
