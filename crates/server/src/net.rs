//! Who the client is: its address and whether it reached us over HTTPS,
//! taking `Forwarded` / `X-Forwarded-For` / `X-Forwarded-Proto` only from
//! the reverse proxies the operator named (`--trusted-proxy`). Anyone
//! else's headers are ignored: a client cannot choose its own address.

use axum::extract::{ConnectInfo, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

/// A network: an address and a prefix length (`10.0.0.0/8`,
/// `2001:db8::/32`; a bare address is the one address).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl std::str::FromStr for Cidr {
    type Err = String;
    fn from_str(s: &str) -> Result<Cidr, String> {
        let (a, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = a
            .trim()
            .parse()
            .map_err(|_| format!("{s:?}: not an IP address or network such as 10.0.0.0/8"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            Some(b) => b
                .trim()
                .parse::<u8>()
                .ok()
                .filter(|&b| b <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
            None => max,
        };
        Ok(Cidr { net, bits })
    }
}

impl Cidr {
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.net, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => match v6.to_ipv4_mapped() {
                Some(v4) => IpAddr::V4(v4),
                None => return false,
            },
            _ => ip,
        };
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// How the HTTP edge meets the network.
#[derive(Clone, Debug, Default)]
pub struct Edge {
    /// Reverse proxies whose forwarding headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// This server terminates TLS itself.
    pub tls: bool,
}

impl Edge {
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }

    /// The client behind a connection from `peer`.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Client {
        if !self.is_trusted(peer) {
            return Client {
                addr: peer,
                https: self.tls,
            };
        }
        // The chain of addresses, the nearest hop last; we walk back from
        // our proxy to the first address no trusted proxy owns.
        let chain = forwarded_for(headers);
        let addr = chain
            .iter()
            .rev()
            .find(|ip| !self.is_trusted(**ip))
            .or(chain.first())
            .copied()
            .unwrap_or(peer);
        let https = self.tls || forwarded_proto(headers).as_deref() == Some("https");
        Client { addr, https }
    }
}

/// The client as this server sees it, for every route (the gate, the
/// log-in throttle, cookies and HSTS).
#[derive(Clone, Copy, Debug)]
pub struct Client {
    pub addr: IpAddr,
    /// Reached us over HTTPS (ours, or a trusted proxy's).
    pub https: bool,
}

fn parse_node(s: &str) -> Option<IpAddr> {
    let s = s.trim().trim_matches('"');
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    // An IPv4 address with a port.
    s.rsplit_once(':')?.0.parse().ok()
}

/// `Forwarded: for=…` (RFC 7239) if present, else `X-Forwarded-For`; the
/// nearest hop last. Values that are not addresses (`unknown`, obfuscated
/// names) end the chain there: nothing before them is believed.
fn forwarded_for(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|s| s.trim().to_string())
            .collect()
    };
    let forwarded = values("forwarded");
    let nodes: Vec<String> = if forwarded.is_empty() {
        values("x-forwarded-for")
    } else {
        forwarded
            .iter()
            .filter_map(|el| {
                el.split(';').find_map(|pair| {
                    let (k, v) = pair.split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| v.to_string())
                })
            })
            .collect()
    };
    let mut out = Vec::new();
    for n in nodes.iter().rev() {
        match parse_node(n) {
            Some(ip) => out.push(ip),
            None => break,
        }
    }
    out.reverse();
    out
}

/// The protocol the nearest proxy says the client used.
fn forwarded_proto(headers: &HeaderMap) -> Option<String> {
    let last = |name: &str| {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .next_back()
            .map(|s| s.trim().to_ascii_lowercase())
    };
    if let Some(el) = last("forwarded") {
        return el.split(';').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case("proto")
                .then(|| v.trim().trim_matches('"').to_string())
        });
    }
    last("x-forwarded-proto")
}

/// The outermost layer (one, on the hot path): works out the [`Client`]
/// once for the routes, and puts the security headers on every answer.
pub(crate) async fn client_layer(
    State(edge): State<Arc<Edge>>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    mut req: Request,
    next: Next,
) -> Response {
    let client = edge.client(peer.ip(), req.headers());
    req.extensions_mut().insert(client);
    let mut r = next.run(req).await;
    crate::web::security_headers(&mut r, client.https);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn networks_parse_and_contain() {
        let c: Cidr = "10.1.0.0/16".parse().unwrap();
        assert!(c.contains(ip("10.1.200.3")));
        assert!(!c.contains(ip("10.2.0.1")));
        assert!(c.contains(ip("::ffff:10.1.0.9")), "v4-mapped");
        let one: Cidr = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: Cidr = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::1")) && !v6.contains(ip("2001:db9::1")));
        let all: Cidr = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0/8", "::/129"] {
            assert!(bad.parse::<Cidr>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let edge = Edge {
            trusted_proxies: vec!["10.0.0.0/8".parse().unwrap()],
            tls: false,
        };
        let h = headers(&[
            ("x-forwarded-for", "203.0.113.9, 10.0.0.4"),
            ("x-forwarded-proto", "https"),
        ]);
        // From the proxy: the first hop no trusted proxy owns.
        let c = edge.client(ip("10.0.0.5"), &h);
        assert_eq!((c.addr, c.https), (ip("203.0.113.9"), true));
        // From anyone else: their own address, their claims ignored.
        let c = edge.client(ip("198.51.100.1"), &h);
        assert_eq!((c.addr, c.https), (ip("198.51.100.1"), false));
        // A client that sends its own X-Forwarded-For through the proxy
        // cannot hide behind it: the proxy appends the real address.
        let h = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.77")]);
        assert_eq!(edge.client(ip("10.0.0.5"), &h).addr, ip("198.51.100.77"));
        // RFC 7239 wins over X-Forwarded-For, with ports and IPv6.
        let h = headers(&[
            (
                "forwarded",
                "for=\"[2001:db8::1]:4711\";proto=https, for=10.0.0.3",
            ),
            ("x-forwarded-for", "192.0.2.1"),
        ]);
        let c = edge.client(ip("10.0.0.5"), &h);
        assert_eq!(c.addr, ip("2001:db8::1"));
        let h = headers(&[("forwarded", "for=192.0.2.60:80;proto=http")]);
        assert_eq!(edge.client(ip("10.0.0.5"), &h).addr, ip("192.0.2.60"));
        // "unknown" stops the chain; no header at all: the proxy itself.
        let h = headers(&[("forwarded", "for=unknown, for=10.0.0.9")]);
        assert_eq!(edge.client(ip("10.0.0.5"), &h).addr, ip("10.0.0.9"));
        assert_eq!(
            edge.client(ip("10.0.0.5"), &HeaderMap::new()).addr,
            ip("10.0.0.5")
        );
    }
}
