//! CoAP over the UART: each COBS+CRC packet carries one CoAP datagram (a serial link to a
//! border router, as SLIP carries IP), and one pump for the client core's transmit, timers and
//! receive.

use telemetra::coap::client::{Client, Event};
use telemetra::coap::{BuildError, Builder, OptionNumber};
use telemetra::codec::stream::{PacketDecoder, max_packet_len, write_packet};

use crate::{app, uart::Uart};

/// The largest datagram: a frame, a request's header, token and path, and room for OSCORE's
/// option, inner code and tag.
pub const DATAGRAM: usize = app::FRAME + 80;

/// The client core: four requests open at a time.
pub type CoapClient = Client<4, DATAGRAM>;

/// The route's resource, `/tm/v1/2a/{kind}`.
pub fn path(b: &mut Builder<'_>, kind: &[u8]) -> Result<(), BuildError> {
    for segment in [&b"tm"[..], b"v1", b"2a", kind] {
        b.option(OptionNumber::URI_PATH, segment)?;
    }
    Ok(())
}

/// The UART as a datagram link: COBS+CRC packets in, with what has arrived of the next one.
pub struct Datagrams {
    decoder: PacketDecoder<{ max_packet_len(DATAGRAM) }>,
    rx: [u8; 64],
}

impl Datagrams {
    /// Nothing received yet.
    pub const fn new() -> Datagrams {
        Datagrams { decoder: PacketDecoder::new(), rx: [0; 64] }
    }
}

impl Default for Datagrams {
    fn default() -> Self {
        Datagrams::new()
    }
}

/// Sends what the client has to send, runs its timers, and hands `on` each event: the
/// requests that timed out, then what the datagrams that arrived brought.
pub fn pump(
    client: &mut CoapClient,
    uart: &mut Uart,
    link: &mut Datagrams,
    now: u64,
    mut on: impl FnMut(Event<'_>),
) {
    while let Some(datagram) = client.poll_transmit(now) {
        write_packet(datagram, |chunk| uart.write_all(chunk));
    }
    while let Some(event) = client.handle_timeout(now) {
        on(event);
    }
    let n = app::read_ready(uart, &mut link.rx);
    let mut input = &link.rx[..n];
    while !input.is_empty() {
        let Some(Ok(datagram)) = link.decoder.push(&mut input) else { continue };
        if let Some(event) = client.handle_datagram(now, datagram) {
            on(event);
        }
    }
}
