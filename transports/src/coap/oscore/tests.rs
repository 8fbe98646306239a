//! RFC 8613 Appendix C: the test vectors (key derivation C.1–C.3, protected requests C.4–C.6,
//! protected responses C.7–C.8), byte for byte, and the refusals around them.

use std::vec::Vec;

use super::*;
use crate::coap::Message;

fn h(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}

const SECRET: &str = "0102030405060708090a0b0c0d0e0f10";
const SALT: &str = "9e7ca92223786340";
const ID_CONTEXT: &str = "37cbf3210017a2d3";

fn context(salt: &str, sender: &str, recipient: &str, id_context: Option<&str>) -> SecurityContext {
    let ctx = id_context.map(h);
    SecurityContext::derive(&h(SECRET), &h(salt), &h(sender), &h(recipient), ctx.as_deref()).unwrap()
}

#[test]
fn c1_c2_c3_key_derivation() {
    // (salt, sender, recipient, id context, sender key, recipient key, common IV, sender nonce, recipient nonce)
    let cases = [
        (
            SALT,
            "",
            "01",
            None,
            "f0910ed7295e6ad4b54fc793154302ff",
            "ffb14e093c94c9cac9471648b4f98710",
            "4622d4dd6d944168eefb54987c",
            "4622d4dd6d944168eefb54987c",
            "4722d4dd6d944169eefb54987c",
        ),
        (
            SALT,
            "01",
            "",
            None,
            "ffb14e093c94c9cac9471648b4f98710",
            "f0910ed7295e6ad4b54fc793154302ff",
            "4622d4dd6d944168eefb54987c",
            "4722d4dd6d944169eefb54987c",
            "4622d4dd6d944168eefb54987c",
        ),
        (
            "",
            "00",
            "01",
            None,
            "321b26943253c7ffb6003b0b64d74041",
            "e57b5635815177cd679ab4bcec9d7dda",
            "be35ae297d2dace910c52e99f9",
            "bf35ae297d2dace910c52e99f9",
            "bf35ae297d2dace810c52e99f9",
        ),
        (
            SALT,
            "",
            "01",
            Some(ID_CONTEXT),
            "af2a1300a5e95788b356336eeecd2b92",
            "e39a0c7c77b43f03b4b39ab9a268699f",
            "2ca58fb85ff1b81c0b7181b85e",
            "2ca58fb85ff1b81c0b7181b85e",
            "2da58fb85ff1b81d0b7181b85e",
        ),
    ];
    for (salt, s, r, c, sk, rk, iv, sn, rn) in cases {
        let ctx = context(salt, s, r, c);
        assert_eq!(ctx.sender_key().to_vec(), h(sk), "sender key {s}->{r}");
        assert_eq!(ctx.recipient_key().to_vec(), h(rk), "recipient key {s}->{r}");
        assert_eq!(ctx.common_iv().to_vec(), h(iv));
        assert_eq!(ctx.nonce(&h(s), &[0]).to_vec(), h(sn), "sender nonce, Partial IV 0");
        assert_eq!(ctx.nonce(&h(r), &[0]).to_vec(), h(rn), "recipient nonce, Partial IV 0");
    }
}

const C4_PLAIN: &str = "44015d1f00003974396c6f63616c686f737483747631";
const C4_PROTECTED: &str = "44025d1f00003974396c6f63616c686f7374620914ff612f1092f1776f1c1668b3825e";
const C7_PLAIN: &str = "64455d1f00003974ff48656c6c6f20576f726c6421";
const C7_PROTECTED: &str = "64445d1f0000397490ffdbaad1e9a7e7b2a813d3c31524378303cdafae119106";
const C8_PROTECTED: &str = "64445d1f00003974920100ff4d4c13669384b67354b2b6175ff4b8658c666a6cf88e";

#[test]
fn c4_c5_c6_requests_protected_byte_for_byte() {
    let cases = [
        (context(SALT, "", "01", None), C4_PLAIN, C4_PROTECTED),
        (
            context("", "00", "01", None),
            "440171c30000b932396c6f63616c686f737483747631",
            "440271c30000b932396c6f63616c686f737463091400ff4ed339a5a379b0b8bc731fffb0",
        ),
        (
            context(SALT, "", "01", Some(ID_CONTEXT)),
            "44012f8eef9bbf7a396c6f63616c686f737483747631",
            "44022f8eef9bbf7a396c6f63616c686f73746b19140837cbf3210017a2d3ff72cd7273fd331ac45cffbe55c3",
        ),
    ];
    for (mut ctx, plain, protected) in cases {
        ctx.set_sender_sequence(20);
        let plain = h(plain);
        let mut buf = [0u8; 256];
        let (bytes, _) = protect_request(&mut ctx, &Message::parse(&plain).unwrap(), &mut buf).unwrap();
        assert_eq!(bytes.to_vec(), h(protected));
        assert_eq!(ctx.sender_sequence(), 21);
    }
}

#[test]
fn c4_unprotected_by_the_server_and_replay_refused() {
    let mut server = context(SALT, "01", "", None);
    let protected = h(C4_PROTECTED);
    let outer = Message::parse(&protected).unwrap();
    let mut buf = [0u8; 256];
    let (plain, _) = unprotect_request(&mut server, &outer, &mut buf).unwrap();
    assert_eq!(plain.to_vec(), h(C4_PLAIN), "the request as the client wrote it");
    assert_eq!(unprotect_request(&mut server, &outer, &mut buf).unwrap_err(), OscoreError::Replay);
}

#[test]
fn c7_c8_responses() {
    // The client protects C.4 (sequence number 20), keeping what binds the response.
    let mut client = context(SALT, "", "01", None);
    client.set_sender_sequence(20);
    let (c4, c7p, c8p) = (h(C4_PLAIN), h(C7_PROTECTED), h(C8_PROTECTED));
    let mut buf = [0u8; 256];
    let (_, client_binding) = protect_request(&mut client, &Message::parse(&c4).unwrap(), &mut buf).unwrap();
    // The server takes it and answers C.7, reusing the request's nonce.
    let mut server = context(SALT, "01", "", None);
    let c4p = h(C4_PROTECTED);
    let (_, binding) = unprotect_request(&mut server, &Message::parse(&c4p).unwrap(), &mut buf).unwrap();
    assert_eq!(binding, client_binding, "both sides bind the response to the same request");
    let c7 = h(C7_PLAIN);
    let mut out = [0u8; 256];
    let bytes = protect_response(&mut server, &binding, &Message::parse(&c7).unwrap(), &mut out).unwrap();
    assert_eq!(bytes.to_vec(), c7p);
    // The client opens C.7 and C.8 (a response with its own Partial IV).
    for protected in [&c7p, &c8p] {
        let plain =
            unprotect_response(&mut client, &client_binding, &Message::parse(protected).unwrap(), &mut out)
                .unwrap();
        assert_eq!(plain.to_vec(), c7, "Hello World!");
    }
}

#[test]
fn altered_messages_wrong_kids_and_broken_options_are_refused() {
    let mut buf = [0u8; 256];
    let mut altered = h(C4_PROTECTED);
    *altered.last_mut().unwrap() ^= 1;
    let mut server = context(SALT, "01", "", None);
    assert_eq!(
        unprotect_request(&mut server, &Message::parse(&altered).unwrap(), &mut buf).unwrap_err(),
        OscoreError::Decrypt
    );
    // A failed request does not burn its Partial IV: the genuine one is still taken.
    let genuine = h(C4_PROTECTED);
    assert!(unprotect_request(&mut server, &Message::parse(&genuine).unwrap(), &mut buf).is_ok());
    // Another recipient (kid 00 expected).
    let mut other = context(SALT, "01", "00", None);
    assert_eq!(
        unprotect_request(&mut other, &Message::parse(&genuine).unwrap(), &mut buf).unwrap_err(),
        OscoreError::UnknownKid
    );
    // Not protected at all; an option with reserved flags.
    let plain = h(C4_PLAIN);
    assert_eq!(
        unprotect_request(&mut server, &Message::parse(&plain).unwrap(), &mut buf).unwrap_err(),
        OscoreError::NotProtected
    );
    let mut reserved = h(C4_PROTECTED);
    let at = reserved.windows(2).position(|w| w == [0x09, 0x14]).unwrap();
    reserved[at] = 0x89;
    assert_eq!(
        unprotect_request(&mut server, &Message::parse(&reserved).unwrap(), &mut buf).unwrap_err(),
        OscoreError::BadOption
    );
}

#[test]
fn a_persisted_sequence_number_is_never_reused_after_a_reboot() {
    let plain = h(C4_PLAIN);
    let plain = Message::parse(&plain).unwrap();
    let mut buf = [0u8; 256];
    let mut stored = None;
    let mut server = context(SALT, "01", "", None);
    let mut used = Vec::new();
    for _boot in 0..3 {
        let mut client = context(SALT, "", "01", None);
        if let Some(s) = stored {
            client.set_sender_sequence(s);
        }
        client.persist_every(4);
        for _ in 0..6 {
            let (bytes, binding) = loop {
                match protect_request(&mut client, &plain, &mut buf) {
                    Err(OscoreError::PersistFirst) => {
                        let value = client.to_persist().unwrap();
                        stored = Some(value);
                        client.persisted(value);
                    }
                    other => break other.unwrap(),
                }
            };
            let bytes = bytes.to_vec();
            let mut out = [0u8; 256];
            assert!(
                unprotect_request(&mut server, &Message::parse(&bytes).unwrap(), &mut out).is_ok(),
                "fresh after every reboot"
            );
            used.push(binding);
        }
    }
    // 18 requests over three boots, every nonce different.
    for (i, a) in used.iter().enumerate() {
        assert!(used[i + 1..].iter().all(|b| b != a), "nonce reused");
    }
}

/// A GET of `/tv1`, with `echo` in its Echo option if given.
fn get(echo: Option<&[u8]>, buf: &mut [u8]) -> usize {
    let mut b =
        crate::coap::Builder::new(buf, crate::coap::Type::Con, crate::coap::Code::GET, 7, &[1]).unwrap();
    b.option(crate::coap::OptionNumber::URI_PATH, b"tv1").unwrap();
    if let Some(e) = echo {
        b.option(crate::coap::OptionNumber::ECHO, e).unwrap();
    }
    b.finish().len()
}

#[test]
fn a_restarted_server_takes_nothing_until_a_request_echoes_its_challenge() {
    let mut client = context(SALT, "", "01", None);
    let mut server = context(SALT, "01", "", None);
    let (mut plain, mut buf, mut out) = ([0u8; 64], [0u8; 256], [0u8; 256]);
    let len = get(None, &mut plain);
    let (first, first_binding) =
        protect_request(&mut client, &Message::parse(&plain[..len]).unwrap(), &mut buf)
            .map(|(b, binding)| (b.to_vec(), binding))
            .unwrap();
    assert!(unprotect_request(&mut server, &Message::parse(&first).unwrap(), &mut out).is_ok());

    // The server restarts without its window: the captured request authenticates but is not
    // taken, and the challenge answering it carries a Partial IV of the server's own.
    let mut server = context(SALT, "01", "", None);
    server.recover_replay_window(*b"restart1");
    let replayed = Message::parse(&first).unwrap();
    assert_eq!(
        unprotect_request(&mut server, &replayed, &mut out).unwrap_err(),
        OscoreError::FreshnessUnknown
    );
    let challenge = echo_challenge(&mut server, &replayed, &mut out).unwrap().to_vec();
    let challenge = Message::parse(&challenge).unwrap();
    assert!(challenge.option(crate::coap::OptionNumber::OSCORE).is_some_and(|o| o.len() > 1));
    assert_eq!(server.sender_sequence(), 1, "the challenge spent a sequence number, not the request's nonce");
    let mut inner = [0u8; 256];
    let inner = unprotect_response(&mut client, &first_binding, &challenge, &mut inner).unwrap();
    let inner = Message::parse(inner).unwrap();
    assert_eq!(inner.code, crate::coap::Code::UNAUTHORIZED);
    let echo = inner.option(crate::coap::OptionNumber::ECHO).unwrap().to_vec();
    assert_eq!(echo, b"restart1");

    // A new request with another Echo value is not taken either; one with the value is.
    let len = get(Some(b"restart0"), &mut plain);
    let (wrong, _) = protect_request(&mut client, &Message::parse(&plain[..len]).unwrap(), &mut buf).unwrap();
    let wrong = wrong.to_vec();
    assert_eq!(
        unprotect_request(&mut server, &Message::parse(&wrong).unwrap(), &mut out).unwrap_err(),
        OscoreError::FreshnessUnknown
    );
    let len = get(Some(&echo), &mut plain);
    let (echoed, _) =
        protect_request(&mut client, &Message::parse(&plain[..len]).unwrap(), &mut buf).unwrap();
    let echoed = echoed.to_vec();
    let (taken, _) = unprotect_request(&mut server, &Message::parse(&echoed).unwrap(), &mut out).unwrap();
    assert_eq!(Message::parse(taken).unwrap().option(crate::coap::OptionNumber::URI_PATH), Some(&b"tv1"[..]));
    assert!(!server.is_recovering());

    // From now on every earlier request is a replay, and so is the echoed one again.
    for old in [&first, &wrong, &echoed] {
        assert_eq!(
            unprotect_request(&mut server, &Message::parse(old).unwrap(), &mut out).unwrap_err(),
            OscoreError::Replay
        );
    }
    assert_eq!(echo_challenge(&mut server, &replayed, &mut out).unwrap_err(), OscoreError::NoChallenge);
}

#[test]
fn a_context_never_prints_its_keys() {
    let ctx = context(SALT, "01", "", None);
    let shown = std::format!("{ctx:?}");
    for secret in [&ctx.sender_key()[..], &ctx.recipient_key()[..], &ctx.common_iv()[..]] {
        assert!(!shown.contains(&std::format!("{secret:?}")), "{shown}");
        let hex: std::string::String = secret.iter().map(|b| std::format!("{b:02x}")).collect();
        assert!(!shown.contains(&hex));
    }
    assert!(shown.contains("sender_id"), "the ids are shown: {shown}");
}
