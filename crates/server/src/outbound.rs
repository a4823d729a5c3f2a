//! Requests the server makes of its own accord (referral bundles to a
//! service's endpoint): only where allowed. An endpoint must be HTTPS to a
//! public address; loopback, private, link-local and other non-public
//! ranges (the cloud metadata address 169.254.169.254 among them), and
//! plain HTTP, only for hosts the operator put on `--outbound-allow`. The
//! host's name is resolved once and the connection goes to an address
//! that passed the check, so a name that later resolves elsewhere (DNS
//! rebinding) cannot steer it. Errors say what kind of failure it was,
//! never what the far end said.

use crate::net::Cidr;
use bytes::Bytes;
use http_body_util::Full;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// A host the operator allows outbound requests to whatever its address:
/// a name (exactly, case-insensitive) or an address or network.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Allowed {
    Name(String),
    Net(Cidr),
}

impl std::str::FromStr for Allowed {
    type Err = String;
    fn from_str(s: &str) -> Result<Allowed, String> {
        if let Ok(c) = s.parse::<Cidr>() {
            return Ok(Allowed::Net(c));
        }
        let name = s.trim().to_ascii_lowercase();
        let ok = !name.is_empty()
            && name.len() <= 253
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-'));
        if ok {
            Ok(Allowed::Name(name))
        } else {
            Err(format!(
                "{s:?}: give a host name, an address or a network such as 10.0.0.0/8"
            ))
        }
    }
}

/// Where the server may send requests, and whom it trusts over TLS.
#[derive(Clone, Debug, Default)]
pub struct OutboundOptions {
    pub allow: Vec<Allowed>,
    /// Extra certificate authorities (a PEM file) beside the system's.
    pub ca_file: Option<std::path::PathBuf>,
}

/// A checked endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    pub https: bool,
    pub host: String,
    pub port: u16,
    pub path: String,
    /// On the operator's allow list: any address, plain HTTP allowed.
    pub allowed: bool,
}

/// The policy and the TLS client.
#[derive(Clone)]
pub struct Outbound {
    allow: Vec<Allowed>,
    tls: tokio_rustls::TlsConnector,
}

impl std::fmt::Debug for Outbound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outbound")
            .field("allow", &self.allow)
            .finish_non_exhaustive()
    }
}

/// Whether an address is on the public internet: not loopback, private,
/// shared (CGNAT), link-local, multicast, documentation, benchmarking,
/// reserved or unspecified; for IPv6, not unique-local or link-local, and
/// an embedded IPv4 address (mapped, NAT64) judged as IPv4.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b {
                let [.., a, b, c, d] = v6.octets();
                return public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link local
                || (s[0] == 0x2001 && s[1] == 0x0db8) // documentation
                || v6 == Ipv6Addr::new(0, 0, 0, 0, 0, 0, 0, 1))
        }
    }
}

fn public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240)
}

fn strip_brackets(host: &str) -> &str {
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

impl Outbound {
    /// The policy, with a TLS client trusting the system's authorities
    /// and those in `ca_file`.
    pub fn new(opts: &OutboundOptions) -> Result<Outbound, String> {
        let mut roots = rustls::RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = roots.add_parsable_certificates(native.certs);
        if let Some(f) = &opts.ca_file {
            use rustls_pki_types::pem::PemObject;
            let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_file_iter(f)
                .map_err(|e| format!("--outbound-ca {}: {e}", f.display()))?
                .collect::<Result<_, _>>()
                .map_err(|e| format!("--outbound-ca {}: {e}", f.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--outbound-ca {}: no certificates in it",
                    f.display()
                ));
            }
            for c in certs {
                roots
                    .add(c)
                    .map_err(|e| format!("--outbound-ca {}: {e}", f.display()))?;
            }
        } else if added == 0 {
            tracing::warn!("no system certificate authorities found: HTTPS referral endpoints will fail until some are installed or --outbound-ca names a file");
        }
        let config = rustls::ClientConfig::builder_with_provider(crate::tls::provider())
            .with_safe_default_protocol_versions()
            .map_err(|e| e.to_string())?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Outbound {
            allow: opts.allow.clone(),
            tls: tokio_rustls::TlsConnector::from(Arc::new(config)),
        })
    }

    fn allows_name(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        self.allow
            .iter()
            .any(|a| matches!(a, Allowed::Name(n) if *n == host))
    }

    fn allows_ip(&self, ip: IpAddr) -> bool {
        self.allow
            .iter()
            .any(|a| matches!(a, Allowed::Net(c) if c.contains(ip)))
    }

    /// Checks an endpoint's address, naming the problem.
    pub fn check_url(&self, url: &str) -> Result<Target, String> {
        if url.len() > 2000 {
            return Err("url: at most 2000 characters".into());
        }
        let uri: hyper::Uri = url.parse().map_err(|_| "url: not a URL".to_string())?;
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err("url: give an https:// address".into()),
        };
        let authority = uri.authority().ok_or("url: no host")?;
        if authority.as_str().contains('@') {
            return Err("url: no user name or password in the address".into());
        }
        let host = strip_brackets(authority.host()).to_string();
        if host.is_empty() {
            return Err("url: no host".into());
        }
        let ip = host.parse::<IpAddr>().ok();
        let allowed = self.allows_name(&host) || ip.is_some_and(|ip| self.allows_ip(ip));
        if !allowed {
            if !https {
                return Err(format!("url: plain http:// is only for hosts on the server's --outbound-allow list; {host} is not: use https://"));
            }
            if let Some(ip) = ip.filter(|ip| !is_public(*ip)) {
                return Err(format!("url: {ip} is not a public address (loopback, private, link-local or reserved); referrals go there only if the server's --outbound-allow lists it"));
            }
            let lower = host.to_ascii_lowercase();
            if lower == "localhost" || lower.ends_with(".localhost") {
                return Err(format!("url: {host} is this machine; referrals go there only if the server's --outbound-allow lists it"));
            }
        }
        Ok(Target {
            https,
            port: uri.port_u16().unwrap_or(if https { 443 } else { 80 }),
            path: uri.path_and_query().map_or("/", |p| p.as_str()).to_string(),
            host,
            allowed,
        })
    }

    /// The addresses of the target that requests may go to.
    async fn addresses(&self, t: &Target) -> Result<Vec<SocketAddr>, String> {
        let found: Vec<SocketAddr> = match t.host.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, t.port)],
            Err(_) => tokio::time::timeout(
                Duration::from_secs(5),
                tokio::net::lookup_host((t.host.as_str(), t.port)),
            )
            .await
            .map_err(|_| "the host name did not resolve within 5 s".to_string())?
            .map_err(|_| "the host name did not resolve".to_string())?
            .collect(),
        };
        let ok: Vec<SocketAddr> = found
            .into_iter()
            .filter(|a| t.allowed || self.allows_ip(a.ip()) || is_public(a.ip()))
            .collect();
        if ok.is_empty() {
            return Err("the host resolves only to addresses outbound requests may not go to (not public, not on --outbound-allow)".into());
        }
        Ok(ok)
    }

    /// POSTs `body` to `url` (checked again here: an address stored before
    /// the policy, or imported from a file, is held to it too); the HTTP
    /// status, or what kind of failure.
    pub async fn post(&self, url: &str, content_type: &str, body: String) -> Result<u16, String> {
        let req = hyper::Request::post("/")
            .header(hyper::header::CONTENT_TYPE, content_type)
            .body(Full::new(Bytes::from(body)))
            .map_err(|_| "the request could not be made".to_string())?;
        self.send(url, req).await.map(|(s, _)| s)
    }

    /// The TLS client (trusting the system's authorities and --outbound-ca).
    pub fn tls(&self) -> tokio_rustls::TlsConnector {
        self.tls.clone()
    }

    /// Sends `req` (its method, headers and body; the path and host come
    /// from `url`, checked as for [`Outbound::post`]); the status and up to
    /// 1 MiB of the answer's body.
    pub async fn send(
        &self,
        url: &str,
        req: hyper::Request<Full<Bytes>>,
    ) -> Result<(u16, Vec<u8>), String> {
        let t = self.check_url(url)?;
        let mut stream = None;
        for addr in self.addresses(&t).await? {
            let connect = tokio::net::TcpStream::connect(addr);
            if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_secs(5), connect).await {
                stream = Some(s);
                break;
            }
        }
        let stream = stream.ok_or("could not connect")?;
        let default_port = if t.https { 443 } else { 80 };
        let host_header = if t.port == default_port {
            t.host.clone()
        } else if t.host.contains(':') {
            format!("[{}]:{}", t.host, t.port)
        } else {
            format!("{}:{}", t.host, t.port)
        };
        let (mut parts, body) = req.into_parts();
        parts.uri = t
            .path
            .parse()
            .map_err(|_| "url: not a path the request can carry".to_string())?;
        parts.headers.insert(
            hyper::header::HOST,
            hyper::header::HeaderValue::from_str(&host_header)
                .map_err(|_| "url: not a host a request can carry".to_string())?,
        );
        let req = hyper::Request::from_parts(parts, body);
        if t.https {
            let name = rustls_pki_types::ServerName::try_from(t.host.clone())
                .map_err(|_| "url: not a host name TLS can check".to_string())?;
            let tls = tokio::time::timeout(Duration::from_secs(10), self.tls.connect(name, stream))
                .await
                .map_err(|_| "the TLS handshake timed out".to_string())?
                .map_err(
                    |e| match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
                        Some(rustls::Error::InvalidCertificate(_)) => {
                            "TLS: the endpoint's certificate is not trusted for its name"
                                .to_string()
                        }
                        _ => "the TLS handshake failed".to_string(),
                    },
                )?;
            exchange(tls, req).await
        } else {
            exchange(stream, req).await
        }
    }
}

/// Most of an answer's body read.
const MAX_ANSWER: usize = 1 << 20;

async fn exchange<IO>(io: IO, req: hyper::Request<Full<Bytes>>) -> Result<(u16, Vec<u8>), String>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(io))
            .await
            .map_err(|_| "the connection failed before a request could be sent".to_string())?;
    tokio::spawn(conn);
    let resp = tokio::time::timeout(Duration::from_secs(10), sender.send_request(req))
        .await
        .map_err(|_| "no answer within 10 s".to_string())?
        .map_err(|_| "the connection failed before an answer came".to_string())?;
    let status = resp.status().as_u16();
    let mut body = resp.into_body();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), async {
        use http_body_util::BodyExt;
        while let Some(f) = body.frame().await {
            let Ok(f) = f else { break };
            if let Some(d) = f.data_ref() {
                if out.len() + d.len() > MAX_ANSWER {
                    break;
                }
                out.extend_from_slice(d);
            }
        }
    })
    .await;
    if read.is_err() {
        return Err("the answer's body did not come within 10 s".into());
    }
    Ok((status, out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(allow: &[&str]) -> Outbound {
        Outbound::new(&OutboundOptions {
            allow: allow.iter().map(|a| a.parse().unwrap()).collect(),
            ca_file: None,
        })
        .unwrap()
    }

    #[test]
    fn endpoints_must_be_https_to_public_addresses_unless_allowed() {
        let p = policy(&[]);
        let t = p
            .check_url("https://uec.example.nhs.uk/referrals?x=1")
            .unwrap();
        assert_eq!(
            (t.https, t.host.as_str(), t.port, t.path.as_str()),
            (true, "uec.example.nhs.uk", 443, "/referrals?x=1")
        );
        for (url, says) in [
            (
                "http://uec.example.nhs.uk/r",
                "plain http:// is only for hosts",
            ),
            (
                "https://127.0.0.1:8080/r",
                "127.0.0.1 is not a public address",
            ),
            (
                "https://169.254.169.254/latest/meta-data/",
                "169.254.169.254 is not a public address",
            ),
            ("https://10.2.3.4/r", "not a public address"),
            ("https://[::1]/r", "::1 is not a public address"),
            ("https://[fd00::5]/r", "not a public address"),
            ("https://[::ffff:192.168.1.1]/r", "not a public address"),
            ("https://100.64.0.1/r", "not a public address"),
            ("https://0.0.0.0/r", "not a public address"),
            ("https://localhost:9/r", "is this machine"),
            (
                "https://user:pw@uec.example.nhs.uk/r",
                "no user name or password",
            ),
            ("ftp://uec.example.nhs.uk/r", "give an https:// address"),
            ("not a url", "not a URL"),
        ] {
            let e = p.check_url(url).unwrap_err();
            assert!(e.contains(says), "{url}: {e}");
        }
        // The operator's allow list opens a host, by address or by name.
        let p = policy(&["127.0.0.1", "receiver.trust.internal"]);
        let t = p.check_url("http://127.0.0.1:9000/r").unwrap();
        assert!(t.allowed && !t.https && t.port == 9000);
        assert!(p.check_url("http://RECEIVER.trust.internal/r").is_ok());
        assert!(p.check_url("https://127.0.0.2/r").is_err());
        assert!(p.check_url("http://127.0.0.1.nip.io/r").is_err());
    }

    #[test]
    fn public_means_routable_on_the_internet() {
        for ip in ["8.8.8.8", "151.101.0.1", "2a00:1450::1", "::ffff:8.8.8.8"] {
            assert!(is_public(ip.parse().unwrap()), "{ip}");
        }
        for ip in [
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.0.1",
            "169.254.169.254",
            "100.127.255.255",
            "0.1.2.3",
            "255.255.255.255",
            "224.0.0.1",
            "192.0.2.1",
            "198.18.0.1",
            "240.0.0.1",
            "::1",
            "::",
            "fe80::1",
            "fc00::1",
            "ff02::1",
            "2001:db8::1",
            "64:ff9b::a00:1",
            "::ffff:127.0.0.1",
        ] {
            assert!(!is_public(ip.parse().unwrap()), "{ip}");
        }
    }

    #[tokio::test]
    async fn a_name_that_resolves_to_loopback_is_refused_at_send_time() {
        // "localhost.": a name, not caught by the text check, that
        // resolves to loopback; the send refuses it after resolving.
        let p = policy(&[]);
        let e = p
            .post("https://localhost./r", "application/json", "{}".into())
            .await
            .unwrap_err();
        assert!(
            e.contains("resolves only to addresses") || e.contains("did not resolve"),
            "{e}"
        );
    }
}
