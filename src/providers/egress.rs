//! Where user-supplied endpoints may reach: the public internet, and on the server's own networks
//! only what the operator allows.
//!
//! A base URL a user types (an OpenAI-compatible endpoint) is checked three times: at save
//! ([`EgressPolicy::check_url`]: http/https only, no user info or fragment, `http://` only for
//! an allowed private endpoint, and an address literal must be allowed), again before every call
//! (the same check: the stored row may predate a policy change), and at connect time on the
//! *resolved* addresses ([`GuardedResolver`], the DNS resolver of the client that calls user
//! endpoints), so a name that resolves to a private address — or starts doing so later (DNS
//! rebinding) — is refused. Provider calls never follow redirects (see [`super::http`]).
//!
//! Refused by default: loopback, private (RFC 1918, IPv6 ULA), link-local (169.254.0.0/16 —
//! cloud metadata —, fe80::/10), CGNAT (100.64.0.0/10), multicast, broadcast, unspecified,
//! documentation and benchmarking ranges, IPv4-mapped forms of all of these and IPv6 ranges that
//! carry an IPv4 inside (NAT64, 6to4, Teredo) — and always the server's own listen addresses.
//! A host the operator lists with a port is reachable on that port only. The operator allows
//! a local model server on purpose with `GALAXY_ALLOWED_PRIVATE_ENDPOINTS` (see [`EgressPolicy`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::Arc;

use ipnet::IpNet;

/// What user-supplied endpoints may reach besides the public internet: a comma-separated list of
/// networks (`10.0.0.0/8`, `fd00::/8`), addresses (`127.0.0.1`, any port) and `host:port`
/// pairs (`127.0.0.1:11434`, `ollama.internal:11434`, `[::1]:8080`). Empty by default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EgressPolicy {
    nets: Vec<IpNet>,
    endpoints: Vec<(String, u16)>,
    /// The server's own listen addresses: never a user endpoint, whatever else is allowed.
    own: Vec<SocketAddr>,
}

impl FromStr for EgressPolicy {
    type Err = String;

    fn from_str(list: &str) -> Result<EgressPolicy, String> {
        let mut policy = EgressPolicy::default();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Ok(net) = item.parse::<IpNet>() {
                policy.nets.push(net.trunc());
            } else if let Ok(ip) = item.parse::<IpAddr>() {
                policy.nets.push(IpNet::from(ip));
            } else if let Some((host, port)) = split_host_port(item) {
                policy.endpoints.push((host, port));
            } else {
                return Err(format!(
                    "`{item}` is not a network (10.0.0.0/8), an address or a host:port"
                ));
            }
        }
        Ok(policy)
    }
}

/// `host:port` or `[v6]:port`, the host lower-cased and without brackets.
fn split_host_port(item: &str) -> Option<(String, u16)> {
    let (host, port) = item.rsplit_once(':')?;
    let port = port.parse::<u16>().ok().filter(|p| *p > 0)?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    let valid = !host.is_empty()
        && host.len() <= 253
        && (host.parse::<IpAddr>().is_ok()
            || host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.'));
    let host = match host.parse::<IpAddr>() {
        Ok(ip) => canonical(ip).to_string(),
        Err(_) => host.to_ascii_lowercase(),
    };
    valid.then_some((host, port))
}

impl EgressPolicy {
    /// The policy, knowing the server's own listen addresses (refused as user endpoints).
    pub fn with_own_addresses(mut self, own: impl IntoIterator<Item = SocketAddr>) -> Self {
        self.own.extend(own);
        self
    }

    /// True when `ip:port` is one of the server's own listeners (an unspecified listen
    /// address stands for every local one: loopback and private addresses on that port).
    fn is_own(&self, ip: IpAddr, port: u16) -> bool {
        let ip = canonical(ip);
        self.own.iter().any(|own| {
            own.port() == port
                && (canonical(own.ip()) == ip || (own.ip().is_unspecified() && !is_public(ip)))
        })
    }

    /// True when the operator listed this host on some port. The resolver, which does not see
    /// ports, lets such a name through; [`EgressPolicy::check_url`] holds it to its ports.
    fn lists_host(&self, host: &str) -> bool {
        self.endpoints
            .iter()
            .any(|(h, _)| h.eq_ignore_ascii_case(host))
    }

    /// True when `ip` may be reached: a public address, or one the operator allowed.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.nets.iter().any(|net| net.contains(&canonical(ip)))
    }

    /// True when the operator allowed this host (a name or an address) on this port.
    fn allows_endpoint(&self, host: &str, port: u16) -> bool {
        self.endpoints
            .iter()
            .any(|(h, p)| *p == port && h.eq_ignore_ascii_case(host))
    }

    /// Checks a user-supplied base URL; the message says what to change.
    pub fn check_url(&self, url: &str) -> Result<(), String> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|_| "Enter the endpoint's base URL, e.g. https://example.com/v1".to_owned())?;
        let https = match parsed.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err("Use an https:// (or http://) URL.".to_owned()),
        };
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("Leave the user name and password out of the URL.".to_owned());
        }
        if parsed.fragment().is_some() {
            return Err("Leave the #fragment out of the URL.".to_owned());
        }
        let port = parsed.port_or_known_default().unwrap_or(443);
        let Some(host) = parsed.host_str().map(str::to_ascii_lowercase) else {
            return Err("The URL needs a host.".to_owned());
        };
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let literal = bare.parse::<IpAddr>().ok();
        let bare = literal.map_or_else(|| bare.to_owned(), |ip| canonical(ip).to_string());
        let bare = bare.as_str();
        if literal.is_some_and(|ip| self.is_own(ip, port)) {
            return Err("That is Galaxy's own address.".to_owned());
        }
        let allowed_endpoint = self.allows_endpoint(bare, port);
        if self.lists_host(bare) && !allowed_endpoint {
            // The operator named this host with its port(s): no other port of it.
            return Err(refusal(bare));
        }
        let allowed_private = match literal {
            Some(ip) if !is_public(ip) => {
                if !(allowed_endpoint || self.allows_ip(ip)) {
                    return Err(refusal(bare));
                }
                true
            }
            Some(_) => false,
            // A name: where it resolves is checked at connect time; these never leave the host.
            None if is_localhost(&host) => {
                if !allowed_endpoint {
                    return Err(refusal(bare));
                }
                true
            }
            None => allowed_endpoint,
        };
        if !https && !allowed_private {
            return Err(
                "Use https:// (plain http:// is for a private endpoint the operator allows)."
                    .to_owned(),
            );
        }
        Ok(())
    }
}

/// `localhost`, its subdomains, with or without the final dot.
fn is_localhost(host: &str) -> bool {
    let host = host.trim_end_matches('.');
    host == "localhost" || host.ends_with(".localhost")
}

fn refusal(host: &str) -> String {
    format!(
        "{host} is on a private network, which Galaxy does not call unless its operator allows \
         it (GALAXY_ALLOWED_PRIVATE_ENDPOINTS)."
    )
}

/// An IPv4-mapped IPv6 address as the IPv4 address it is.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// True for an address on the public internet.
pub fn is_public(ip: IpAddr) -> bool {
    match canonical(ip) {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_multicast()
        || ip.is_broadcast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (b & 0xc0) == 64) // CGNAT 100.64.0.0/10
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 192 && b == 88 && c == 99) // 6to4 relay anycast
        || (a == 198 && (b & 0xfe) == 18)) // benchmarking 198.18.0.0/15
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00 // unique local fc00::/7
        || (first & 0xffc0) == 0xfe80 // link-local fe80::/10
        || (first & 0xffc0) == 0xfec0 // site-local (deprecated) fec0::/10
        || first == 0x2001 && ip.segments()[1] == 0x0db8 // documentation
        || first == 0x0064 && ip.segments()[1] == 0xff9b // NAT64 (64:ff9b::/96, 64:ff9b:1::/48)
        || first == 0x2002 // 6to4: an IPv4 inside
        || first == 0x2001 && ip.segments()[1] == 0 // Teredo
        || (first == 0x0100 && ip.segments()[1..4] == [0, 0, 0]) // discard-only 100::/64
        || ip.to_ipv4().is_some()) // IPv4-compatible ::a.b.c.d
}

/// The DNS resolver of the client that calls user endpoints: resolves with the system resolver,
/// then keeps only the addresses the policy allows; none left is a refusal. An allowed
/// `host:port` name is reached wherever it resolves (the operator named it).
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub policy: Arc<EgressPolicy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let named = policy.lists_host(&host);
            let kept: Vec<SocketAddr> = found
                .into_iter()
                .filter(|a| named || policy.allows_ip(a.ip()))
                .collect();
            if kept.is_empty() {
                return Err(refusal(&host).into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(kept.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn private_and_special_addresses_are_not_public() {
        for s in [
            "127.0.0.1",
            "127.8.9.10",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "224.0.0.1",
            "255.255.255.255",
            "240.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "::",
            "::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "2001:db8::1",
            "64:ff9b:1::a00:1",
            "2002:a00:1::1",
            "2001:0:4136:e378::1",
            "100::1",
            "192.88.99.1",
        ] {
            assert!(!is_public(ip(s)), "{s} must not be public");
        }
        for s in [
            "8.8.8.8",
            "1.1.1.1",
            "100.63.255.255",
            "100.128.0.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            assert!(is_public(ip(s)), "{s} is public");
        }
    }

    #[test]
    fn the_operator_list_parses_networks_addresses_and_endpoints() {
        let p: EgressPolicy = "10.0.0.0/8, 127.0.0.1 ,ollama.internal:11434,[::1]:8080,fd00::/8"
            .parse()
            .unwrap();
        assert!(p.allows_ip(ip("10.9.9.9")));
        assert!(p.allows_ip(ip("127.0.0.1")));
        assert!(
            p.allows_ip(ip("::ffff:127.0.0.1")),
            "mapped form of an allowed address"
        );
        assert!(!p.allows_ip(ip("127.0.0.2")));
        assert!(p.allows_ip(ip("fd00::5")));
        assert!(!p.allows_ip(ip("169.254.169.254")));
        assert!(p.allows_endpoint("OLLAMA.internal", 11434));
        assert!(!p.allows_endpoint("ollama.internal", 11435));
        assert!(p.allows_endpoint("::1", 8080));
        assert_eq!("".parse::<EgressPolicy>().unwrap(), EgressPolicy::default());
        for bad in [
            "10.0.0.0/33",
            "host:0",
            "host:99999",
            "just a host",
            "a_b:80",
            ":80",
        ] {
            let e = bad.parse::<EgressPolicy>().unwrap_err();
            assert!(e.contains(bad.trim()), "{e}");
        }
    }

    #[test]
    fn user_urls_are_checked_for_shape_scheme_and_private_addresses() {
        let strict = EgressPolicy::default();
        assert!(strict.check_url("https://api.example.com/v1").is_ok());
        assert!(strict.check_url("https://8.8.8.8/v1").is_ok());
        for (url, says) in [
            ("http://api.example.com/v1", "https://"),
            ("ftp://api.example.com/v1", "https://"),
            ("https://user:pw@api.example.com/v1", "user name"),
            ("https://api.example.com/v1#x", "fragment"),
            ("http://127.0.0.1:6379/", "private network"),
            ("https://127.0.0.1:5432/", "private network"),
            ("https://[::1]:3000/api", "private network"),
            ("https://[::ffff:169.254.169.254]/latest", "private network"),
            (
                "https://169.254.169.254/latest/meta-data",
                "private network",
            ),
            ("https://10.0.0.7/v1", "private network"),
            ("https://0.0.0.0:3000/", "private network"),
            ("https://2130706433/", "private network"), // 127.0.0.1 as one number
            ("http://localhost:3000/api", "private network"),
            ("https://app.localhost/", "private network"),
            ("not a url", "base URL"),
        ] {
            let e = strict.check_url(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
        let local: EgressPolicy = "127.0.0.1:11434,localhost:8080,ollama.internal:11434,[0:0::1]:9"
            .parse()
            .unwrap();
        assert!(local.check_url("http://127.0.0.1:11434/v1").is_ok());
        assert!(
            local.check_url("http://127.0.0.1:11435/v1").is_err(),
            "another port"
        );
        assert!(local.check_url("http://localhost:8080/v1").is_ok());
        assert!(local.check_url("http://localhost:8081/v1").is_err());
        assert!(local.check_url("http://ollama.internal:11434/v1").is_ok());
        let e = local
            .check_url("https://ollama.internal:6379/")
            .unwrap_err();
        assert!(
            e.contains("private network"),
            "a named host on another port: {e}"
        );
        assert!(
            local.check_url("http://[::1]:9/").is_ok(),
            "canonical IPv6 entry"
        );
        assert!(strict.check_url("https://localhost./").is_err());

        // The server itself, even where its network is allowed.
        let own: EgressPolicy = "127.0.0.0/8,10.0.0.0/8".parse().unwrap();
        let own = own.with_own_addresses(["127.0.0.1:3000".parse().unwrap()]);
        assert!(own.check_url("http://127.0.0.1:11434/v1").is_ok());
        assert!(
            own.check_url("http://127.0.0.1:3000/api")
                .unwrap_err()
                .contains("own")
        );
        let all = own.with_own_addresses(["0.0.0.0:3001".parse().unwrap()]);
        assert!(
            all.check_url("http://10.1.2.3:3001/")
                .unwrap_err()
                .contains("own")
        );
        let public = EgressPolicy::default().with_own_addresses([
            "0.0.0.0:3000".parse().unwrap(),
            "203.0.113.9:9100".parse().unwrap(),
        ]);
        assert!(
            public.check_url("https://8.8.8.8:3000/").is_ok(),
            "another host's port"
        );
        assert!(public.check_url("https://203.0.113.9:9100/").is_err());
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_that_resolve_to_private_addresses() {
        use reqwest::dns::Resolve;
        let strict = GuardedResolver {
            policy: Arc::new(EgressPolicy::default()),
        };
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        let e = strict.resolve(name).await.err().unwrap();
        assert!(e.to_string().contains("private network"), "{e}");
        let allowed = GuardedResolver {
            policy: Arc::new("127.0.0.1".parse().unwrap()),
        };
        let name = reqwest::dns::Name::from_str("localhost").unwrap();
        let addrs: Vec<SocketAddr> = allowed.resolve(name).await.unwrap().collect();
        assert!(!addrs.is_empty());
        assert!(addrs.iter().all(|a| a.ip() == ip("127.0.0.1")), "{addrs:?}");
    }
}
