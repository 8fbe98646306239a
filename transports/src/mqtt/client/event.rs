//! What the client reports to the application, and its errors.

use alloc::string::String;
use alloc::vec::Vec;

use super::message::Message;
use super::outbox::MessageId;
use crate::mqtt::packet::PacketError;
use crate::mqtt::packet::publish::{QoS, Version};
use crate::mqtt::reason::ReasonCode;
use crate::mqtt::topic::TopicError;

/// Something that happened on the client, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// The broker accepted the connection.
    Connected {
        /// The broker still had this client's session (in-flight messages were redelivered,
        /// subscriptions kept).
        session_present: bool,
    },
    /// The connection ended: `None` after [`Client::disconnect`](super::Client::disconnect),
    /// otherwise the reason.
    Disconnected {
        /// Why.
        error: Option<ClientError>,
    },
    /// The broker acknowledged a QoS 1 message (PUBACK) or completed a QoS 2 one (PUBCOMP).
    Delivered(MessageId),
    /// The broker refused a message, or the client could not send it (too large for the
    /// broker, a QoS or retain the broker does not support).
    Failed {
        /// The message.
        id: MessageId,
        /// Why.
        reason: ReasonCode,
    },
    /// A message expired in the offline queue.
    Expired(MessageId),
    /// A message was dropped from the full offline queue ([`FullPolicy::DropOldest`]).
    ///
    /// [`FullPolicy::DropOldest`]: super::FullPolicy::DropOldest
    Dropped(MessageId),
    /// The broker answered a SUBSCRIBE: per filter, the QoS granted or why not.
    Subscribed {
        /// The filters, in order.
        filters: Vec<String>,
        /// The outcome of each.
        results: Vec<Result<QoS, ReasonCode>>,
    },
    /// After a reconnect to a broker that had lost the session, every subscription was made
    /// again and acknowledged.
    Resubscribed {
        /// How many filters.
        filters: usize,
    },
    /// The broker answered an UNSUBSCRIBE.
    Unsubscribed {
        /// The filters.
        filters: Vec<String>,
    },
}

/// What became of a watched QoS 1 or 2 message ([`Client::watch`](super::Client::watch)).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// The broker acknowledged it (PUBACK) or completed it (PUBCOMP).
    Delivered,
    /// The broker refused it, or the client could not send it.
    Failed(ReasonCode),
    /// It expired in the offline queue.
    Expired,
    /// It was dropped from the full offline queue.
    Dropped,
}

/// Why a connection failed or was closed. After any of these the connection is unusable; the
/// session (queue, in-flight messages, subscriptions) is kept for the next one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The broker sent a malformed packet or broke a rule of the packet format.
    #[error("bad packet from the broker: {0}")]
    Packet(#[from] PacketError),
    /// The broker broke a rule of the protocol's flow.
    #[error("protocol error by the broker ({reason}): {what}")]
    Protocol {
        /// The reason code this client closes the connection with.
        reason: ReasonCode,
        /// What happened.
        what: &'static str,
    },
    /// The broker refused the connection (MQTT 5 CONNACK reason code).
    #[error("connection refused: {0}")]
    Refused(ReasonCode),
    /// The broker refused the connection (MQTT 3.1.1 CONNACK return code 1 to 5, kept as
    /// sent; [`ClientError::refusal`] gives the MQTT 5 equivalent).
    #[error("connection refused: return code {code} ({})", ReasonCode::from_v3_connack(*code).name())]
    RefusedV3 {
        /// The return code.
        code: u8,
    },
    /// The CONNACK carried a code its version does not define (MQTT 5: not a CONNACK reason
    /// code; 3.1.1: a return code above 5): the connection is not taken as accepted.
    #[error("a CONNACK with the code {code:#04x}, which MQTT {version} does not define")]
    InvalidConnack {
        /// The code, as sent.
        code: u8,
        /// The protocol version, "3.1.1" or "5".
        version: &'static str,
    },
    /// The broker closed the connection with DISCONNECT.
    #[error("disconnected by the broker: {0}")]
    ServerDisconnect(ReasonCode),
    /// No CONNACK came in time.
    #[error("no CONNACK within the connect timeout")]
    ConnectTimeout,
    /// No PINGRESP came within the keep alive: the connection is dead.
    #[error("no PINGRESP within the keep alive: the connection is dead")]
    KeepAliveTimeout,
    /// The transport under the client failed or closed, cause unknown (a driver that does
    /// not say; [`ClientError::Link`] when it does).
    #[error("connection lost")]
    ConnectionLost,
    /// The byte stream under the client failed or closed, and how.
    #[error("{0}")]
    Link(LinkError),
}

/// How the byte stream under the client failed: what a driver saw (an I/O error's kind, a TLS
/// alert), in a form a `no_std` client can carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum LinkError {
    /// The broker closed the connection without DISCONNECT.
    Closed,
    /// The broker closed the connection before it answered CONNECT: typically plaintext
    /// spoken to a TLS port, or a broker that turns clients away without a CONNACK.
    ClosedBeforeConnack,
    /// Nothing listens at the broker's address (TCP connection refused).
    Refused,
    /// The connection was reset or aborted.
    Reset,
    /// The connection (or the TLS handshake) did not complete in time.
    TimedOut,
    /// The broker sent a TLS alert: its code (RFC 8446 §6), e.g. 0x2a bad certificate, 0x74
    /// certificate required (the broker did not take this client's certificate).
    TlsAlert(u8),
    /// TLS failed on this side: the broker's certificate did not verify (unknown authority,
    /// another host name, expired), or the handshake broke off. The driver's
    /// `last_open_error` has the details.
    Tls,
    /// Another I/O error.
    Io,
}

impl LinkError {
    /// True for a TLS alert by which the broker refuses this client, which trying again will
    /// not cure: its certificate (bad, unsupported, revoked, expired, unknown, from an unknown
    /// CA, or none given: 0x2a–0x2e, 0x30, 0x74), a signature that does not verify (decrypt
    /// error 0x33: what OpenSSL sends for a certificate from another CA), no parameters in
    /// common (handshake failure 0x28, protocol version 0x46, insufficient security 0x47), or
    /// access denied (0x31).
    pub fn is_tls_refusal(&self) -> bool {
        matches!(self, LinkError::TlsAlert(0x28 | 0x2a..=0x2e | 0x30 | 0x31 | 0x33 | 0x46 | 0x47 | 0x74))
    }
}

impl core::fmt::Display for LinkError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            LinkError::Closed => f.write_str("connection closed by the broker"),
            LinkError::ClosedBeforeConnack => f.write_str(
                "connection closed by the broker before CONNACK (plaintext to a TLS port? a broker turning clients away?)",
            ),
            LinkError::Refused => f.write_str("connection refused: nothing listens at the broker's address"),
            LinkError::Reset => f.write_str("connection reset"),
            LinkError::TimedOut => f.write_str("connection timed out"),
            LinkError::TlsAlert(code) => write!(f, "TLS alert from the broker: {} ({code:#04x})", tls_alert_name(*code)),
            LinkError::Tls => f.write_str("TLS failed: the broker's certificate did not verify, or the handshake broke off"),
            LinkError::Io => f.write_str("I/O error"),
        }
    }
}

/// The name of a TLS alert (RFC 8446 §6, and the TLS 1.2 ones).
fn tls_alert_name(code: u8) -> &'static str {
    match code {
        0x00 => "close notify",
        0x0a => "unexpected message",
        0x14 => "bad record MAC",
        0x28 => "handshake failure",
        0x2a => "bad certificate",
        0x2b => "unsupported certificate",
        0x2c => "certificate revoked",
        0x2d => "certificate expired",
        0x2e => "certificate unknown",
        0x2f => "illegal parameter",
        0x30 => "unknown CA",
        0x31 => "access denied",
        0x32 => "decode error",
        0x33 => "decrypt error",
        0x46 => "protocol version",
        0x47 => "insufficient security",
        0x50 => "internal error",
        0x56 => "inappropriate fallback",
        0x5a => "user canceled",
        0x6d => "missing extension",
        0x6e => "unsupported extension",
        0x70 => "unrecognized name",
        0x74 => "certificate required",
        0x78 => "no application protocol",
        _ => "unknown alert",
    }
}

impl ClientError {
    /// The outcome a CONNACK's code says, per version: accepted, refused (with the code as
    /// sent), or a code the version does not define (a protocol error, the code kept).
    pub fn check_connack(version: Version, code: u8) -> Result<(), ClientError> {
        match version {
            Version::V5 if !ReasonCode(code).is_connack_code() => {
                Err(ClientError::InvalidConnack { code, version: "5" })
            }
            Version::V5 if ReasonCode(code).is_error() => Err(ClientError::Refused(ReasonCode(code))),
            Version::V3_1_1 if code > 5 => Err(ClientError::InvalidConnack { code, version: "3.1.1" }),
            Version::V3_1_1 if code != 0 => Err(ClientError::RefusedV3 { code }),
            _ => Ok(()),
        }
    }

    /// Why the broker refused the connection, as an MQTT 5 reason code (a 3.1.1 return code
    /// mapped onto it), or `None` for any other error.
    pub fn refusal(&self) -> Option<ReasonCode> {
        match self {
            ClientError::Refused(code) => Some(*code),
            ClientError::RefusedV3 { code } => Some(ReasonCode::from_v3_connack(*code)),
            _ => None,
        }
    }

    /// True for a refusal that trying again will not cure (bad credentials, not authorised,
    /// banned, a client identifier or protocol version the broker does not take, a
    /// certificate either side does not accept): a program
    /// waiting for [`connected`](crate::mqtt::driver::MqttClient::connected) is told instead
    /// of waiting for ever. The client keeps retrying with back-off regardless (credentials
    /// may be fixed on the broker's side).
    pub fn is_permanent(&self) -> bool {
        if let ClientError::Link(link) = self {
            return link.is_tls_refusal() || *link == LinkError::Tls;
        }
        matches!(
            self.refusal(),
            Some(
                ReasonCode::UNSUPPORTED_PROTOCOL_VERSION
                    | ReasonCode::CLIENT_IDENTIFIER_NOT_VALID
                    | ReasonCode::BAD_USER_NAME_OR_PASSWORD
                    | ReasonCode::NOT_AUTHORIZED
                    | ReasonCode::BANNED
                    | ReasonCode::BAD_AUTHENTICATION_METHOD
            )
        )
    }

    /// The reason code of the DISCONNECT this client sends for this error (MQTT 5), if any.
    pub fn disconnect_reason(&self) -> Option<ReasonCode> {
        use crate::mqtt::packet::wire::WireError;
        match self {
            ClientError::Packet(PacketError::Wire(WireError::TooLarge { .. })) => {
                Some(ReasonCode::PACKET_TOO_LARGE)
            }
            ClientError::Packet(PacketError::TopicAlias { .. }) => Some(ReasonCode::TOPIC_ALIAS_INVALID),
            ClientError::Packet(PacketError::Protocol(_)) => Some(ReasonCode::PROTOCOL_ERROR),
            ClientError::Packet(_) => Some(ReasonCode::MALFORMED_PACKET),
            ClientError::Protocol { reason, .. } => Some(*reason),
            ClientError::KeepAliveTimeout => Some(ReasonCode::KEEP_ALIVE_TIMEOUT),
            _ => None,
        }
    }
}

/// Why [`Client::publish`](super::Client::publish) did not take a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The offline queue is full ([`FullPolicy::Reject`](super::FullPolicy::Reject)).
    #[error("the offline queue is full")]
    QueueFull,
    /// The topic is not a valid topic name.
    #[error("invalid topic name: {0}")]
    InvalidTopic(TopicError),
    /// The client was closed by `disconnect`.
    #[error("the client is closed")]
    Closed,
    /// The message can never be sent as it is: it is larger than a limit (waiting would not
    /// make room).
    #[error("the message is {size} bytes, over the {limit} of {max} bytes")]
    TooLarge {
        /// Its size as that limit counts it (topic and payload for the queue; the PUBLISH
        /// packet, at least, for the packet size).
        size: usize,
        /// Which limit.
        limit: SizeLimit,
        /// The limit.
        max: usize,
    },
}

/// A limit a message can exceed ([`RejectReason::TooLarge`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SizeLimit {
    /// The offline queue's `max_bytes` ([`QueueOptions`](super::QueueOptions)).
    Queue,
    /// The broker's Maximum Packet Size (MQTT 5 CONNACK).
    Packet,
}

impl core::fmt::Display for SizeLimit {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SizeLimit::Queue => "offline queue's max_bytes",
            SizeLimit::Packet => "broker's maximum packet size",
        })
    }
}

/// A message the client did not take, handed back with the reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("message not queued: {reason}")]
pub struct Rejected {
    /// The message, unchanged.
    pub message: Message,
    /// Why.
    pub reason: RejectReason,
}
