//! Close codes (RFC 6455 §7.4) and the close frame payload (§5.5.1).

use core::fmt;

use crate::Utf8Bytes;

/// A WebSocket close status code (RFC 6455 §7.4).
///
/// A newtype over `u16` so that any code a peer sends can be represented; the
/// named constants cover the registered ones and [`CloseCode::classify`] tells
/// what the RFC allows for a given value.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct CloseCode(pub u16);

/// What RFC 6455 §7.4 allows for a close code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CodeClass {
    /// Defined by the RFC or registered with IANA, and may appear on the wire
    /// (1000-1003, 1007-1014).
    Protocol,
    /// Reserved for libraries, frameworks and applications (3000-4999).
    Application,
    /// Designated for local use only and MUST NOT be sent in a close frame
    /// (1005 no status, 1006 abnormal, 1015 TLS failure).
    LocalOnly,
    /// Reserved or unassigned: never valid on the wire (0-999, 1004, 1016-2999, 5000+).
    Invalid,
}

impl CloseCode {
    /// 1000: normal closure; the purpose of the connection was fulfilled.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: the endpoint is going away (server shutdown, page navigation, idle timeout).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: the peer violated the protocol.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept (e.g. binary for a text-only app).
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: local only: the close frame carried no status code.
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: local only: the connection dropped without a close frame.
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: message data inconsistent with its type (invalid UTF-8 in text).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: a message violated the endpoint's policy.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: a frame or message was too big to process.
    pub const MESSAGE_TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected the server to negotiate an extension.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: the server (or any endpoint) hit an unexpected condition.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: the service is restarting (IANA registry).
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later, e.g. overload (IANA registry).
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: a gateway or proxy got an invalid response upstream (IANA registry).
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: local only: the TLS handshake failed.
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// The numeric value.
    pub const fn as_u16(self) -> u16 {
        self.0
    }

    /// What the RFC allows for this code.
    pub const fn classify(self) -> CodeClass {
        match self.0 {
            1000..=1003 | 1007..=1014 => CodeClass::Protocol,
            1005 | 1006 | 1015 => CodeClass::LocalOnly,
            3000..=4999 => CodeClass::Application,
            _ => CodeClass::Invalid,
        }
    }

    /// May this code be sent in a close frame (and accepted from a peer)?
    ///
    /// RFC 6455 §7.4.1/§7.4.2: 1000-1003, 1007-1014 and 3000-4999.
    pub const fn is_sendable(self) -> bool {
        matches!(
            self.classify(),
            CodeClass::Protocol | CodeClass::Application
        )
    }

    /// Is this one of the codes that only ever describe a local condition
    /// (1005, 1006, 1015)?
    pub const fn is_local_only(self) -> bool {
        matches!(self.classify(), CodeClass::LocalOnly)
    }

    /// A short name for the registered codes, `None` for others.
    pub const fn name(self) -> Option<&'static str> {
        Some(match self.0 {
            1000 => "normal closure",
            1001 => "going away",
            1002 => "protocol error",
            1003 => "unsupported data",
            1005 => "no status received",
            1006 => "abnormal closure",
            1007 => "invalid payload data",
            1008 => "policy violation",
            1009 => "message too big",
            1010 => "mandatory extension",
            1011 => "internal error",
            1012 => "service restart",
            1013 => "try again later",
            1014 => "bad gateway",
            1015 => "TLS handshake failure",
            _ => return None,
        })
    }
}

impl From<u16> for CloseCode {
    fn from(code: u16) -> Self {
        CloseCode(code)
    }
}

impl From<CloseCode> for u16 {
    fn from(code: CloseCode) -> u16 {
        code.0
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "CloseCode({} {name})", self.0),
            None => write!(f, "CloseCode({})", self.0),
        }
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.name() {
            Some(name) => write!(f, "{} ({name})", self.0),
            None => write!(f, "{}", self.0),
        }
    }
}

/// The content of a close frame: a status code and a UTF-8 reason.
///
/// A close frame with an empty payload is represented with
/// [`CloseCode::NO_STATUS`] (1005) and an empty reason, as RFC 6455 §7.1.5 says.
#[derive(Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code.
    pub code: CloseCode,
    /// The reason, at most 123 bytes of UTF-8.
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// The largest reason that fits a control frame (125 - 2 bytes of code).
    pub const MAX_REASON: usize = 123;
}

impl fmt::Debug for CloseFrame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The reason is small and already UTF-8: printing it helps diagnosis.
        write!(f, "CloseFrame({:?}, {:?})", self.code, &*self.reason)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_matches_rfc_7_4() {
        for code in 0..=u16::MAX {
            let c = CloseCode(code);
            let expected_sendable = matches!(code, 1000..=1003 | 1007..=1014 | 3000..=4999);
            assert_eq!(c.is_sendable(), expected_sendable, "{code}");
            assert_eq!(
                c.is_local_only(),
                matches!(code, 1005 | 1006 | 1015),
                "{code}"
            );
        }
        assert_eq!(CloseCode(1004).classify(), CodeClass::Invalid);
        assert_eq!(CloseCode(2999).classify(), CodeClass::Invalid);
        assert_eq!(CloseCode(4999).classify(), CodeClass::Application);
        assert_eq!(CloseCode(5000).classify(), CodeClass::Invalid);
    }

    #[test]
    fn display_names_registered_codes() {
        assert_eq!(
            alloc::format!("{}", CloseCode::MESSAGE_TOO_BIG),
            "1009 (message too big)"
        );
        assert_eq!(alloc::format!("{}", CloseCode(4000)), "4000");
    }
}
