//! Concurrent browser-softphone calls on this machine: N calls, each a
//! caller sending A-law RTP every 20 ms to its leg, bridged (as a real
//! call is) to an agent's browser line, whose browser is a str0m client
//! (full ICE, DTLS-SRTP) sending A-law every 20 ms back. Both directions
//! are relayed by the server's real media path (`voice::bench`).
//!
//! Measured over SECONDS after a warm-up: the process's CPU (server side
//! and the N clients and callers together, so an upper bound on the
//! server's share), the packets delivered each way, and the jitter: each
//! packet's arrival against when its stream's packets are due (20 ms
//! apart, from the first), minus the same for its sending (the senders'
//! own lateness on a busy machine is not the relay's), as a distribution
//! over all packets of all calls: median and 99th percentile.
//!
//! `SOFTPHONE_CALLS=200 SOFTPHONE_SECONDS=20 cargo bench -p voice --bench softphone`

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use str0m::change::SdpAnswer;
use str0m::media::{Direction, Frequency, MediaKind, MediaTime};
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, Input, Output, Rtc, RtcConfig};
use tokio::net::UdpSocket;

const FRAME: usize = 160;
const PERIOD: Duration = Duration::from_millis(20);

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Process CPU seconds (user + system) so far.
fn cpu() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // utime and stime are fields 14 and 15 (1-based), 11 and 12 here.
    (ticks(11) + ticks(12)) / 100.0
}

/// Per packet: how much later than due it arrived, less how late it was
/// sent (µs), for the packets of the measured window, each stream's
/// measured from its own quickest packet.
#[derive(Default)]
struct Tally {
    delays: Vec<i64>,
    received: u64,
    sent: u64,
}

impl Tally {
    fn add_stream(&mut self, mut delays: Vec<i64>) {
        let least = delays.iter().copied().min().unwrap_or(0);

        self.received += delays.len() as u64;
        self.delays.extend(delays.drain(..).map(|d| d - least));
    }
}

type Shared = Arc<Mutex<Tally>>;

/// The sender stamps each payload with a mark, its sequence number and
/// how late it was sent (µs) in its first 16 bytes (A-law noise to the
/// relay); what the server plays before the bridge (silence) has no mark.
fn stamp(buf: &mut [u8; FRAME], n: u64, late_us: i64) {
    buf[..8].copy_from_slice(&n.to_be_bytes());
    buf[8..12].copy_from_slice(&(late_us.clamp(0, i64::from(u32::MAX)) as u32).to_be_bytes());
    buf[12..16].copy_from_slice(MARK);
}

const MARK: &[u8; 4] = b"SBsp";

fn read_stamp(p: &[u8]) -> Option<(u64, i64)> {
    if p.len() < 16 || &p[12..16] != MARK {
        return None;
    }
    let n = u64::from_be_bytes(p[..8].try_into().ok()?);
    let late = i64::from(u32::from_be_bytes(p[8..12].try_into().ok()?));
    Some((n, late))
}

/// Where packet `n` of a stream that started at `t0` is due.
fn due(t0: Instant, n: u64) -> Instant {
    t0 + PERIOD * n as u32
}

struct Window {
    from: Instant,
    to: Instant,
}

impl Window {
    fn holds(&self, t: Instant) -> bool {
        t >= self.from && t < self.to
    }
}

/// The caller: A-law RTP every 20 ms to its leg; what comes back tallied.
async fn caller(
    sock: UdpSocket,
    to: SocketAddr,
    t0: Instant,
    w: Arc<Window>,
    out: Shared,
    tally: Shared,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(t0), PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n: u64 = 0;
    let mut rx = [0u8; 2048];
    let mut frame = [0xD5u8; FRAME];
    let mut packet = Vec::with_capacity(FRAME + 12);
    let mut their_t0: Option<(Instant, u64)> = None;
    let mut delays = Vec::new();
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let now = Instant::now();
                if now > w.to {
                    tally.lock().unwrap().add_stream(delays);
                    return;
                }
                let late = now.saturating_duration_since(due(t0, n)).as_micros() as i64;
                stamp(&mut frame, n, late);
                packet.clear();
                packet.extend_from_slice(&[0x80, 8]);
                packet.extend_from_slice(&(n as u16).to_be_bytes());
                packet.extend_from_slice(&((n * FRAME as u64) as u32).to_be_bytes());
                packet.extend_from_slice(&0x0ca1_1e75u32.to_be_bytes());
                packet.extend_from_slice(&frame);
                let _ = sock.send_to(&packet, to).await;
                if w.holds(now) {
                    out.lock().unwrap().sent += 1;
                }
                n += 1;
            }
            r = sock.recv_from(&mut rx) => {
                let Ok((len, _)) = r else { continue };
                let now = Instant::now();
                let Ok(p) = telephony::rtp::parse(&rx[..len]) else { continue };
                let Some((m, late)) = read_stamp(p.payload) else { continue };
                // The other side's stream is due from its first packet.
                let (base, first) = *their_t0.get_or_insert((now, m));
                let arrived = now.saturating_duration_since(due(base, m.saturating_sub(first))).as_micros() as i64;
                if w.holds(now) {
                    delays.push(arrived - late);
                }
            }
        }
    }
}

/// The browser: a str0m client (full ICE, controlling) sending A-law
/// every 20 ms once connected; what it receives tallied.
#[allow(clippy::too_many_arguments)]
async fn browser(
    mut rtc: Rtc,
    sock: UdpSocket,
    mid: str0m::media::Mid,
    t0: Instant,
    w: Arc<Window>,
    out: Shared,
    tally: Shared,
) {
    let local = sock.local_addr().unwrap();
    let mut rx = vec![0u8; 2048];
    let mut tick = tokio::time::interval_at(tokio::time::Instant::from_std(t0), PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut n: u64 = 0;
    let mut frame = [0xD5u8; FRAME];
    let mut pt = None;
    let mut their_t0: Option<(Instant, u64)> = None;
    let mut delays = Vec::new();
    loop {
        let next = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = sock.try_send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(Event::MediaData(d))) => {
                    let now = Instant::now();
                    if let Some((m, late)) = read_stamp(&d.data) {
                        let (base, first) = *their_t0.get_or_insert((now, m));
                        let arrived = now
                            .saturating_duration_since(due(base, m.saturating_sub(first)))
                            .as_micros() as i64;
                        if w.holds(now) {
                            delays.push(arrived - late);
                        }
                    }
                }
                Ok(_) => {}
                Err(_) => break Instant::now() + PERIOD,
            }
        };
        if Instant::now() > w.to {
            tally.lock().unwrap().add_stream(delays);
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(next)) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
            r = sock.recv_from(&mut rx) => {
                if let Ok((len, source)) = r {
                    if let Ok(contents) = rx[..len].try_into() {
                        let _ = rtc.handle_input(Input::Receive(
                            Instant::now(),
                            Receive { proto: Protocol::Udp, source, destination: local, contents },
                        ));
                    }
                }
            }
            _ = tick.tick() => {
                let now = Instant::now();
                let late = now.saturating_duration_since(due(t0, n)).as_micros() as i64;
                stamp(&mut frame, n, late);
                if pt.is_none() {
                    pt = rtc.writer(mid).and_then(|w| {
                        w.payload_params()
                            .find(|p| p.spec().codec == str0m::format::Codec::PCMA)
                            .map(|p| p.pt())
                    });
                }
                if let (Some(pt), Some(wr)) = (pt, rtc.writer(mid)) {
                    let at = MediaTime::new(n * FRAME as u64, Frequency::EIGHT_KHZ);
                    if wr.write(pt, now, at, frame.to_vec()).is_ok() && w.holds(now) {
                        out.lock().unwrap().sent += 1;
                    }
                }
                n += 1;
            }
        }
    }
}

fn percentile(sorted: &[i64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

fn main() {
    let calls = env("SOFTPHONE_CALLS", 200);
    let seconds = env("SOFTPHONE_SECONDS", 20);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let ip = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let to_browser: Shared = Arc::default();
        let to_caller: Shared = Arc::default();
        let setup = Instant::now();
        let warm = Duration::from_secs(3);
        // The clock starts once every call is set up and bridged.
        let t0 = Instant::now() + Duration::from_millis(2000 + 40 * calls);
        let w = Arc::new(Window {
            from: t0 + warm,
            to: t0 + warm + Duration::from_secs(seconds),
        });
        let mut tasks = Vec::new();
        let mut kept = Vec::new();
        for i in 0..calls {
            let mut rtc = RtcConfig::new()
                .clear_codecs()
                .enable_pcma(true, false)
                .build(Instant::now());
            let sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap();
            rtc.add_local_candidate(Candidate::host(sock.local_addr().unwrap(), "udp").unwrap());
            let mut change = rtc.sdp_api();
            let mid = change.add_media(MediaKind::Audio, Direction::SendRecv, None, None, None);
            let (offer, pending_offer) = change.apply().unwrap();
            let caller_sock = UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap();
            let (mut call, answer) =
                voice::bench::call(ip, caller_sock.local_addr().unwrap(), &offer.to_sdp_string())
                    .await
                    .unwrap();
            rtc.sdp_api()
                .accept_answer(pending_offer, SdpAnswer::from_sdp_string(&answer).unwrap())
                .unwrap();
            // Spread the calls' 20 ms phases as real calls' are.
            let start = t0 + Duration::from_micros(i * 20_000 / calls.max(1));
            tasks.push(tokio::spawn(browser(
                rtc,
                sock,
                mid,
                start,
                w.clone(),
                to_caller.clone(),
                to_browser.clone(),
            )));
            call.bridge(i).await.unwrap();
            tasks.push(tokio::spawn(caller(
                caller_sock,
                call.caller_port,
                start,
                w.clone(),
                to_browser.clone(),
                to_caller.clone(),
            )));
            // Kept until the end (dropping a call ends its legs).
            kept.push(call);
        }
        eprintln!("{calls} calls set up and bridged in {:?}", setup.elapsed());
        assert!(Instant::now() < t0, "setting up took longer than the time allowed for it");
        tokio::time::sleep_until(tokio::time::Instant::from_std(w.from)).await;
        let cpu0 = cpu();
        tokio::time::sleep_until(tokio::time::Instant::from_std(w.to)).await;
        let cpu1 = cpu();
        for t in tasks {
            let _ = t.await;
        }
        let cores = (cpu1 - cpu0) / seconds as f64;
        println!(
            "softphone: {calls} concurrent calls for {seconds} s on {} cores: CPU {:.2} cores in all ({:.2} ms per call per second, both ends in this process)",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            cores,
            cores * 1000.0 / calls as f64
        );
        for (name, t) in [("caller -> browser", &to_browser), ("browser -> caller", &to_caller)] {
            let mut t = t.lock().unwrap();
            t.delays.sort_unstable();
            let base = 0.0;
            let delivered = if t.sent == 0 { 0.0 } else { t.received as f64 * 100.0 / t.sent as f64 };
            println!(
                "  {name}: {} packets sent, {:.2}% delivered; jitter (arrival against due less the sender's own lateness, over the stream's quickest) median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
                t.sent,
                delivered,
                percentile(&t.delays, 0.5) - base,
                percentile(&t.delays, 0.99) - base,
                percentile(&t.delays, 1.0) - base,
            );
            // The check the test command runs (small, unoptimised): every
            // call's audio crosses both ways.
            assert!(delivered >= 99.0, "{name}: only {delivered:.2}% delivered");
        }
    });
}
