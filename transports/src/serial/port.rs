//! A host serial port (a USB adapter's `/dev/ttyUSB0`, a board's `/dev/ttyACM0`, a
//! pseudo-terminal) as a tokio byte stream: opened non-blocking, put in raw mode with the
//! settings of a `serial://` URL by termios (rustix, no C library binding of our own), read and
//! written through the reactor.

use std::pin::Pin;
use std::task::{Context, Poll};

use rustix::fs::{Mode, OFlags};
use rustix::termios::{self, ControlModes, OptionalActions, SpecialCodeIndex};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::unix::pipe;

/// Parity.
#[derive(Clone, Copy, PartialEq, Eq, Debug, Default)]
pub enum Parity {
    /// None (8N1, the default).
    #[default]
    None,
    /// Even.
    Even,
    /// Odd.
    Odd,
}

/// How a port is set up: `serial:///dev/ttyUSB0?baud=115200&parity=none&stop=1&flow=none`.
#[derive(Clone, PartialEq, Eq, Debug)]
#[non_exhaustive]
pub struct PortSettings {
    /// The device's path.
    pub path: String,
    /// Bits per second: 115,200.
    pub baud: u32,
    /// Parity: none.
    pub parity: Parity,
    /// Two stop bits instead of one.
    pub two_stop_bits: bool,
    /// RTS/CTS hardware flow control.
    pub rts_cts: bool,
}

impl PortSettings {
    /// The settings of `path` at `baud`, 8N1, no flow control.
    pub fn new(path: impl Into<String>, baud: u32) -> PortSettings {
        PortSettings { path: path.into(), baud, parity: Parity::None, two_stop_bits: false, rts_cts: false }
    }

    /// Reads `serial://PATH?baud=B&parity=none|even|odd&stop=1|2&flow=none|rtscts` (the path
    /// absolute: `serial:///dev/ttyUSB0`); unknown parameters are refused.
    pub fn from_url(url: &str) -> Result<PortSettings, String> {
        let rest = url.strip_prefix("serial://").ok_or_else(|| format!("{url}: not a serial:// URL"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if !path.starts_with('/') {
            return Err(format!("{url}: the device path must be absolute (serial:///dev/ttyUSB0)"));
        }
        let mut settings = PortSettings::new(path, 115_200);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let bad = || format!("{url}: {key}={value} is not a setting this port takes");
            match key {
                "baud" => settings.baud = value.parse().ok().filter(|&b| b > 0).ok_or_else(bad)?,
                "parity" => {
                    settings.parity = match value {
                        "none" => Parity::None,
                        "even" => Parity::Even,
                        "odd" => Parity::Odd,
                        _ => return Err(bad()),
                    }
                }
                "stop" => {
                    settings.two_stop_bits = match value {
                        "1" => false,
                        "2" => true,
                        _ => return Err(bad()),
                    }
                }
                "flow" => {
                    settings.rts_cts = match value {
                        "none" => false,
                        "rtscts" => true,
                        _ => return Err(bad()),
                    }
                }
                _ => return Err(bad()),
            }
        }
        Ok(settings)
    }
}

/// An open serial port.
#[derive(Debug)]
pub struct SerialPort {
    rx: pipe::Receiver,
    tx: pipe::Sender,
}

impl SerialPort {
    /// Opens and sets up the port (raw mode: no echo, no line editing, no translation; 8 data
    /// bits; the parity, stop bits, flow control and speed of `settings`). Must run inside a
    /// tokio runtime.
    pub fn open(settings: &PortSettings) -> std::io::Result<SerialPort> {
        let flags = OFlags::RDWR | OFlags::NOCTTY | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let fd = rustix::fs::open(settings.path.as_str(), flags, Mode::empty())?;
        let mut t = termios::tcgetattr(&fd)?;
        t.make_raw();
        t.control_modes |= ControlModes::CLOCAL | ControlModes::CREAD;
        t.control_modes.set(ControlModes::PARENB, settings.parity != Parity::None);
        t.control_modes.set(ControlModes::PARODD, settings.parity == Parity::Odd);
        t.control_modes.set(ControlModes::CSTOPB, settings.two_stop_bits);
        t.control_modes.set(ControlModes::CRTSCTS, settings.rts_cts);
        // Reads return what is there (the descriptor is non-blocking anyway).
        t.special_codes[SpecialCodeIndex::VMIN] = 0;
        t.special_codes[SpecialCodeIndex::VTIME] = 0;
        t.set_speed(settings.baud)?;
        termios::tcsetattr(&fd, OptionalActions::Now, &t)?;
        // tokio's pipe halves poll any non-blocking descriptor they own: one for each way.
        let read = rustix::io::dup(&fd)?;
        Ok(SerialPort {
            rx: pipe::Receiver::from_owned_fd_unchecked(read)?,
            tx: pipe::Sender::from_owned_fd_unchecked(fd)?,
        })
    }
}

impl AsyncRead for SerialPort {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.rx).poll_read(cx, buf)
    }
}

impl AsyncWrite for SerialPort {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.tx).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tx).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.tx).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_give_settings_and_bad_ones_say_why() {
        let s =
            PortSettings::from_url("serial:///dev/ttyUSB0?baud=9600&parity=even&stop=2&flow=rtscts").unwrap();
        assert_eq!(
            (s.path.as_str(), s.baud, s.parity, s.two_stop_bits, s.rts_cts),
            ("/dev/ttyUSB0", 9600, Parity::Even, true, true)
        );
        let d = PortSettings::from_url("serial:///dev/ttyACM0").unwrap();
        assert_eq!((d.baud, d.parity, d.two_stop_bits, d.rts_cts), (115_200, Parity::None, false, false));
        for bad in [
            "serial://dev/tty",
            "mqtt://x",
            "serial:///dev/tty?baud=0",
            "serial:///dev/tty?speed=1",
            "serial:///dev/tty?parity=mark",
        ] {
            assert!(PortSettings::from_url(bad).is_err(), "{bad}");
        }
    }
}
