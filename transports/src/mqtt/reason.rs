//! MQTT reason codes (MQTT 5.0 §2.4), with the MQTT 3.1.1 CONNACK return codes mapped onto them.

use core::fmt;

/// A reason code: the outcome of an operation as the server (or this client) reports it.
/// Codes below 0x80 are successes; 0x80 and above are failures. Compare with the constants:
/// `if code == ReasonCode::NOT_AUTHORIZED { .. }`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ReasonCode(pub u8);

macro_rules! codes {
    ($($name:ident = $value:literal, $text:literal;)*) => {
        impl ReasonCode {
            $(
                #[doc = concat!("`", stringify!($value), "` ", $text, ".")]
                pub const $name: ReasonCode = ReasonCode($value);
            )*

            /// The specification's name of the code, or "unknown reason code".
            pub const fn name(self) -> &'static str {
                match self.0 {
                    $($value => $text,)*
                    _ => "unknown reason code",
                }
            }
        }
    };
}

codes! {
    SUCCESS = 0x00, "Success";
    GRANTED_QOS_1 = 0x01, "Granted QoS 1";
    GRANTED_QOS_2 = 0x02, "Granted QoS 2";
    DISCONNECT_WITH_WILL = 0x04, "Disconnect with Will Message";
    NO_MATCHING_SUBSCRIBERS = 0x10, "No matching subscribers";
    NO_SUBSCRIPTION_EXISTED = 0x11, "No subscription existed";
    CONTINUE_AUTHENTICATION = 0x18, "Continue authentication";
    RE_AUTHENTICATE = 0x19, "Re-authenticate";
    UNSPECIFIED_ERROR = 0x80, "Unspecified error";
    MALFORMED_PACKET = 0x81, "Malformed Packet";
    PROTOCOL_ERROR = 0x82, "Protocol Error";
    IMPLEMENTATION_SPECIFIC_ERROR = 0x83, "Implementation specific error";
    UNSUPPORTED_PROTOCOL_VERSION = 0x84, "Unsupported Protocol Version";
    CLIENT_IDENTIFIER_NOT_VALID = 0x85, "Client Identifier not valid";
    BAD_USER_NAME_OR_PASSWORD = 0x86, "Bad User Name or Password";
    NOT_AUTHORIZED = 0x87, "Not authorized";
    SERVER_UNAVAILABLE = 0x88, "Server unavailable";
    SERVER_BUSY = 0x89, "Server busy";
    BANNED = 0x8a, "Banned";
    SERVER_SHUTTING_DOWN = 0x8b, "Server shutting down";
    BAD_AUTHENTICATION_METHOD = 0x8c, "Bad authentication method";
    KEEP_ALIVE_TIMEOUT = 0x8d, "Keep Alive timeout";
    SESSION_TAKEN_OVER = 0x8e, "Session taken over";
    TOPIC_FILTER_INVALID = 0x8f, "Topic Filter invalid";
    TOPIC_NAME_INVALID = 0x90, "Topic Name invalid";
    PACKET_IDENTIFIER_IN_USE = 0x91, "Packet Identifier in use";
    PACKET_IDENTIFIER_NOT_FOUND = 0x92, "Packet Identifier not found";
    RECEIVE_MAXIMUM_EXCEEDED = 0x93, "Receive Maximum exceeded";
    TOPIC_ALIAS_INVALID = 0x94, "Topic Alias invalid";
    PACKET_TOO_LARGE = 0x95, "Packet too large";
    MESSAGE_RATE_TOO_HIGH = 0x96, "Message rate too high";
    QUOTA_EXCEEDED = 0x97, "Quota exceeded";
    ADMINISTRATIVE_ACTION = 0x98, "Administrative action";
    PAYLOAD_FORMAT_INVALID = 0x99, "Payload format invalid";
    RETAIN_NOT_SUPPORTED = 0x9a, "Retain not supported";
    QOS_NOT_SUPPORTED = 0x9b, "QoS not supported";
    USE_ANOTHER_SERVER = 0x9c, "Use another server";
    SERVER_MOVED = 0x9d, "Server moved";
    SHARED_SUBSCRIPTIONS_NOT_SUPPORTED = 0x9e, "Shared Subscriptions not supported";
    CONNECTION_RATE_EXCEEDED = 0x9f, "Connection rate exceeded";
    MAXIMUM_CONNECT_TIME = 0xa0, "Maximum connect time";
    SUBSCRIPTION_IDENTIFIERS_NOT_SUPPORTED = 0xa1, "Subscription Identifiers not supported";
    WILDCARD_SUBSCRIPTIONS_NOT_SUPPORTED = 0xa2, "Wildcard Subscriptions not supported";
}

impl ReasonCode {
    /// True for 0x80 and above.
    pub const fn is_error(self) -> bool {
        self.0 >= 0x80
    }

    /// True for a code an MQTT 5 CONNACK may carry (§3.2.2.2): Success and the refusals the
    /// specification lists; anything else in a CONNACK is a protocol error.
    pub const fn is_connack_code(self) -> bool {
        matches!(
            self.0,
            0x00 | 0x80..=0x8a | 0x8c | 0x90 | 0x95 | 0x97 | 0x99..=0x9d | 0x9f
        )
    }

    /// The MQTT 5 code for an MQTT 3.1.1 CONNACK return code (1 to 5).
    pub const fn from_v3_connack(code: u8) -> ReasonCode {
        match code {
            0 => ReasonCode::SUCCESS,
            1 => ReasonCode::UNSUPPORTED_PROTOCOL_VERSION,
            2 => ReasonCode::CLIENT_IDENTIFIER_NOT_VALID,
            3 => ReasonCode::SERVER_UNAVAILABLE,
            4 => ReasonCode::BAD_USER_NAME_OR_PASSWORD,
            5 => ReasonCode::NOT_AUTHORIZED,
            _ => ReasonCode::UNSPECIFIED_ERROR,
        }
    }
}

impl fmt::Debug for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReasonCode({:#04x} {})", self.0, self.name())
    }
}

impl fmt::Display for ReasonCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:#04x})", self.name(), self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn names_and_classes() {
        assert_eq!(ReasonCode(0x87), ReasonCode::NOT_AUTHORIZED);
        assert_eq!(format!("{}", ReasonCode::NOT_AUTHORIZED), "Not authorized (0x87)");
        assert!(ReasonCode::PACKET_TOO_LARGE.is_error());
        assert!(!ReasonCode::GRANTED_QOS_2.is_error());
        assert_eq!(ReasonCode(0x7f).name(), "unknown reason code");
        assert_eq!(ReasonCode::from_v3_connack(4), ReasonCode::BAD_USER_NAME_OR_PASSWORD);
        assert!(ReasonCode::SUCCESS.is_connack_code() && ReasonCode::NOT_AUTHORIZED.is_connack_code());
        assert!(!ReasonCode(0x06).is_connack_code() && !ReasonCode::GRANTED_QOS_1.is_connack_code());
        assert!(!ReasonCode::SESSION_TAKEN_OVER.is_connack_code() && !ReasonCode(0x8b).is_connack_code());
    }
}
