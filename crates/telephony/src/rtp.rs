//! RTP (RFC 3550) packets: parsing what arrives (tolerant of CSRCs,
//! header extensions and padding) and writing what is sent.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RtpError {
    #[error("shorter than an RTP header")]
    TooShort,
    #[error("not RTP version 2")]
    Version,
    #[error("header or padding longer than the packet")]
    Length,
}

/// A received packet, borrowing its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub marker: bool,
    pub payload_type: u8,
    pub sequence: u16,
    pub timestamp: u32,
    pub ssrc: u32,
    pub payload: &'a [u8],
}

pub fn parse(b: &[u8]) -> Result<Packet<'_>, RtpError> {
    if b.len() < 12 {
        return Err(RtpError::TooShort);
    }
    if b[0] >> 6 != 2 {
        return Err(RtpError::Version);
    }
    let padding = b[0] & 0x20 != 0;
    let extension = b[0] & 0x10 != 0;
    let csrcs = usize::from(b[0] & 0x0F);
    let mut start = 12 + 4 * csrcs;
    if extension {
        if b.len() < start + 4 {
            return Err(RtpError::Length);
        }
        let words = usize::from(u16::from_be_bytes([b[start + 2], b[start + 3]]));
        start += 4 + 4 * words;
    }
    let mut end = b.len();
    if padding {
        let pad = usize::from(*b.last().unwrap_or(&0));
        if pad == 0 || pad > end {
            return Err(RtpError::Length);
        }
        end -= pad;
    }
    if start > end {
        return Err(RtpError::Length);
    }
    Ok(Packet {
        marker: b[1] & 0x80 != 0,
        payload_type: b[1] & 0x7F,
        sequence: u16::from_be_bytes([b[2], b[3]]),
        timestamp: u32::from_be_bytes([b[4], b[5], b[6], b[7]]),
        ssrc: u32::from_be_bytes([b[8], b[9], b[10], b[11]]),
        payload: &b[start..end],
    })
}

/// Writes a packet with no CSRCs, extension or padding into `out`.
pub fn write(out: &mut Vec<u8>, p: &Packet<'_>) {
    out.clear();
    out.push(0x80);
    out.push((u8::from(p.marker) << 7) | (p.payload_type & 0x7F));
    out.extend_from_slice(&p.sequence.to_be_bytes());
    out.extend_from_slice(&p.timestamp.to_be_bytes());
    out.extend_from_slice(&p.ssrc.to_be_bytes());
    out.extend_from_slice(p.payload);
}

/// One outgoing stream: its SSRC, sequence and timestamp, so a leg keeps
/// one continuous stream whatever it plays or relays (bridging rewrites
/// the other side's packets into this stream).
#[derive(Debug, Clone)]
pub struct Stream {
    pub ssrc: u32,
    pub sequence: u16,
    pub timestamp: u32,
    first: bool,
}

impl Stream {
    pub fn new(ssrc: u32, sequence: u16, timestamp: u32) -> Stream {
        Stream {
            ssrc,
            sequence,
            timestamp,
            first: true,
        }
    }

    /// The next packet of `samples` samples with this payload; the marker
    /// is set on the stream's first packet.
    pub fn next<'a>(&mut self, payload_type: u8, payload: &'a [u8], samples: u32) -> Packet<'a> {
        let p = Packet {
            marker: std::mem::take(&mut self.first),
            payload_type,
            sequence: self.sequence,
            timestamp: self.timestamp,
            ssrc: self.ssrc,
            payload,
        };
        self.sequence = self.sequence.wrapping_add(1);
        self.timestamp = self.timestamp.wrapping_add(samples);
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_sequence() {
        let mut s = Stream::new(0xdeadbeef, 65535, 4_294_967_200);
        let payload = [0xD5u8; 160];
        let mut buf = Vec::new();
        let p = s.next(8, &payload, 160);
        write(&mut buf, &p);
        assert_eq!(buf.len(), 172);
        let q = parse(&buf).unwrap();
        assert_eq!(q, p);
        assert!(q.marker);
        let p2 = s.next(8, &payload, 160);
        assert_eq!(p2.sequence, 0);
        assert_eq!(p2.timestamp, 64);
        assert!(!p2.marker);
    }

    #[test]
    fn tolerates_csrc_extension_and_padding_and_refuses_lies() {
        let mut b = vec![0x80 | 0x20 | 0x10 | 1, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 2];
        b.extend_from_slice(&[9, 9, 9, 9]); // one CSRC
        b.extend_from_slice(&[0xBE, 0xDE, 0, 1, 1, 2, 3, 4]); // extension of one word
        b.extend_from_slice(&[7, 7, 7]);
        b.extend_from_slice(&[0, 0, 3]); // padding of 3
        let p = parse(&b).unwrap();
        assert_eq!(p.payload, &[7, 7, 7]);
        assert_eq!(parse(&b[..11]), Err(RtpError::TooShort));
        let mut v1 = b.clone();
        v1[0] = 0x40;
        assert_eq!(parse(&v1), Err(RtpError::Version));
        let mut pad = b.clone();
        *pad.last_mut().unwrap() = 200;
        assert_eq!(parse(&pad), Err(RtpError::Length));
        let mut ext = b.clone();
        ext[19] = 200;
        assert_eq!(parse(&ext), Err(RtpError::Length));
    }
}
