//! Who is asking, by address: the peer of the connection, unless the operator names the proxies
//! in front of Galaxy (`GALAXY_TRUSTED_PROXIES`) — then the address those proxies say they saw.
//!
//! Only a trusted peer's forwarding headers are read, and only as far as they stay trusted:
//! walking `Forwarded` (RFC 7239; preferred when present) or `X-Forwarded-For` from the right
//! (the hop nearest to us), each trusted proxy is skipped and the first address that is not a
//! trusted proxy is the client. A client cannot pose as someone else by sending these headers
//! itself: whatever it writes ends up left of the address its first trusted proxy appended.
//! A hop that is not an address (`unknown`, an obfuscated name) stops the walk at the last
//! trusted proxy.

use std::net::{IpAddr, Ipv6Addr};
use std::str::FromStr;

use ipnet::IpNet;

/// The proxies whose forwarding headers are believed: a comma-separated list of networks and
/// addresses (`10.0.0.0/8, 127.0.0.1`). Empty by default: the socket peer is the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl FromStr for TrustedProxies {
    type Err = String;

    fn from_str(list: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                nets.push(net.trunc());
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                nets.push(IpNet::from(canonical(ip)));
            } else {
                return Err(format!(
                    "`{item}` is not a network (10.0.0.0/8) or an address (127.0.0.1)"
                ));
            }
        }
        Ok(TrustedProxies(nets))
    }
}

impl TrustedProxies {
    /// Whether `ip` is one of the trusted proxies.
    pub fn trusts(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address for a request from `peer` carrying these header values (every
    /// `Forwarded` and every `X-Forwarded-For` line, in order).
    pub fn client_address(
        &self,
        peer: IpAddr,
        forwarded: &[&str],
        x_forwarded_for: &[&str],
    ) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let hops: Vec<Option<IpAddr>> = if forwarded.is_empty() {
            x_forwarded_for
                .iter()
                .flat_map(|line| line.split(','))
                .map(|hop| parse_hop(hop.trim()))
                .collect()
        } else {
            forwarded
                .iter()
                .flat_map(|line| line.split(','))
                .map(forwarded_for)
                .collect()
        };
        let mut client = peer;
        for hop in hops.into_iter().rev() {
            let Some(ip) = hop else { break };
            client = canonical(ip);
            if !self.trusts(client) {
                break;
            }
        }
        client
    }
}

/// The `for=` address of one `Forwarded` element (`for=192.0.2.1;proto=https`), if it is one.
fn forwarded_for(element: &str) -> Option<IpAddr> {
    element.split(';').find_map(|pair| {
        let (name, value) = pair.trim().split_once('=')?;
        if !name.trim().eq_ignore_ascii_case("for") {
            return None;
        }
        parse_hop(value.trim().trim_matches('"'))
    })
}

/// An address as proxies write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]:4711`.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Some(rest) = hop.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse::<Ipv6Addr>().ok().map(IpAddr::V6);
    }
    let (host, port) = hop.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`, what a dual-stack socket reports) as IPv4.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// What throttles count a client as: its IPv4 address, or its IPv6 /64 (one subscriber usually
/// holds a whole /64, so counting single IPv6 addresses would let one client be millions).
pub fn throttle_key(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match ipnet::Ipv6Net::new(v6, 64) {
            Ok(net) => net.trunc().to_string(),
            Err(_) => v6.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_the_headers_say() {
        let none = TrustedProxies::default();
        assert_eq!(
            none.client_address(ip("203.0.113.9"), &["for=198.51.100.1"], &["198.51.100.2"]),
            ip("203.0.113.9")
        );
        // Trusting someone else changes nothing for this peer either.
        let other: TrustedProxies = "10.0.0.0/8".parse().unwrap();
        assert_eq!(
            other.client_address(ip("203.0.113.9"), &[], &["198.51.100.2"]),
            ip("203.0.113.9")
        );
    }

    #[test]
    fn behind_trusted_proxies_the_first_untrusted_hop_from_the_right_is_the_client() {
        let proxies: TrustedProxies = "10.0.0.0/8, 127.0.0.1".parse().unwrap();
        // A client that forges a header only adds to the left of what its proxy appended.
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), &[], &["6.6.6.6, 198.51.100.7, 10.1.2.3"]),
            ip("198.51.100.7")
        );
        // Several header lines read as one list, in order.
        assert_eq!(
            proxies.client_address(ip("10.0.0.1"), &[], &["6.6.6.6", "198.51.100.8"]),
            ip("198.51.100.8")
        );
        // Forwarded wins over X-Forwarded-For, with ports, quotes and brackets.
        assert_eq!(
            proxies.client_address(
                ip("127.0.0.1"),
                &["for=6.6.6.6, for=\"[2001:db8:cafe::17]:4711\";proto=https, for=10.0.0.2"],
                &["198.51.100.9"]
            ),
            ip("2001:db8:cafe::17")
        );
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), &[], &["198.51.100.10:5555"]),
            ip("198.51.100.10")
        );
        // Garbage stops the walk at the last trusted hop; so does an empty header.
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), &[], &["198.51.100.1, unknown, 10.0.0.3"]),
            ip("10.0.0.3")
        );
        assert_eq!(
            proxies.client_address(ip("127.0.0.1"), &[], &[]),
            ip("127.0.0.1")
        );
        // A dual-stack socket's mapped form of a trusted address is trusted.
        assert_eq!(
            proxies.client_address(ip("::ffff:127.0.0.1"), &[], &["198.51.100.11"]),
            ip("198.51.100.11")
        );
    }

    #[test]
    fn a_bad_list_names_the_item() {
        let err = "10.0.0.0/8, proxy.internal"
            .parse::<TrustedProxies>()
            .unwrap_err();
        assert!(err.contains("proxy.internal"), "{err}");
        assert_eq!("".parse::<TrustedProxies>(), Ok(TrustedProxies::default()));
    }

    #[test]
    fn ipv6_clients_count_by_their_64() {
        assert_eq!(
            throttle_key(ip("2001:db8:1:2:aaaa::1")),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            throttle_key(ip("2001:db8:1:2:bbbb::9")),
            throttle_key(ip("2001:db8:1:2:aaaa::1"))
        );
        assert_ne!(
            throttle_key(ip("2001:db8:1:3::1")),
            throttle_key(ip("2001:db8:1:2::1"))
        );
        assert_eq!(throttle_key(ip("::ffff:192.0.2.1")), "192.0.2.1");
    }
}
