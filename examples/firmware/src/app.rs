//! The node's own job, shared by the binaries: its identity, its simulated sensors, and the
//! glue between the UART, the codec and (for MQTT) the sans-IO client.

use telemetra::codec::stream::{PacketDecoder, max_packet_len, write_packet};
use telemetra::codec::{Body, FrameView, encode_body};
use telemetra::model::{ChannelId, DeviceId, Reading, Timestamp};

use embedded_io::{Read, ReadReady, Write};
use static_cell::ConstStaticCell;

/// This node's identity (on a product: from the device's provisioning).
pub const DEVICE: DeviceId = DeviceId(0x2a);

/// The channels: 1 temperature (°C), 2 humidity (%RH), 3 motion.
pub const TEMPERATURE: ChannelId = ChannelId(1);
/// Relative humidity.
pub const HUMIDITY: ChannelId = ChannelId(2);
/// Motion.
pub const MOTION: ChannelId = ChannelId(3);

/// The name rules use for a channel.
pub fn channel_name(id: ChannelId) -> &'static str {
    match id {
        TEMPERATURE => "temperature",
        HUMIDITY => "humidity",
        _ => "motion",
    }
}

/// The largest frame this node sends or accepts over the serial link, in bytes, from the
/// codec's worst cases: its three readings, an alert, a command (acks and status are smaller).
/// A frame that does not fit (a rule with long names, say) is refused, never truncated:
/// raise this for the frames your node takes.
pub const FRAME: usize = {
    use telemetra::codec::limits::{ALERT_MSG, COMMAND_MSG, ENVELOPE, READING};
    let readings = ENVELOPE + 1 + 3 * READING;
    let alert = ENVELOPE + ALERT_MSG;
    let command = ENVELOPE + COMMAND_MSG;
    let max = if readings > alert { readings } else { alert };
    if max > command { max } else { command }
};

/// A simulated sensor board: the temperature climbs 0.1 °C per reading from 24.0, humidity
/// swings, motion comes and goes. `tick` comes from the caller, so nothing is constant-folded.
pub fn sample(tick: u32, at: Timestamp) -> [Reading; 3] {
    let temperature = 24.0 + (tick % 120) as f32 * 0.1;
    let humidity = 40 + (tick % 17) as i32;
    [
        // An f32 reading goes on the wire as its shortest decimal (24.3, not 24.299999237...),
        // found with single-precision arithmetic: no f64 on the node.
        Reading::new(TEMPERATURE, at, temperature),
        Reading::new(HUMIDITY, at, humidity),
        Reading::new(MOTION, at, tick.is_multiple_of(7)),
    ]
}

/// A blank rule on the heap, to decode rule frames into. Out of line: the 1.3 KB rule is
/// built on this function's stack for a moment, not kept in the caller's frame for good.
#[cfg(feature = "rules")]
#[inline(never)]
pub fn rule_buffer() -> alloc::boxed::Box<telemetra::model::Rule> {
    alloc::boxed::Box::default()
}

/// What has arrived on `stream`, without waiting: nothing when no byte is ready.
pub fn read_ready<S: Read + ReadReady>(stream: &mut S, buf: &mut [u8]) -> usize {
    match stream.read_ready() {
        Ok(true) => stream.read(buf).unwrap_or(0),
        _ => 0,
    }
}

/// Frames as COBS+CRC packets over any `embedded-io` byte stream (a UART here), both ways.
///
/// Its buffers (about 600 bytes) belong in a `static` (see [`SerialLink::take`]): made at compile
/// time, they lie in `.bss`, cost no stack, and need no zeroing code.
pub struct SerialLink {
    decoder: PacketDecoder<{ max_packet_len(FRAME) }>,
    rx: [u8; 64],
    rx_len: usize,
    rx_pos: usize,
    tx: [u8; FRAME],
}

impl Default for SerialLink {
    fn default() -> Self {
        Self::new()
    }
}

impl SerialLink {
    /// The program's link, in a static made at compile time (`.bss`: no stack, no zeroing).
    /// Taken once; a second call fails the run.
    pub fn take() -> &'static mut SerialLink {
        static LINK: ConstStaticCell<SerialLink> = ConstStaticCell::new(SerialLink::new());
        LINK.try_take().unwrap_or_else(|| crate::probe::fail(b"link taken"))
    }

    /// An idle link.
    pub const fn new() -> Self {
        SerialLink { decoder: PacketDecoder::new(), rx: [0; 64], rx_len: 0, rx_pos: 0, tx: [0; FRAME] }
    }

    /// Encodes a frame of this device carrying `body` and writes it as one packet. A frame
    /// that cannot be encoded is dropped and reported as `false`.
    pub fn send<B: Body + ?Sized, W: Write>(&mut self, uart: &mut W, seq: u32, body: &B) -> bool {
        let Ok(bytes) = encode_body(DEVICE, seq, body, &mut self.tx) else { return false };
        // Straight to the UART: the packet never sits in RAM.
        let mut ok = true;
        write_packet(bytes, |chunk| ok &= uart.write_all(chunk).is_ok());
        ok
    }

    /// Hands the next frame that arrived whole to `handle`, if one did, and returns what
    /// `handle` returned; damaged packets and frames whose envelope does not parse are dropped
    /// (and counted by the decoder).
    pub fn receive<T, R: Read + ReadReady>(
        &mut self,
        uart: &mut R,
        handle: impl FnOnce(FrameView<'_>) -> T,
    ) -> Option<T> {
        loop {
            if self.rx_pos == self.rx_len {
                self.rx_len = read_ready(uart, &mut self.rx);
                self.rx_pos = 0;
                if self.rx_len == 0 {
                    return None;
                }
            }
            let mut input = &self.rx[self.rx_pos..self.rx_len];
            let before = input.len();
            let got = self.decoder.push(&mut input);
            self.rx_pos += before - input.len();
            if let Some(Ok(payload)) = got
                && let Ok(view) = FrameView::parse(payload)
            {
                return Some(handle(view));
            }
        }
    }
}

/// The sans-IO MQTT client driven over the UART (a modem's transparent TCP mode, a SLIP link,
/// or QEMU's serial port connected to a broker): bytes in, bytes out, the clock passed in.
#[cfg(feature = "mqtt")]
pub mod mqtt {
    use embedded_io::{Read, ReadReady, Write};
    use static_cell::ConstStaticCell;
    use telemetra::mqtt::ClientError;
    use telemetra::mqtt::lite::{LiteClient, LiteEvent, LiteOptions};

    /// The firmware's client: 4 messages in flight, packets up to 512 bytes (a rule frame of
    /// this node's rule set fits; raise it for larger rules). No heap: about 3 KB of RAM.
    pub type Client = LiteClient<4, 512>;

    /// The client and its receive buffer.
    pub struct MqttLink {
        /// The protocol state machine.
        pub client: Client,
        rx: [u8; 128],
    }

    impl Default for MqttLink {
        fn default() -> Self {
            Self::new()
        }
    }

    impl MqttLink {
        /// The program's link, in a static made at compile time (all zero bits: it lies in
        /// `.bss`). Taken once; a second call fails the run.
        pub fn take() -> &'static mut MqttLink {
            static LINK: ConstStaticCell<MqttLink> = ConstStaticCell::new(MqttLink::new());
            LINK.try_take().unwrap_or_else(|| crate::probe::fail(b"link taken"))
        }

        /// A link with no connection. Made once, where it stays: the client is 3 KB, and a
        /// constructor that returned it connected would copy it through the stack.
        pub const fn new() -> MqttLink {
            MqttLink { client: Client::new(), rx: [0; 128] }
        }

        /// Starts the connection (queues CONNECT; the output is empty now, so it fits).
        pub fn connect(&mut self, options: &LiteOptions<'_>, now: u64) {
            let _ = self.client.connect(options, now);
        }

        /// Moves bytes both ways over `stream` and runs the timers once; what arrived goes to
        /// `on_event`.
        pub fn pump<S: Read + ReadReady + Write>(
            &mut self,
            stream: &mut S,
            now: u64,
            on_event: &mut dyn FnMut(LiteEvent<'_>),
        ) -> Result<(), ClientError> {
            let n = super::read_ready(stream, &mut self.rx);
            if n > 0 {
                self.client.handle_input(&self.rx[..n], on_event)?;
            }
            if self.client.next_timeout().is_some_and(|t| t <= now) {
                self.client.handle_timeout(now)?;
            }
            // A stream that fails shows as a dead link: keep alive notices it.
            let _ = stream.write_all(self.client.output());
            self.client.clear_output();
            Ok(())
        }
    }
}
