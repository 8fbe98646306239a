//! The `host[:port]` part of a transport URL, read the one way every networked transport here
//! reads it (MQTT's broker, CoAP's server).

/// Splits `rest` (what follows `scheme://`, one trailing `/` allowed) into a host and a port,
/// `default_port` when none is given. IPv6 hosts come in brackets (`[::1]:5683`) and leave
/// without them. `None` for an empty host, a bad port, or a path, user or query part.
pub(crate) fn host_port(rest: &str, default_port: u16) -> Option<(String, u16)> {
    let rest = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        match after.strip_prefix(':') {
            Some(p) => (host, p.parse().ok()?),
            None if after.is_empty() => (host, default_port),
            None => return None,
        }
    } else {
        match rest.rsplit_once(':') {
            Some((h, p)) => (h, p.parse().ok()?),
            None => (rest, default_port),
        }
    };
    if host.is_empty() || host.contains(['/', '@', '?', '#']) {
        return None;
    }
    Some((host.to_string(), port))
}

/// True for `localhost` and loopback addresses: where plaintext may go without an opt-in.
pub(crate) fn is_loopback(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host.parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_ports() {
        assert_eq!(host_port("h", 1), Some(("h".into(), 1)));
        assert_eq!(host_port("h:7/", 1), Some(("h".into(), 7)));
        assert_eq!(host_port("[::1]:9", 1), Some(("::1".into(), 9)));
        assert_eq!(host_port("[::1]", 1), Some(("::1".into(), 1)));
        for bad in ["", ":5", "h:x", "u@h", "h/p", "[::1]x", "h?q"] {
            assert_eq!(host_port(bad, 1), None, "{bad}");
        }
        assert!(is_loopback("LOCALHOST") && is_loopback("127.0.0.2") && is_loopback("::1"));
        assert!(!is_loopback("10.0.0.1"));
    }
}
