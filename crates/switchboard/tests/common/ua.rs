//! A small SIP user agent for the telephony tests, written from RFC 3261
//! rather than borrowed from the server: it registers (answering the
//! digest challenge), calls and answers with the codec a test chooses,
//! sends and hears RTP, presses keys (RFC 4733) and hangs up. Every step
//! answers the SIP status code it got, so a test asserts the code, not a
//! process's exit status. Sockets bind port 0.

use super::audio;
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};
use telephony::g711::Codec;

/// One SIP message received, and where from.
#[derive(Clone, Debug)]
pub struct Msg {
    pub text: String,
    pub from: SocketAddr,
}

fn compact(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "via" => "v",
        "from" => "f",
        "to" => "t",
        "call-id" => "i",
        "contact" => "m",
        "content-type" => "c",
        "content-length" => "l",
        _ => return None,
    })
}

impl Msg {
    pub fn first_line(&self) -> &str {
        self.text.lines().next().unwrap_or("")
    }

    /// The status code of a response.
    pub fn status(&self) -> Option<u16> {
        let l = self.first_line().strip_prefix("SIP/2.0 ")?;
        l.get(..3)?.parse().ok()
    }

    /// The method of a request.
    pub fn method(&self) -> Option<&str> {
        if self.first_line().starts_with("SIP/") {
            return None;
        }
        self.first_line().split(' ').next()
    }

    fn head(&self) -> &str {
        self.text.split("\r\n\r\n").next().unwrap_or("")
    }

    /// Every value of a header (full or compact name).
    pub fn headers(&self, name: &str) -> Vec<String> {
        let short = compact(name);
        self.head()
            .lines()
            .skip(1)
            .filter_map(|l| {
                let (n, v) = l.split_once(':')?;
                let n = n.trim();
                (n.eq_ignore_ascii_case(name) || short.is_some_and(|s| n.eq_ignore_ascii_case(s)))
                    .then(|| v.trim().to_string())
            })
            .collect()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers(name).into_iter().next()
    }

    pub fn body(&self) -> &str {
        self.text.split_once("\r\n\r\n").map_or("", |(_, b)| b)
    }

    /// The URI inside a name-addr header value (`<sip:…>`), or the bare one.
    pub fn uri_of(value: &str) -> String {
        match (value.find('<'), value.find('>')) {
            (Some(a), Some(b)) if a < b => value[a + 1..b].to_string(),
            _ => value.split(';').next().unwrap_or(value).trim().to_string(),
        }
    }

    /// A parameter of a header value (`tag`, `nonce`…).
    pub fn param(value: &str, name: &str) -> Option<String> {
        value.split([';', ',']).find_map(|p| {
            let (k, v) = p.trim().split_once('=')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().trim_matches('"').to_string())
        })
    }
}

/// An established call, as one side sees it.
#[derive(Clone, Debug)]
pub struct Dialog {
    pub call_id: String,
    /// Our From/To value (with our tag) and theirs (with theirs).
    pub local: String,
    pub remote: String,
    /// Where in-dialog requests go (the peer's Contact).
    pub target: String,
    pub cseq: u32,
    /// Where our RTP goes, and in which codec.
    pub media: SocketAddr,
    pub codec: Codec,
    /// The telephone-event payload type the peer offered or accepted.
    pub events: Option<u8>,
}

pub struct Ua {
    pub sip: UdpSocket,
    pub rtp: UdpSocket,
    pub server: SocketAddr,
    pub user: String,
    n: u32,
    /// The RTP stream we send: sequence, timestamp, SSRC.
    seq: u16,
    ts: u32,
    ssrc: u32,
    /// Samples of tone sent so far (phase continuity).
    sent: usize,
}

impl Ua {
    pub fn new(server: SocketAddr, user: &str) -> Ua {
        let sip = UdpSocket::bind("127.0.0.1:0").unwrap();
        let rtp = UdpSocket::bind("127.0.0.1:0").unwrap();
        let ssrc = 0x5e55_0000 | (rtp.local_addr().unwrap().port() as u32);
        Ua {
            sip,
            rtp,
            server,
            user: user.to_string(),
            n: 0,
            seq: 1000,
            ts: 160_000,
            ssrc,
            sent: 0,
        }
    }

    pub fn local(&self) -> SocketAddr {
        self.sip.local_addr().unwrap()
    }

    fn next(&mut self) -> String {
        self.n += 1;
        format!(
            "{}-{}-{}",
            self.user.replace(['.', '+'], ""),
            self.local().port(),
            self.n
        )
    }

    fn contact(&self) -> String {
        format!("<sip:{}@{}>", self.user, self.local())
    }

    fn via(&mut self) -> String {
        let b = self.next();
        format!("SIP/2.0/UDP {};rport;branch=z9hG4bK{b}", self.local())
    }

    pub fn send(&self, text: &str) {
        self.sip.send_to(text.as_bytes(), self.server).unwrap();
    }

    /// The next SIP message within `wait` (None: nothing came).
    pub fn recv(&self, wait: Duration) -> Option<Msg> {
        self.sip
            .set_read_timeout(Some(wait.max(Duration::from_millis(1))))
            .unwrap();
        let mut buf = vec![0u8; 65_536];
        let (n, from) = self.sip.recv_from(&mut buf).ok()?;
        Some(Msg {
            text: String::from_utf8_lossy(&buf[..n]).into_owned(),
            from,
        })
    }

    /// The final response to the request with this CSeq and Call-ID
    /// (requests arriving meanwhile are answered 200, as a phone would
    /// answer an OPTIONS ping; provisional responses skipped).
    pub fn final_response(&self, call_id: &str, cseq: &str, wait: Duration) -> Option<Msg> {
        let t0 = Instant::now();
        while t0.elapsed() < wait {
            let Some(m) = self.recv(wait - t0.elapsed()) else {
                break;
            };
            if m.method().is_some() {
                if m.method() != Some("ACK") {
                    self.reply(&m, 200, "", "");
                }
                continue;
            }
            if m.header("Call-ID").as_deref() == Some(call_id)
                && m.header("CSeq").as_deref() == Some(cseq)
                && m.status().is_some_and(|s| s >= 200)
            {
                return Some(m);
            }
        }
        None
    }

    /// Answers a request with `code`; `extra` header lines end with CRLF.
    pub fn reply(&self, req: &Msg, code: u16, extra: &str, body: &str) {
        self.reply_to(req, code, None, extra, body)
    }

    /// As `reply`, with our own To value (carrying our tag).
    pub fn reply_to(&self, req: &Msg, code: u16, to: Option<&str>, extra: &str, body: &str) {
        let mut out = format!("SIP/2.0 {code} {}\r\n", reason(code));
        for v in req.headers("Via") {
            out.push_str(&format!("Via: {v}\r\n"));
        }
        out.push_str(&format!(
            "From: {}\r\n",
            req.header("From").unwrap_or_default()
        ));
        let to = to.map_or_else(|| req.header("To").unwrap_or_default(), str::to_string);
        out.push_str(&format!("To: {to}\r\n"));
        out.push_str(&format!(
            "Call-ID: {}\r\nCSeq: {}\r\n{extra}Content-Length: {}\r\n\r\n{body}",
            req.header("Call-ID").unwrap_or_default(),
            req.header("CSeq").unwrap_or_default(),
            body.len()
        ));
        self.sip.send_to(out.as_bytes(), req.from).unwrap();
    }

    /// Registers our SIP address as `user`'s phone with `password`,
    /// answering the digest challenge; answers the final status code
    /// (200 registered, 403 refused, 429 slowed down…).
    pub fn register(&mut self, password: &str) -> u16 {
        self.register_as(password, &self.contact(), 300)
    }

    /// REGISTER with a Contact value and expiry of our choosing (`*` and 0
    /// to remove every binding).
    pub fn register_as(&mut self, password: &str, contact: &str, expires: u32) -> u16 {
        let uri = format!("sip:{}", self.server);
        let call_id = format!("reg-{}@test", self.next());
        let host = self.server.ip();
        let user = self.user.clone();
        let mut auth = String::new();
        for cseq in 1..=2 {
            let via = self.via();
            let m = format!(
                "REGISTER {uri} SIP/2.0\r\nVia: {via}\r\nFrom: <sip:{user}@{host}>;tag=r{cseq}\r\nTo: <sip:{user}@{host}>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\nContact: {contact}\r\nExpires: {expires}\r\n{auth}Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
            );
            self.send(&m);
            let Some(r) = self.final_response(
                &call_id,
                &format!("{cseq} REGISTER"),
                Duration::from_secs(5),
            ) else {
                return 0;
            };
            let code = r.status().unwrap();
            if code != 401 || cseq == 2 {
                return code;
            }
            let ch = r.header("WWW-Authenticate").expect("a challenge");
            let nonce = Msg::param(&ch, "nonce").expect("a nonce");
            let realm = Msg::param(&ch, "realm").unwrap_or_else(|| "switchboard".into());
            let ha1 = telephony::digest::ha1(&user, &realm, password);
            let response = telephony::digest::response(
                &ha1,
                &nonce,
                "REGISTER",
                &uri,
                Some(("00000001", "c0ffee")),
            );
            auth = format!(
                "Authorization: Digest username=\"{user}\", realm=\"{realm}\", nonce=\"{nonce}\", uri=\"{uri}\", response=\"{response}\", algorithm=MD5, qop=auth, nc=00000001, cnonce=\"c0ffee\"\r\n"
            );
        }
        unreachable!()
    }

    fn sdp(&self, codecs: &[Codec]) -> String {
        let rtp = self.rtp.local_addr().unwrap();
        let pts: Vec<String> = codecs
            .iter()
            .map(|c| c.payload_type().to_string())
            .collect();
        let mut s = format!(
            "v=0\r\no=test 1 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP {} 101\r\n",
            rtp.port(),
            pts.join(" "),
            ip = rtp.ip()
        );
        for c in codecs {
            s.push_str(&format!(
                "a=rtpmap:{} {}/8000\r\n",
                c.payload_type(),
                c.name()
            ));
        }
        s.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n");
        s
    }

    /// Calls `number` at the server offering only `codec`; answers the
    /// dialog once answered (200, ACKed), or the final status code.
    pub fn call(&mut self, number: &str, codec: Codec) -> Result<Dialog, u16> {
        let via = self.via();
        let tag = self.next();
        let call_id = format!("call-{}@test", self.next());
        let local = format!("<sip:+447700900123@{}>;tag={tag}", self.local().ip());
        let remote = format!("<sip:{number}@{}>", self.server);
        let sdp = self.sdp(&[codec]);
        let head = format!(
            "Via: {via}\r\nFrom: {local}\r\nTo: {remote}\r\nCall-ID: {call_id}\r\nMax-Forwards: 70\r\n"
        );
        self.send(&format!(
            "INVITE sip:{number}@{} SIP/2.0\r\n{head}CSeq: 1 INVITE\r\nContact: {}\r\nContent-Type: application/sdp\r\nContent-Length: {}\r\n\r\n{sdp}",
            self.server,
            self.contact(),
            sdp.len()
        ));
        let r = self
            .final_response(&call_id, "1 INVITE", Duration::from_secs(10))
            .ok_or(0u16)?;
        let code = r.status().unwrap();
        let to = r.header("To").unwrap_or_default();
        // ACK: for a failure with the INVITE's Via and To as answered.
        let ack_via = if code == 200 { self.via() } else { via };
        let target = if code == 200 {
            Msg::uri_of(&r.header("Contact").expect("a Contact in the 200"))
        } else {
            format!("sip:{number}@{}", self.server)
        };
        self.send(&format!(
            "ACK {target} SIP/2.0\r\nVia: {ack_via}\r\nFrom: {local}\r\nTo: {to}\r\nCall-ID: {call_id}\r\nMax-Forwards: 70\r\nCSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
        ));
        if code != 200 {
            return Err(code);
        }
        let answer = telephony::sdp::parse(r.body().as_bytes()).expect("an SDP answer");
        Ok(Dialog {
            call_id,
            local,
            remote: to,
            target,
            cseq: 1,
            media: answer.address,
            codec: answer.codec.expect("a G.711 codec in the answer"),
            events: answer.telephone_event,
        })
    }

    /// Waits for an INVITE (answering anything else that comes with 200).
    pub fn await_invite(&self, wait: Duration) -> Option<Msg> {
        self.await_request("INVITE", wait)
    }

    /// Waits for a request with this method; answers other requests 200.
    pub fn await_request(&self, method: &str, wait: Duration) -> Option<Msg> {
        let t0 = Instant::now();
        while t0.elapsed() < wait {
            let m = self.recv(wait - t0.elapsed())?;
            match m.method() {
                Some(x) if x == method => return Some(m),
                Some("ACK") | None => {}
                Some(_) => self.reply(&m, 200, "", ""),
            }
        }
        None
    }

    /// Answers an INVITE (200, our SDP with `codec` only), waits for the
    /// ACK; answers the dialog.
    pub fn answer(&mut self, invite: &Msg, codec: Codec) -> Dialog {
        let offer = telephony::sdp::parse(invite.body().as_bytes()).expect("an SDP offer");
        let tag = self.next();
        let to = format!("{};tag={tag}", invite.header("To").unwrap());
        let sdp = self.sdp(&[codec]);
        self.reply_to(
            invite,
            200,
            Some(&to),
            &format!(
                "Contact: {}\r\nContent-Type: application/sdp\r\n",
                self.contact()
            ),
            &sdp,
        );
        let _ = self.await_request("ACK", Duration::from_secs(5));
        Dialog {
            call_id: invite.header("Call-ID").unwrap(),
            local: to,
            remote: invite.header("From").unwrap(),
            target: Msg::uri_of(&invite.header("Contact").expect("a Contact in the INVITE")),
            cseq: 100,
            media: offer.address,
            codec,
            events: offer.telephone_event,
        }
    }

    /// Hangs up: BYE, answers its final status code.
    pub fn bye(&mut self, d: &mut Dialog) -> u16 {
        d.cseq += 1;
        let via = self.via();
        let msg = format!(
            "BYE {} SIP/2.0\r\nVia: {via}\r\nFrom: {}\r\nTo: {}\r\nCall-ID: {}\r\nCSeq: {} BYE\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
            d.target, d.local, d.remote, d.call_id, d.cseq
        );
        // Over UDP a request is sent again until answered (RFC 3261
        // §17.1.2.2, Timer E: 500 ms doubling to 2 s), for 5 s in all.
        let t0 = Instant::now();
        let mut wait = Duration::from_millis(500);
        loop {
            self.send(&msg);
            if let Some(r) = self.final_response(&d.call_id, &format!("{} BYE", d.cseq), wait) {
                return r.status().unwrap_or(0);
            }
            if t0.elapsed() >= Duration::from_secs(5) {
                return 0;
            }
            wait = (wait * 2).min(Duration::from_secs(2));
        }
    }

    /// Waits for the peer's BYE on this dialog and answers it 200.
    pub fn await_bye(&self, d: &Dialog, wait: Duration) -> bool {
        let t0 = Instant::now();
        while t0.elapsed() < wait {
            let Some(m) = self.await_request("BYE", wait - t0.elapsed()) else {
                return false;
            };
            self.reply(&m, 200, "", "");
            if m.header("Call-ID").as_deref() == Some(d.call_id.as_str()) {
                return true;
            }
        }
        false
    }

    /// Sends one RTP packet to `to`.
    pub fn send_rtp(&mut self, to: SocketAddr, payload_type: u8, marker: bool, payload: &[u8]) {
        let mut p = Vec::with_capacity(12 + payload.len());
        p.push(0x80);
        p.push(payload_type | if marker { 0x80 } else { 0 });
        p.extend_from_slice(&self.seq.to_be_bytes());
        p.extend_from_slice(&self.ts.to_be_bytes());
        p.extend_from_slice(&self.ssrc.to_be_bytes());
        p.extend_from_slice(payload);
        self.rtp.send_to(&p, to).unwrap();
        self.seq = self.seq.wrapping_add(1);
    }

    /// Presses `key` (RFC 4733: three updates, then the end three times).
    pub fn press(&mut self, d: &Dialog, key: char) {
        let event = match key {
            '0'..='9' => key as u8 - b'0',
            '*' => 10,
            '#' => 11,
            _ => panic!("not a key: {key}"),
        };
        let pt = d.events.unwrap_or(101);
        for (i, end) in [false, false, false, true, true, true]
            .into_iter()
            .enumerate()
        {
            let dur = (160 * (i as u16 + 1)).to_be_bytes();
            let flags = if end { 0x80 } else { 0 } | 10;
            self.send_rtp(d.media, pt, i == 0, &[event, flags, dur[0], dur[1]]);
            std::thread::sleep(Duration::from_millis(20));
        }
        self.ts = self.ts.wrapping_add(160 * 6);
    }

    /// For `dur`, sends silence and reads the keys the far end sends as
    /// RFC 4733 telephone-events (on the payload type we offered).
    pub fn hear_keys(&mut self, d: &Dialog, dur: Duration) -> String {
        let pt = d.events.unwrap_or(101);
        let mut keys = String::new();
        let mut rx = telephony::dtmf::Receiver::default();
        let t0 = Instant::now();
        let mut due = t0;
        let mut buf = [0u8; 2048];
        while t0.elapsed() < dur {
            if Instant::now() >= due {
                let payload = audio::encode(&[0; audio::FRAME], d.codec);
                self.send_rtp(d.media, d.codec.payload_type(), false, &payload);
                self.ts = self.ts.wrapping_add(audio::FRAME as u32);
                due += Duration::from_millis(20);
            }
            let left = due
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            self.rtp.set_read_timeout(Some(left)).unwrap();
            if let Ok(n) = self.rtp.recv(&mut buf) {
                if let Ok(p) = telephony::rtp::parse(&buf[..n]) {
                    if p.payload_type == pt {
                        let ms = t0.elapsed().as_millis() as i64;
                        if let Some(k) = rx.receive(p.timestamp, p.payload, ms) {
                            keys.push(k);
                        }
                    }
                }
            }
        }
        keys
    }

    /// For `dur`, sends a tone of `freq` Hz (peak `amplitude`; 0 Hz:
    /// silence) every 20 ms in the dialog's codec and keeps every frame
    /// heard, decoded: (payload type, linear samples).
    pub fn talk(
        &mut self,
        d: &Dialog,
        freq: f64,
        amplitude: f64,
        dur: Duration,
    ) -> Vec<(u8, Vec<f64>)> {
        let mut heard = Vec::new();
        let t0 = Instant::now();
        let mut due = t0;
        let mut buf = [0u8; 2048];
        while t0.elapsed() < dur {
            if Instant::now() >= due {
                let samples = if freq > 0.0 {
                    audio::tone(freq, amplitude, self.sent, audio::FRAME)
                } else {
                    vec![0; audio::FRAME]
                };
                self.sent += audio::FRAME;
                let payload = audio::encode(&samples, d.codec);
                self.send_rtp(d.media, d.codec.payload_type(), false, &payload);
                self.ts = self.ts.wrapping_add(audio::FRAME as u32);
                due += Duration::from_millis(20);
            }
            let left = due
                .saturating_duration_since(Instant::now())
                .max(Duration::from_millis(1));
            self.rtp.set_read_timeout(Some(left)).unwrap();
            if let Ok(n) = self.rtp.recv(&mut buf) {
                if let Ok(p) = telephony::rtp::parse(&buf[..n]) {
                    if let Some(x) = audio::decode(p.payload, p.payload_type) {
                        heard.push((p.payload_type, x));
                    }
                }
            }
        }
        heard
    }
}

fn reason(code: u16) -> &'static str {
    match code {
        100 => "Trying",
        180 => "Ringing",
        200 => "OK",
        486 => "Busy Here",
        _ => "Whatever",
    }
}
