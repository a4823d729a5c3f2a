//! SDP (RFC 4566) offer/answer (RFC 3264) for one audio stream: G.711
//! A-law or µ-law, and telephone-events.

use crate::g711::Codec;
use core::net::{IpAddr, SocketAddr};
use std::fmt::Write;

/// Largest SDP body read.
pub const MAX_SDP_BYTES: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SdpError {
    #[error("the SDP body is larger than {MAX_SDP_BYTES} bytes")]
    TooLarge,
    #[error("the SDP body is not text")]
    NotText,
    #[error("no audio stream (m=audio) in the SDP")]
    NoAudio,
    #[error("no connection address (c=) for the audio stream")]
    NoAddress,
    #[error("bad {0} line")]
    BadLine(&'static str),
    #[error("no common codec: PCMA or PCMU is needed")]
    NoCommonCodec,
}

/// Which way media flows (hold is `sendonly` or `inactive` from the holder).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    SendRecv,
    SendOnly,
    RecvOnly,
    Inactive,
}

impl Direction {
    fn attr(self) -> &'static str {
        match self {
            Direction::SendRecv => "sendrecv",
            Direction::SendOnly => "sendonly",
            Direction::RecvOnly => "recvonly",
            Direction::Inactive => "inactive",
        }
    }

    /// What we answer to an offer with this direction.
    pub fn answer(self) -> Direction {
        match self {
            Direction::SendOnly => Direction::RecvOnly,
            Direction::RecvOnly => Direction::SendOnly,
            d => d,
        }
    }
}

/// The audio stream a peer described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audio {
    /// Where to send RTP (port 0: the stream was refused).
    pub address: SocketAddr,
    /// Payload types in the peer's order of preference.
    pub payload_types: Vec<u8>,
    /// The telephone-event payload type, if offered.
    pub telephone_event: Option<u8>,
    /// The first G.711 codec in the peer's order.
    pub codec: Option<Codec>,
    pub direction: Direction,
}

impl Audio {
    /// The peer holds the call (RFC 3264 §8.4: sendonly or inactive, or
    /// the old 0.0.0.0 address).
    pub fn is_hold(&self) -> bool {
        matches!(self.direction, Direction::SendOnly | Direction::Inactive)
            || self.address.ip().is_unspecified()
    }
}

pub fn parse(body: &[u8]) -> Result<Audio, SdpError> {
    if body.len() > MAX_SDP_BYTES {
        return Err(SdpError::TooLarge);
    }
    let text = std::str::from_utf8(body).map_err(|_| SdpError::NotText)?;
    let mut session_addr: Option<IpAddr> = None;
    let mut media_addr: Option<IpAddr> = None;
    let mut in_audio = false;
    let mut seen_audio = false;
    let mut port = 0u16;
    let mut pts = Vec::new();
    let mut te = None;
    let mut dir_session = Direction::SendRecv;
    let mut dir_media = None;
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        let Some((kind, value)) = line.split_once('=') else {
            continue;
        };
        match kind {
            "m" => {
                in_audio = false;
                if seen_audio {
                    continue;
                }
                let mut f = value.split_whitespace();
                if f.next() != Some("audio") {
                    continue;
                }
                port = f
                    .next()
                    .and_then(|p| p.split('/').next()?.parse().ok())
                    .ok_or(SdpError::BadLine("m="))?;
                let _proto = f.next().ok_or(SdpError::BadLine("m="))?;
                pts = f.filter_map(|p| p.parse::<u8>().ok()).take(32).collect();
                in_audio = true;
                seen_audio = true;
            }
            "c" => {
                let addr = value
                    .split_whitespace()
                    .nth(2)
                    .and_then(|a| a.split('/').next()?.parse::<IpAddr>().ok())
                    .ok_or(SdpError::BadLine("c="))?;
                if in_audio {
                    media_addr = Some(addr);
                } else if !seen_audio {
                    session_addr = Some(addr);
                }
            }
            "a" => {
                let dir = match value {
                    "sendrecv" => Some(Direction::SendRecv),
                    "sendonly" => Some(Direction::SendOnly),
                    "recvonly" => Some(Direction::RecvOnly),
                    "inactive" => Some(Direction::Inactive),
                    _ => None,
                };
                if let Some(d) = dir {
                    if in_audio {
                        dir_media = Some(d);
                    } else if !seen_audio {
                        dir_session = d;
                    }
                    continue;
                }
                if let (true, Some(rest)) = (in_audio, value.strip_prefix("rtpmap:")) {
                    let mut f = rest.split_whitespace();
                    let pt = f.next().and_then(|p| p.parse::<u8>().ok());
                    let enc = f.next().unwrap_or("").to_ascii_lowercase();
                    if let Some(pt) = pt {
                        if enc.starts_with("telephone-event/8000") && te.is_none() {
                            te = Some(pt);
                        }
                    }
                }
            }
            _ => {}
        }
    }
    if !seen_audio {
        return Err(SdpError::NoAudio);
    }
    let ip = media_addr.or(session_addr).ok_or(SdpError::NoAddress)?;
    let codec = pts.iter().find_map(|&p| Codec::from_payload_type(p));
    Ok(Audio {
        address: SocketAddr::new(ip, port),
        payload_types: pts,
        telephone_event: te,
        codec,
        direction: dir_media.unwrap_or(dir_session),
    })
}

/// What we describe of our side of a stream.
#[derive(Clone, Debug)]
pub struct Local {
    pub address: SocketAddr,
    /// Distinct per description; `version` goes up with each change.
    pub session_id: u64,
    pub version: u64,
}

/// Our answer to `offer`: the peer's first G.711 codec, telephone-events
/// on the peer's payload type if offered.
pub fn answer(local: &Local, offer: &Audio) -> Result<(String, Codec), SdpError> {
    let codec = offer.codec.ok_or(SdpError::NoCommonCodec)?;
    Ok((
        describe(
            local,
            &[codec],
            offer.telephone_event,
            offer.direction.answer(),
        ),
        codec,
    ))
}

/// An offer of ours: A-law first, then µ-law, telephone-events on 101.
pub fn offer(local: &Local) -> String {
    describe(
        local,
        &[Codec::Pcma, Codec::Pcmu],
        Some(101),
        Direction::SendRecv,
    )
}

fn describe(local: &Local, codecs: &[Codec], te: Option<u8>, dir: Direction) -> String {
    let ip = local.address.ip();
    let fam = if ip.is_ipv4() { "IP4" } else { "IP6" };
    let mut s = String::with_capacity(300);
    let _ = write!(
        s,
        "v=0\r\no=switchboard {} {} IN {fam} {ip}\r\ns=switchboard\r\nc=IN {fam} {ip}\r\nt=0 0\r\nm=audio {} RTP/AVP",
        local.session_id,
        local.version,
        local.address.port()
    );
    for c in codecs {
        let _ = write!(s, " {}", c.payload_type());
    }
    if let Some(t) = te {
        let _ = write!(s, " {t}");
    }
    s.push_str("\r\n");
    for c in codecs {
        let _ = write!(s, "a=rtpmap:{} {}/8000\r\n", c.payload_type(), c.name());
    }
    if let Some(t) = te {
        let _ = write!(
            s,
            "a=rtpmap:{t} telephone-event/8000\r\na=fmtp:{t} 0-15\r\n"
        );
    }
    let _ = write!(s, "a=ptime:20\r\na={}\r\n", dir.attr());
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const SIPP: &str = "v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 8 101\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-11,16\r\n";

    #[test]
    fn answers_a_sipp_offer() {
        let o = parse(SIPP.as_bytes()).unwrap();
        assert_eq!(o.address, "127.0.0.1:6000".parse().unwrap());
        assert_eq!(o.codec, Some(Codec::Pcma));
        assert_eq!(o.telephone_event, Some(101));
        assert!(!o.is_hold());
        let local = Local {
            address: "127.0.0.1:20000".parse().unwrap(),
            session_id: 7,
            version: 1,
        };
        let (a, c) = answer(&local, &o).unwrap();
        assert_eq!(c, Codec::Pcma);
        let back = parse(a.as_bytes()).unwrap();
        assert_eq!(back.address, local.address);
        assert_eq!(back.payload_types, vec![8, 101]);
        assert_eq!(back.telephone_event, Some(101));
    }

    #[test]
    fn preference_hold_and_refusals() {
        let mu = SIPP.replace("RTP/AVP 8 101", "RTP/AVP 18 0 8 101");
        assert_eq!(parse(mu.as_bytes()).unwrap().codec, Some(Codec::Pcmu));
        let hold = format!("{SIPP}a=sendonly\r\n");
        assert!(parse(hold.as_bytes()).unwrap().is_hold());
        let old_hold = SIPP.replace("c=IN IP4 127.0.0.1", "c=IN IP4 0.0.0.0");
        assert!(parse(old_hold.as_bytes()).unwrap().is_hold());
        let g729 = SIPP.replace("RTP/AVP 8 101", "RTP/AVP 18 101");
        let o = parse(g729.as_bytes()).unwrap();
        let local = Local {
            address: "127.0.0.1:20000".parse().unwrap(),
            session_id: 1,
            version: 1,
        };
        assert_eq!(answer(&local, &o).unwrap_err(), SdpError::NoCommonCodec);
        assert_eq!(parse(b"v=0\r\n").unwrap_err(), SdpError::NoAudio);
        assert_eq!(
            parse(b"v=0\r\nm=audio 5 RTP/AVP 8\r\n").unwrap_err(),
            SdpError::NoAddress
        );
        assert_eq!(
            parse(b"v=0\r\nc=IN IP4 nonsense\r\n").unwrap_err(),
            SdpError::BadLine("c=")
        );
        assert_eq!(parse(&[0xff, 0xfe]).unwrap_err(), SdpError::NotText);
        assert_eq!(
            parse(&vec![b'a'; MAX_SDP_BYTES + 1]).unwrap_err(),
            SdpError::TooLarge
        );
    }
}
