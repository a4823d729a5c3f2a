//! The HTTP listener: connections accepted within limits (in all, and per
//! client address), an idle timeout (a connection that sends no request
//! for that long is closed, and so is one that trickles its headers),
//! TLS when configured (a plain-HTTP request on the TLS port is
//! redirected to https://), and a graceful stop.

use crate::net::Edge;
use crate::tls::Certs;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{watch, Semaphore};

/// Limits on connections.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections open at once; more are closed as they arrive.
    pub max_connections: usize,
    /// Connections open at once from one client address (trusted
    /// proxies, which carry everyone's, are exempt).
    pub max_per_address: usize,
    /// A connection with no request for this long, or whose request
    /// headers take longer than this, is closed.
    pub idle_timeout: Duration,
    /// The TLS handshake (or a plain request's head on the TLS port).
    pub handshake_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Limits {
        // A call centre reached through one NAT address has thousands of
        // staff on it (a live stream each, and their requests): the
        // per-address share is large by default; the whole is bounded
        // below this machine's 20,000 open files a process.
        Limits {
            max_connections: 16_384,
            max_per_address: 4096,
            idle_timeout: Duration::from_secs(30),
            handshake_timeout: Duration::from_secs(10),
        }
    }
}

/// Connections open per client address.
#[derive(Default)]
struct PerAddress(Mutex<HashMap<IpAddr, usize>>);

/// Counts one connection of an address while alive.
struct AddressSlot(Arc<PerAddress>, IpAddr);

impl Drop for AddressSlot {
    fn drop(&mut self) {
        let mut m = self.0 .0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = m.get_mut(&self.1) {
            *n -= 1;
            if *n == 0 {
                m.remove(&self.1);
            }
        }
    }
}

impl PerAddress {
    fn take(self: &Arc<Self>, ip: IpAddr, max: usize) -> Option<AddressSlot> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let n = m.entry(ip).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(AddressSlot(self.clone(), ip))
    }
}

/// Says a refusal at most once a minute (a flood must not flood the log).
struct Quiet(Mutex<Option<std::time::Instant>>);

impl Quiet {
    fn say(&self, what: impl FnOnce()) {
        let mut last = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if last.is_none_or(|t| t.elapsed() > Duration::from_secs(60)) {
            *last = Some(std::time::Instant::now());
            what();
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes; then stops
/// accepting, lets requests in progress finish (10 s at most) and returns.
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    router: axum::Router,
    edge: Arc<Edge>,
    tls: Option<Arc<Certs>>,
    limits: Limits,
    shutdown: impl std::future::Future<Output = ()>,
) {
    let open = Arc::new(Semaphore::new(limits.max_connections));
    let per_address = Arc::new(PerAddress::default());
    let (stop, stopping) = watch::channel(false);
    let quiet = Quiet(Mutex::new(None));
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of file descriptors, say: wait rather than spin.
                    quiet.say(|| tracing::warn!("accepting a connection failed: {e}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let Ok(permit) = open.clone().try_acquire_owned() else {
            quiet.say(|| {
                tracing::warn!(
                    "connection limit ({}) reached: new connections are closed",
                    limits.max_connections
                )
            });
            continue;
        };
        let slot = if edge.is_trusted(peer.ip()) {
            None
        } else {
            match per_address.take(peer.ip(), limits.max_per_address) {
                Some(s) => Some(s),
                None => {
                    quiet.say(|| {
                        tracing::warn!(
                            "{} has {} connections open, the most one address may: more are closed",
                            peer.ip(),
                            limits.max_per_address
                        )
                    });
                    continue;
                }
            }
        };
        let (router, tls, stopping) = (router.clone(), tls.clone(), stopping.clone());
        tokio::spawn(async move {
            let _held = (permit, slot);
            connection(stream, peer, router, tls, limits, stopping).await;
        });
    }
    let _ = stop.send(true);
    // Requests in progress finish (their connections close after them).
    let all = u32::try_from(limits.max_connections).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(10), open.acquire_many(all)).await;
}

async fn connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: axum::Router,
    tls: Option<Arc<Certs>>,
    limits: Limits,
    stopping: watch::Receiver<bool>,
) {
    let _ = stream.set_nodelay(true);
    let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
        req.extensions_mut().insert(ConnectInfo(peer));
        let mut router = router.clone();
        async move { tower_service::Service::call(&mut router, req).await }
    });
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.idle_timeout)
        .keep_alive(true);
    let Some(certs) = tls else {
        let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
        return drive(conn.with_upgrades(), stopping).await;
    };
    // A TLS connection starts with a handshake record (0x16); anything
    // else is someone speaking plain HTTP to the HTTPS port.
    let mut first = [0u8; 1];
    match tokio::time::timeout(limits.handshake_timeout, stream.peek(&mut first)).await {
        Ok(Ok(1)) if first[0] == 0x16 => {}
        Ok(Ok(1)) => return redirect_to_https(stream, limits.handshake_timeout).await,
        _ => return,
    }
    let accepted = tokio::time::timeout(limits.handshake_timeout, certs.acceptor().accept(stream));
    let stream = match accepted.await {
        Ok(Ok(s)) => s,
        // A client that gave up or does not trust us: nothing to serve.
        _ => return,
    };
    let conn = http.serve_connection(hyper_util::rt::TokioIo::new(stream), service);
    drive(conn.with_upgrades(), stopping).await;
}

/// Runs a connection to its end, or until the server stops (then the
/// request in progress finishes, 10 s at most).
async fn drive<C>(conn: C, mut stopping: watch::Receiver<bool>)
where
    C: std::future::Future + GracefulShutdown,
{
    tokio::pin!(conn);
    let stopped = async move {
        loop {
            let now = *stopping.borrow_and_update();
            if now || stopping.changed().await.is_err() {
                return;
            }
        }
    };
    tokio::select! {
        _ = conn.as_mut() => {}
        () = stopped => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(Duration::from_secs(10), conn).await;
        }
    }
}

/// hyper's connections can be asked to finish what they are doing and close.
trait GracefulShutdown {
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>);
}

impl<I, S> GracefulShutdown for hyper::server::conn::http1::UpgradeableConnection<I, S>
where
    S: hyper::service::HttpService<Incoming>,
    S::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    S::ResBody: 'static,
    <S::ResBody as hyper::body::Body>::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    fn graceful_shutdown(self: std::pin::Pin<&mut Self>) {
        hyper::server::conn::http1::UpgradeableConnection::graceful_shutdown(self)
    }
}

/// Answers a plain-HTTP request on the TLS port with a permanent redirect
/// to the same path over https (400 if its head is not one we can read).
async fn redirect_to_https(mut stream: TcpStream, within: Duration) {
    let mut head = Vec::with_capacity(1024);
    let read = async {
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 8192 {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
    };
    let _ = tokio::time::timeout(within, read).await;
    let answer = match https_location(&String::from_utf8_lossy(&head)) {
        Some(location) => format!(
            "HTTP/1.1 308 Permanent Redirect\r\nLocation: {location}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        ),
        None => {
            let body = "{\"error\":\"this server speaks HTTPS only: use https://\"}";
            format!(
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            )
        }
    };
    let _ = stream.write_all(answer.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// `https://HOST/PATH` for a plain request's head, if its target and Host
/// are plain enough to repeat safely.
fn https_location(head: &str) -> Option<String> {
    let mut lines = head.split("\r\n");
    let mut request = lines.next()?.split(' ');
    let (_method, target) = (request.next()?, request.next()?);
    let host = lines.find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case("host").then(|| v.trim())
    })?;
    let host_ok = !host.is_empty()
        && host.len() <= 255
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']'));
    let target_ok = target.starts_with('/')
        && !target.starts_with("//")
        && target.len() <= 2000
        && target.bytes().all(|b| b.is_ascii_graphic());
    (host_ok && target_ok).then(|| format!("https://{host}{target}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_requests_are_sent_to_the_same_place_over_https() {
        assert_eq!(
            https_location(
                "GET /wallboard?x=1 HTTP/1.1\r\nHost: switchboard.trust.nhs.uk:8443\r\n\r\n"
            )
            .as_deref(),
            Some("https://switchboard.trust.nhs.uk:8443/wallboard?x=1")
        );
        for bad in [
            "GET //evil.example/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
            "GET http://x/ HTTP/1.1\r\nHost: a\r\n\r\n",
            "",
        ] {
            assert_eq!(https_location(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn an_address_has_at_most_its_share_of_connections() {
        let p = Arc::new(PerAddress::default());
        let ip: IpAddr = "192.0.2.1".parse().unwrap();
        let a = p.take(ip, 2).unwrap();
        let _b = p.take(ip, 2).unwrap();
        assert!(p.take(ip, 2).is_none());
        assert!(p.take("192.0.2.2".parse().unwrap(), 2).is_some());
        drop(a);
        assert!(
            p.take(ip, 2).is_some(),
            "a closed connection frees its slot"
        );
    }
}
