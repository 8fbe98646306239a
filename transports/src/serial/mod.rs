//! Serial links (UART, RS-485, a pseudo-terminal): [`reliable`], the sans-IO reliable link
//! (`no_std`, no allocation) over the COBS+CRC packets of `telemetra_codec::stream`.

pub mod reliable;
