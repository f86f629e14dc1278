//! Which browser origins a server accepts (RFC 6455 §10.2).

use alloc::string::String;
use alloc::vec::Vec;

use super::{HandshakeError, Request};

/// An `Origin` allow list for servers, checked after
/// [`ServerHandshake::handle_read`](super::ServerHandshake::handle_read).
///
/// RFC 6455 §10.2: the `Origin` header protects against scripts on other
/// sites opening WebSockets with the user's cookies; browsers always send it.
/// A request **without** `Origin` passes every policy: it comes from a
/// non-browser client, which could send any origin it likes anyway, so the
/// header proves nothing there. Authenticate such clients by other means.
///
/// ```
/// use wsmachine::handshake::OriginPolicy;
/// let policy = OriginPolicy::allow_list(["https://example.com"]);
/// # let _ = policy;
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OriginPolicy {
    /// Every origin is allowed.
    AnyOrigin,
    /// Only these serialized origins (e.g. `https://example.com:8443`), compared
    /// whole and ASCII case-insensitively (RFC 6454 §6.2 serializes scheme and
    /// host in lowercase; some clients do not). `null` matches only if listed.
    AllowList(Vec<String>),
}

impl OriginPolicy {
    /// An allow list of exact origins.
    pub fn allow_list<I, S>(origins: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        OriginPolicy::AllowList(origins.into_iter().map(Into::into).collect())
    }

    /// `Ok` if the request has no `Origin` or its origin is allowed, else
    /// [`HandshakeError::OriginNotAllowed`] (status 403; answer with
    /// [`HandshakeError::response`]).
    pub fn check(&self, request: &Request) -> Result<(), HandshakeError> {
        let Some(origin) = request.origin() else {
            return Ok(());
        };
        match self {
            OriginPolicy::AnyOrigin => Ok(()),
            OriginPolicy::AllowList(allowed) => {
                if allowed.iter().any(|a| a.eq_ignore_ascii_case(origin)) {
                    Ok(())
                } else {
                    Err(HandshakeError::OriginNotAllowed)
                }
            }
        }
    }
}
