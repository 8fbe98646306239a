//! OSCORE unprotection of arbitrary datagrams (RFC 8613): a server context takes whatever
//! parses as CoAP, a client context takes it as a response to a request it made. It never
//! panics, never writes past its buffer, and a request that unprotects once is a replay the
//! second time. A server context recovering its replay window (after a restart) takes nothing
//! that does not echo its value, and can always answer what it refused with a challenge.
#![no_main]

use libfuzzer_sys::fuzz_target;
use telemetra_transports::coap::oscore::{self, OscoreError, SecurityContext};
use telemetra_transports::coap::{Builder, Code, Message, OptionNumber, Type};

fuzz_target!(|data: &[u8]| {
    let secret = [0x11u8; 16];
    let mut server = SecurityContext::derive(&secret, &[], b"\x01", b"", None).unwrap();
    let mut client = SecurityContext::derive(&secret, &[], b"", b"\x01", None).unwrap();
    let Ok(m) = Message::parse(data) else { return };
    let mut buf = [0u8; 2048];
    if oscore::unprotect_request(&mut server, &m, &mut buf).is_ok() {
        assert_eq!(oscore::unprotect_request(&mut server, &m, &mut buf).unwrap_err(), OscoreError::Replay);
    }
    let mut recovering = SecurityContext::derive(&secret, &[], b"\x01", b"", None).unwrap();
    recovering.recover_replay_window(*b"fuzzecho");
    match oscore::unprotect_request(&mut recovering, &m, &mut buf) {
        Ok((plain, _)) => {
            let echo = Message::parse(plain).ok().and_then(|p| p.option(OptionNumber::ECHO).map(<[u8]>::to_vec));
            assert_eq!(echo.as_deref(), Some(&b"fuzzecho"[..]), "taken without the Echo value");
            assert!(!recovering.is_recovering());
        }
        Err(OscoreError::FreshnessUnknown) => {
            assert!(oscore::echo_challenge(&mut recovering, &m, &mut buf).is_ok());
        }
        Err(_) => {}
    }
    let mut req = [0u8; 64];
    let mut b = Builder::new(&mut req, Type::Con, Code::GET, 1, &[1]).unwrap();
    b.option(OptionNumber::URI_PATH, b"x").unwrap();
    let plain = Message::parse(b.finish()).unwrap();
    let (_, binding) = oscore::protect_request(&mut client, &plain, &mut buf).unwrap();
    let _ = oscore::unprotect_response(&mut client, &binding, &m, &mut buf);
});
