//! Serial links (UART, RS-485, a pseudo-terminal): [`reliable`], the sans-IO reliable link
//! (`no_std`, no allocation) over the COBS+CRC packets of `telemetra_codec::stream`; with
//! `serial-async`, `asynch`, the link over an `embedded-io-async` stream for firmware; with the
//! `serial-port` feature (Unix), `port`, a host serial port on tokio set up by termios, and
//! `driver`, the transport over the link (`serial://`).

#[cfg(feature = "serial-async")]
pub mod asynch;
#[cfg(all(feature = "serial-port", unix))]
pub mod driver;
#[cfg(all(feature = "serial-port", unix))]
pub mod port;
pub mod reliable;
