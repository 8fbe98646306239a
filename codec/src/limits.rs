//! Upper bounds on encoded sizes, derived from the model's capacities.
//!
//! Every bound is the sum of its fields' worst cases in postcard: a varint `u16` takes at most
//! 3 bytes, `u32` 5, `u64`/`i64` 10; a bounded string its capacity plus a one-byte length; an
//! enum one tag byte plus its largest variant; a compact `f64` 11 (tag plus a 10-byte varint, or
//! tag plus 8 raw bytes). A buffer of [`MAX_FRAME`] bytes holds any frame of this version; the
//! tests encode the largest instances and random ones and check that none exceeds its bound.

use telemetra_core::command::MAX_REQUESTED_CHANNELS;
use telemetra_core::device::{MAX_CHANNELS, MAX_TAGS};
use telemetra_core::rule::{MAX_ACTIONS, MAX_OPS, MAX_RULE_CHANNELS};
use telemetra_core::text::{NAME_CAPACITY, TEXT_CAPACITY, URL_CAPACITY};

use crate::frame::MAX_READINGS;

const fn max(a: usize, b: usize) -> usize {
    if a > b { a } else { b }
}

const U16: usize = 3;
const U32: usize = 5;
const U64: usize = 10;
const TAG: usize = 1;
const LEN: usize = 1;
const F64: usize = 1 + U64;
const NAME: usize = LEN + NAME_CAPACITY;
const TEXT: usize = LEN + TEXT_CAPACITY;
const URL: usize = LEN + URL_CAPACITY;

const LOCATION: usize = F64 + F64 + 1 + F64;
/// A [`Value`](telemetra_core::Value).
pub const VALUE: usize = TAG + max(max(F64, U64), max(max(1, LOCATION), TEXT));
/// A [`Reading`](telemetra_core::Reading).
pub const READING: usize = U16 + U64 + VALUE + 1;
const QUANTITY: usize = TAG + U16;
const UNIT: usize = TAG;
const CHANNEL_SPEC: usize = U16 + NAME + QUANTITY + UNIT + U32;
const TAG_LABEL: usize = NAME + NAME;
const FIRMWARE: usize = 3 * U16;
const FIRMWARE_OFFER: usize = FIRMWARE + U32 + 32 + URL;
const COMMAND_ACTION: usize = TAG
    + max(max(NAME + VALUE, U16 + VALUE), max(U32, max(LEN + MAX_REQUESTED_CHANNELS * U16, FIRMWARE_OFFER)));
const WINDOW: usize = TAG + max(U32 + U16, U16);
const OP: usize = TAG + max(max(F64, 1 + 1 + WINDOW), max(1 + WINDOW, max(1 + U32, 1 + F64)));
const EXPR: usize = LEN + MAX_OPS * OP;
const SCOPE: usize = TAG + max(U64, TAG_LABEL);
const ACTION: usize = TAG + max(TEXT, max(COMMAND_ACTION, 1 + EXPR));
/// A [`Rule`](telemetra_core::Rule).
pub const RULE: usize = NAME
    + SCOPE
    + (LEN + MAX_RULE_CHANNELS * NAME)
    + EXPR
    + U32
    + U16
    + (1 + EXPR)
    + U32
    + TAG
    + (LEN + MAX_ACTIONS * ACTION);

/// Version byte, device id, sequence number and message tag.
pub const ENVELOPE: usize = 1 + U64 + U32 + TAG;
/// The body of [`Message::Readings`](crate::Message::Readings).
pub const READINGS_MSG: usize = LEN + MAX_READINGS * READING;
/// The body of [`Message::Command`](crate::Message::Command).
pub const COMMAND_MSG: usize = U32 + U64 + (1 + U64) + COMMAND_ACTION;
/// The body of [`Message::Ack`](crate::Message::Ack).
pub const ACK_MSG: usize = U32 + U64 + TAG + U16;
/// The body of [`Message::Alert`](crate::Message::Alert).
pub const ALERT_MSG: usize = NAME + U64 + TAG + TAG + (1 + U16) + (1 + VALUE) + U64 + TEXT;
/// The body of [`Message::DeviceInfo`](crate::Message::DeviceInfo).
pub const DEVICE_MSG: usize =
    U64 + NAME + FIRMWARE + (LEN + MAX_CHANNELS * CHANNEL_SPEC) + (LEN + MAX_TAGS * TAG_LABEL);
/// The body of [`Message::Rule`](crate::Message::Rule) (since version 3, the rule's
/// `clear_repeat` follows it).
pub const RULE_MSG: usize = U32 + 1 + 1 + RULE + U16;
/// The body of [`Message::Heartbeat`](crate::Message::Heartbeat).
pub const HEARTBEAT_MSG: usize = U64 + 2 + 2;

/// The body of [`Message::Status`](crate::Message::Status).
pub const STATUS_MSG: usize = TAG;
/// The body of [`Message::Batch`](crate::Message::Batch): a length varint and the bytes.
pub const BATCH_MSG: usize = U16 + crate::batch::MAX_BATCH_BYTES;

/// The largest encoded frame of this wire version, in bytes.
pub const MAX_FRAME: usize = ENVELOPE
    + max(
        max(max(READINGS_MSG, COMMAND_MSG), max(ACK_MSG, ALERT_MSG)),
        max(max(max(DEVICE_MSG, RULE_MSG), HEARTBEAT_MSG), max(STATUS_MSG, BATCH_MSG)),
    );

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bounds_are_what_the_readme_says() {
        assert_eq!(READING, 64);
        assert_eq!(READINGS_MSG, 1025);
        assert_eq!(MAX_FRAME, 1071);
    }
}
