//! Message codes (RFC 7252 §3, §12.1): a class (0 request, 2 success, 4 client error, 5 server
//! error, 7 signaling) and a detail, written `c.dd`.

use core::fmt;

/// A CoAP code: `class << 5 | detail`. Compare with the constants: `code == Code::CONTENT`.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Code(pub u8);

macro_rules! codes {
    ($($name:ident = ($class:literal, $detail:literal), $text:literal;)*) => {
        impl Code {
            $(
                #[doc = concat!("`", stringify!($class), ".", stringify!($detail), "` ", $text, ".")]
                pub const $name: Code = Code::new($class, $detail);
            )*

            /// The registered name of the code, or "unknown code".
            pub const fn name(self) -> &'static str {
                $(if self.0 == Code::$name.0 {
                    return $text;
                })*
                "unknown code"
            }
        }
    };
}

codes! {
    EMPTY = (0, 0), "Empty";
    GET = (0, 1), "GET";
    POST = (0, 2), "POST";
    PUT = (0, 3), "PUT";
    DELETE = (0, 4), "DELETE";
    FETCH = (0, 5), "FETCH";
    PATCH = (0, 6), "PATCH";
    IPATCH = (0, 7), "iPATCH";
    CREATED = (2, 1), "Created";
    DELETED = (2, 2), "Deleted";
    VALID = (2, 3), "Valid";
    CHANGED = (2, 4), "Changed";
    CONTENT = (2, 5), "Content";
    CONTINUE = (2, 31), "Continue";
    BAD_REQUEST = (4, 0), "Bad Request";
    UNAUTHORIZED = (4, 1), "Unauthorized";
    BAD_OPTION = (4, 2), "Bad Option";
    FORBIDDEN = (4, 3), "Forbidden";
    NOT_FOUND = (4, 4), "Not Found";
    METHOD_NOT_ALLOWED = (4, 5), "Method Not Allowed";
    NOT_ACCEPTABLE = (4, 6), "Not Acceptable";
    REQUEST_ENTITY_INCOMPLETE = (4, 8), "Request Entity Incomplete";
    CONFLICT = (4, 9), "Conflict";
    PRECONDITION_FAILED = (4, 12), "Precondition Failed";
    REQUEST_ENTITY_TOO_LARGE = (4, 13), "Request Entity Too Large";
    UNSUPPORTED_CONTENT_FORMAT = (4, 15), "Unsupported Content-Format";
    INTERNAL_SERVER_ERROR = (5, 0), "Internal Server Error";
    NOT_IMPLEMENTED = (5, 1), "Not Implemented";
    BAD_GATEWAY = (5, 2), "Bad Gateway";
    SERVICE_UNAVAILABLE = (5, 3), "Service Unavailable";
    GATEWAY_TIMEOUT = (5, 4), "Gateway Timeout";
    PROXYING_NOT_SUPPORTED = (5, 5), "Proxying Not Supported";
    CSM = (7, 1), "CSM";
    PING = (7, 2), "Ping";
    PONG = (7, 3), "Pong";
    RELEASE = (7, 4), "Release";
    ABORT = (7, 5), "Abort";
}

impl Code {
    /// The code `class.detail` (class 0 to 7, detail 0 to 31).
    pub const fn new(class: u8, detail: u8) -> Code {
        Code((class & 0x07) << 5 | (detail & 0x1f))
    }

    /// The class: 0 request (or Empty), 2 success, 4 client error, 5 server error, 7 signaling.
    pub const fn class(self) -> u8 {
        self.0 >> 5
    }

    /// The detail, 0 to 31.
    pub const fn detail(self) -> u8 {
        self.0 & 0x1f
    }

    /// 0.00, the code of an Empty message (an ACK or RST alone, or a ping by CON).
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// A request method (0.01 to 0.31).
    pub const fn is_request(self) -> bool {
        self.class() == 0 && self.0 != 0
    }

    /// A response (classes 2 to 5).
    pub const fn is_response(self) -> bool {
        matches!(self.class(), 2..=5)
    }

    /// A signaling code (class 7, RFC 8323: CoAP over TCP and TLS only).
    pub const fn is_signaling(self) -> bool {
        self.class() == 7
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.class(), self.detail())
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({self} {})", self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::format;

    #[test]
    fn codes_read_as_the_rfc_writes_them() {
        assert_eq!(Code::CONTENT.0, 0x45);
        assert_eq!(format!("{}", Code::CONTENT), "2.05");
        assert_eq!(format!("{:?}", Code::BAD_OPTION), "Code(4.02 Bad Option)");
        assert_eq!((Code::NOT_FOUND.class(), Code::NOT_FOUND.detail()), (4, 4));
        assert!(Code::GET.is_request() && !Code::EMPTY.is_request() && Code::EMPTY.is_empty());
        assert!(Code::CHANGED.is_response() && !Code::CSM.is_response() && Code::PONG.is_signaling());
        assert_eq!(Code(0x3f).name(), "unknown code");
    }
}
