//! Probe: an ICE-lite str0m endpoint that echoes the browser's PCMA audio
//! back, behind a tiny HTTP server (GET / the page, POST /offer the SDP).
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, UdpSocket};
use std::time::Instant;
use str0m::change::{SdpAnswer, SdpOffer};
use str0m::media::Mid;
use str0m::net::{Protocol, Receive};
use str0m::{Candidate, Event, IceConnectionState, Input, Output, Rtc, RtcConfig};

const PAGE: &str = include_str!("page.html");

fn main() {
    str0m::crypto::from_feature_flags().install_process_default();
    let http = TcpListener::bind("127.0.0.1:0").unwrap();
    println!("listening http://{}", http.local_addr().unwrap());
    for s in http.incoming() {
        let mut s = s.unwrap();
        let mut r = BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        r.read_line(&mut line).unwrap();
        let mut len = 0;
        loop {
            let mut h = String::new();
            r.read_line(&mut h).unwrap();
            if h == "\r\n" || h.is_empty() {
                break;
            }
            if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                len = v.trim().parse().unwrap();
            }
        }
        let mut body = vec![0; len];
        r.read_exact(&mut body).unwrap();
        let (ctype, out) = if line.starts_with("POST /offer") {
            let offer: SdpOffer = serde_json::from_slice(&body).unwrap();
            let mut rtc = RtcConfig::new()
                .set_ice_lite(true)
                .clear_codecs()
                .enable_pcma(true, false)
                .build(Instant::now());
            let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
            let addr = sock.local_addr().unwrap();
            rtc.add_local_candidate(Candidate::host(addr, "udp").unwrap());
            let answer: SdpAnswer = rtc.sdp_api().accept_offer(offer).unwrap();
            eprintln!("answer:\n{}", answer.to_sdp_string());
            std::thread::spawn(move || run(rtc, sock));
            ("application/json", serde_json::to_vec(&answer).unwrap())
        } else {
            ("text/html", PAGE.as_bytes().to_vec())
        };
        write!(s, "HTTP/1.1 200 OK\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", out.len()).unwrap();
        s.write_all(&out).unwrap();
    }
}

fn run(mut rtc: Rtc, sock: UdpSocket) {
    let local = sock.local_addr().unwrap();
    let mut buf = vec![0u8; 2000];
    let mut mid: Option<Mid> = None;
    let (mut got, mut sent) = (0u64, 0u64);
    let started = Instant::now();
    loop {
        let timeout = loop {
            match rtc.poll_output() {
                Ok(Output::Timeout(t)) => break t,
                Ok(Output::Transmit(t)) => {
                    let _ = sock.send_to(&t.contents, t.destination);
                }
                Ok(Output::Event(e)) => match e {
                    Event::MediaAdded(m) => {
                        eprintln!("media added {:?} {:?}", m.mid, m.direction);
                        mid = Some(m.mid);
                    }
                    Event::MediaData(d) => {
                        got += 1;
                        if let Some(w) = mid.and_then(|m| rtc.writer(m)) {
                            if w.write(d.pt, Instant::now(), d.time, d.data.clone()).is_ok() {
                                sent += 1;
                            }
                        }
                        if got % 100 == 0 {
                            eprintln!("media: {got} in, {sent} echoed, pt {:?}, {} bytes, {:?}", d.pt, d.data.len(), started.elapsed());
                        }
                    }
                    Event::IceConnectionStateChange(s) => {
                        eprintln!("ice {s:?}");
                        if s == IceConnectionState::Disconnected {
                            return;
                        }
                    }
                    Event::Connected => eprintln!("connected (DTLS) after {:?}", started.elapsed()),
                    other => eprintln!("event {other:?}"),
                },
                Err(e) => {
                    eprintln!("error {e:?}");
                    return;
                }
            }
        };
        let wait = timeout.saturating_duration_since(Instant::now());
        if wait.is_zero() {
            let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            continue;
        }
        sock.set_read_timeout(Some(wait)).unwrap();
        match sock.recv_from(&mut buf) {
            Ok((n, source)) => {
                if let Ok(contents) = buf[..n].try_into() {
                    let _ = rtc.handle_input(Input::Receive(
                        Instant::now(),
                        Receive { proto: Protocol::Udp, source, destination: local, contents },
                    ));
                }
            }
            Err(_) => {
                let _ = rtc.handle_input(Input::Timeout(Instant::now()));
            }
        }
    }
}
