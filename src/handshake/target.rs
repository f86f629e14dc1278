//! Parsing a `ws://` or `wss://` URL into what a client needs to connect and
//! to write its request (RFC 6455 §3).

use alloc::format;
use alloc::string::String;

use super::HandshakeError;

/// A parsed WebSocket URI.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Target {
    /// `wss` (TLS) rather than `ws`.
    pub(crate) secure: bool,
    /// The host to connect to; an IPv6 literal without its brackets.
    pub(crate) host: String,
    /// Whether `host` is an IPv6 literal (bracketed again in `Host`).
    pub(crate) ipv6: bool,
    /// The port, explicit or the scheme's default.
    pub(crate) port: u16,
    /// RFC 6455 §3 "resource name": path and query, at least `/`.
    pub(crate) resource: String,
}

impl Target {
    /// RFC 6455 §3: the default ports are 80 for `ws` and 443 for `wss`.
    fn default_port(secure: bool) -> u16 {
        if secure { 443 } else { 80 }
    }

    /// The `Host` header: RFC 6455 §4.1 (4) and RFC 9110 §7.2: the host, and
    /// the port unless it is the scheme's default; IPv6 literals in brackets.
    pub(crate) fn host_header(&self) -> String {
        let host = if self.ipv6 {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        if self.port == Target::default_port(self.secure) {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// Parses `ws://host[:port][/path][?query]` (or `wss://`).
pub(crate) fn parse(url: &str) -> Result<Target, HandshakeError> {
    let invalid = HandshakeError::InvalidUrl;
    let (scheme, rest) = url
        .split_once("://")
        .ok_or(invalid("expected ws:// or wss://"))?;
    // RFC 6455 §3: the scheme is case-insensitive (RFC 3986 §3.1).
    let secure = if scheme.eq_ignore_ascii_case("ws") {
        false
    } else if scheme.eq_ignore_ascii_case("wss") {
        true
    } else {
        return Err(invalid("the scheme must be ws or wss"));
    };
    // RFC 6455 §3: fragment identifiers are meaningless here and MUST NOT be
    // used; a '#' must be escaped as %23.
    if rest.contains('#') {
        return Err(invalid("fragments are not allowed in a WebSocket URL"));
    }
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, resource) = rest.split_at(authority_end);
    if authority.contains('@') {
        return Err(invalid("user info is not supported"));
    }

    let (host, ipv6, port) = if let Some(literal) = authority.strip_prefix('[') {
        let (host, after) = literal
            .split_once(']')
            .ok_or(invalid("unterminated IPv6 literal"))?;
        // RFC 3986 §3.2.2: hex digits, colons, an embedded IPv4 address, and
        // an optional RFC 6874 zone ID.
        let valid = host.contains(':')
            && host
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b":.%-_~".contains(&b));
        if !valid {
            return Err(invalid("invalid IPv6 literal"));
        }
        let port = match after {
            "" => None,
            _ => Some(
                after
                    .strip_prefix(':')
                    .ok_or(invalid("junk after IPv6 literal"))?,
            ),
        };
        (host, true, port)
    } else {
        let (host, port) = match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        };
        // RFC 3986 §3.2.2 reg-name: unreserved, percent-encoded, sub-delims.
        let valid = host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~%!$&'()*+,;=".contains(&b));
        if !valid {
            return Err(invalid("invalid host"));
        }
        (host, false, port)
    };
    if host.is_empty() {
        return Err(invalid("missing host"));
    }
    let port = match port {
        None => Target::default_port(secure),
        Some(port) => {
            let all_digits = !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit());
            match port.parse::<u16>() {
                Ok(port) if all_digits && port != 0 => port,
                _ => return Err(invalid("invalid port")),
            }
        }
    };
    // RFC 6455 §3: the resource name is "/" when the path is empty, then the
    // query. It goes on the request line, so it must be printable ASCII
    // without spaces (RFC 9112 §3.2); anything else must be percent-encoded.
    if !resource.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(invalid(
            "the path must be printable ASCII (percent-encode the rest)",
        ));
    }
    let resource = if resource.starts_with('/') {
        String::from(resource)
    } else {
        format!("/{resource}")
    };
    Ok(Target {
        secure,
        host: String::from(host),
        ipv6,
        port,
        resource,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(url: &str) -> (bool, String, u16, String, String) {
        let t = parse(url).unwrap();
        let header = t.host_header();
        (t.secure, t.host, t.port, t.resource, header)
    }

    #[test]
    fn parses_urls() {
        assert_eq!(
            ok("ws://example.com"),
            (
                false,
                "example.com".into(),
                80,
                "/".into(),
                "example.com".into()
            )
        );
        assert_eq!(
            ok("WSS://example.com:8443/a/b?c=d&e"),
            (
                true,
                "example.com".into(),
                8443,
                "/a/b?c=d&e".into(),
                "example.com:8443".into()
            )
        );
        assert_eq!(
            ok("ws://[::1]:9001?x"),
            (false, "::1".into(), 9001, "/?x".into(), "[::1]:9001".into())
        );
        assert_eq!(
            ok("wss://[2001:db8::1]/"),
            (
                true,
                "2001:db8::1".into(),
                443,
                "/".into(),
                "[2001:db8::1]".into()
            )
        );
        assert_eq!(ok("wss://h:443").4, "h");
        assert_eq!(ok("ws://h:443").4, "h:443");
        assert_eq!(ok("ws://127.0.0.1:80/").4, "127.0.0.1");
    }

    #[test]
    fn rejects_invalid_urls() {
        for url in [
            "",
            "example.com",
            "http://example.com/",
            "ws://",
            "ws:///path",
            "ws://:80/",
            "ws://host:/",
            "ws://host:0/",
            "ws://host:65536/",
            "ws://host:+80/",
            "ws://host:80:81/",
            "ws://user@host/",
            "ws://host/#frag",
            "ws://host/a b",
            "ws://host/\r\nX: y",
            "ws://host/caf\u{e9}",
            "ws://ho st/",
            "ws://[::1/",
            "ws://[]/",
            "ws://[127.0.0.1]/",
            "ws://[::1]x/",
        ] {
            assert!(
                matches!(parse(url), Err(HandshakeError::InvalidUrl(_))),
                "{url:?}"
            );
        }
    }
}
