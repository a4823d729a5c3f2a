//! G.711 (ITU-T): A-law, the UK and European norm, and µ-law. Samples are
//! 16-bit linear; each G.711 byte is one 8 kHz sample. Prompts are stored
//! as A-law and transcoded through linear for a µ-law caller.

/// The G.711 payload types on RTP (RFC 3551).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Codec {
    /// Payload type 0.
    Pcmu,
    /// Payload type 8.
    Pcma,
}

impl Codec {
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    pub fn from_payload_type(pt: u8) -> Option<Codec> {
        match pt {
            0 => Some(Codec::Pcmu),
            8 => Some(Codec::Pcma),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }
}

const SEG_AEND: [i32; 8] = [0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF];
const SEG_UEND: [i32; 8] = [0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF];

fn segment(v: i32, ends: &[i32; 8]) -> usize {
    ends.iter().position(|&e| v <= e).unwrap_or(8)
}

pub fn alaw_to_linear(a: u8) -> i16 {
    let a = a ^ 0x55;
    let mut t = i32::from(a & 0x0f) << 4;
    let seg = i32::from((a & 0x70) >> 4);
    match seg {
        0 => t += 8,
        1 => t += 0x108,
        _ => {
            t += 0x108;
            t <<= seg - 1;
        }
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

pub fn linear_to_alaw(pcm: i16) -> u8 {
    let mut v = i32::from(pcm) >> 3;
    let mask: u8 = if v >= 0 {
        0xD5
    } else {
        v = -v - 1;
        0x55
    };
    let seg = segment(v, &SEG_AEND);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let mut a = (seg as u8) << 4;
    a |= if seg < 2 {
        ((v >> 1) & 0x0F) as u8
    } else {
        ((v >> seg) & 0x0F) as u8
    };
    a ^ mask
}

pub fn ulaw_to_linear(u: u8) -> i16 {
    let u = !u;
    let mut t = (i32::from(u & 0x0F) << 3) + 0x84;
    t <<= (u & 0x70) >> 4;
    (if u & 0x80 != 0 { 0x84 - t } else { t - 0x84 }) as i16
}

pub fn linear_to_ulaw(pcm: i16) -> u8 {
    const CLIP: i32 = 8159;
    let mut v = i32::from(pcm) >> 2;
    let mask: u8 = if v < 0 {
        v = -v;
        0x7F
    } else {
        0xFF
    };
    v = v.min(CLIP) + (0x84 >> 2);
    let seg = segment(v, &SEG_UEND);
    if seg >= 8 {
        return 0x7F ^ mask;
    }
    let u = ((seg as u8) << 4) | ((v >> (seg + 1)) & 0x0F) as u8;
    u ^ mask
}

/// Transcodes A-law bytes to `codec` (a copy for A-law).
pub fn from_alaw(alaw: &[u8], codec: Codec, out: &mut Vec<u8>) {
    out.clear();
    match codec {
        Codec::Pcma => out.extend_from_slice(alaw),
        Codec::Pcmu => out.extend(alaw.iter().map(|&a| linear_to_ulaw(alaw_to_linear(a)))),
    }
}

/// Transcodes between the two laws (bridging a µ-law leg to an A-law one).
pub fn transcode(payload: &[u8], from: Codec, to: Codec, out: &mut Vec<u8>) {
    out.clear();
    match (from, to) {
        (a, b) if a == b => out.extend_from_slice(payload),
        (Codec::Pcma, _) => out.extend(payload.iter().map(|&a| linear_to_ulaw(alaw_to_linear(a)))),
        (Codec::Pcmu, _) => out.extend(payload.iter().map(|&u| linear_to_alaw(ulaw_to_linear(u)))),
    }
}

/// The A-law byte for silence.
pub const ALAW_SILENCE: u8 = 0xD5;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_byte_survives_decode_then_encode() {
        for b in 0..=255u8 {
            assert_eq!(linear_to_alaw(alaw_to_linear(b)), b, "A-law {b:#04x}");
            // µ-law has two zeros (0x7F and 0xFF); both decode to 0.
            let back = linear_to_ulaw(ulaw_to_linear(b));
            assert!(back == b || (b == 0x7F && back == 0xFF), "µ-law {b:#04x}");
        }
    }

    #[test]
    fn known_values() {
        // ITU-T G.711: A-law 0xD5 and µ-law 0xFF are (near) zero.
        assert_eq!(alaw_to_linear(0xD5), 8);
        assert_eq!(ulaw_to_linear(0xFF), 0);
        assert_eq!(linear_to_alaw(0), 0xD5);
        assert_eq!(linear_to_ulaw(0), 0xFF);
        // Full scale.
        assert_eq!(alaw_to_linear(0xAA), 32256);
        assert_eq!(ulaw_to_linear(0x80), 32124);
        // Encoding is monotonic across the range.
        let mut last = i32::MIN;
        for x in (-32768i32..32768).step_by(97) {
            let y = i32::from(alaw_to_linear(linear_to_alaw(x as i16)));
            assert!(y >= last);
            assert!((y - x).abs() <= 1024, "{x} -> {y}");
            last = y;
        }
    }

    #[test]
    fn transcoding_keeps_the_signal() {
        let alaw: Vec<u8> = (0..160)
            .map(|i| linear_to_alaw(((i as f64 * 0.3).sin() * 8000.0) as i16))
            .collect();
        let mut mu = Vec::new();
        transcode(&alaw, Codec::Pcma, Codec::Pcmu, &mut mu);
        let mut back = Vec::new();
        transcode(&mu, Codec::Pcmu, Codec::Pcma, &mut back);
        for (a, b) in alaw.iter().zip(&back) {
            let x = i32::from(alaw_to_linear(*a));
            let d = x - i32::from(alaw_to_linear(*b));
            // Within one or two quantisation steps (a step is 1/16 of the segment).
            assert!(d.abs() <= (x.abs() / 8).max(64), "{a} {b}");
        }
    }
}
