//! What a listener hears: G.711 to linear, tones made and found
//! (Goertzel), and speech told from tones and music by its spectrum.
//! Shared by the telephony tests that check audio end to end.

use telephony::g711::{self, Codec};

pub const RATE: f64 = 8000.0;
/// Samples in one 20 ms packet.
pub const FRAME: usize = 160;

/// `n` samples of a sine at `freq` Hz and `amplitude`, starting at sample
/// `start` (so consecutive frames join without a click).
pub fn tone(freq: f64, amplitude: f64, start: usize, n: usize) -> Vec<i16> {
    (start..start + n)
        .map(|i| (amplitude * (2.0 * std::f64::consts::PI * freq * i as f64 / RATE).sin()) as i16)
        .collect()
}

pub fn encode(samples: &[i16], codec: Codec) -> Vec<u8> {
    samples
        .iter()
        .map(|&s| match codec {
            Codec::Pcma => g711::linear_to_alaw(s),
            Codec::Pcmu => g711::linear_to_ulaw(s),
        })
        .collect()
}

/// Decodes a G.711 payload by its RTP payload type (None: not G.711).
pub fn decode(payload: &[u8], payload_type: u8) -> Option<Vec<f64>> {
    let codec = Codec::from_payload_type(payload_type)?;
    Some(
        payload
            .iter()
            .map(|&b| {
                f64::from(match codec {
                    Codec::Pcma => g711::alaw_to_linear(b),
                    Codec::Pcmu => g711::ulaw_to_linear(b),
                })
            })
            .collect(),
    )
}

/// |X(f)|² of `x` at `freq` (Goertzel's algorithm).
pub fn goertzel(x: &[f64], freq: f64) -> f64 {
    let c = 2.0 * (2.0 * std::f64::consts::PI * freq / RATE).cos();
    let (mut s1, mut s2) = (0.0, 0.0);
    for &v in x {
        let s0 = v + c * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    s1 * s1 + s2 * s2 - c * s1 * s2
}

pub fn energy(x: &[f64]) -> f64 {
    x.iter().map(|v| v * v).sum()
}

pub fn rms(x: &[f64]) -> f64 {
    (energy(x) / x.len().max(1) as f64).sqrt()
}

/// The share of the frame's energy at `freq`: 1.0 for a pure tone at that
/// frequency (a whole number of cycles in the frame), near 0 for others.
pub fn share(x: &[f64], freq: f64) -> f64 {
    let e = energy(x);
    if e == 0.0 {
        return 0.0;
    }
    2.0 * goertzel(x, freq) / (x.len() as f64 * e)
}

/// The frame carries `freq` cleanly at about `amplitude` (peak): at least
/// 90% of its energy at that frequency, and its level within 1.5 dB. A
/// stream decoded with the wrong law, or with another tone mixed in,
/// fails.
pub fn carries(x: &[f64], freq: f64, amplitude: f64) -> bool {
    let want = amplitude / std::f64::consts::SQRT_2;
    let db = 20.0 * (rms(x) / want).log10();
    share(x, freq) >= 0.9 && db.abs() <= 1.5
}

/// The frequency (100–3,500 Hz, 10 Hz steps) holding most of the frame's
/// energy, and that share.
pub fn peak(x: &[f64]) -> (f64, f64) {
    let mut best = (0.0, 0.0);
    let mut f = 100.0;
    while f <= 3500.0 {
        let s = share(x, f);
        if s > best.1 {
            best = (f, s);
        }
        f += 10.0;
    }
    best
}

/// What a 20 ms frame sounds like.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Heard {
    Silence,
    /// Most of the energy at one frequency (a beep, a note of music).
    Tone(f64),
    /// Energy spread over many frequencies (a voice's harmonics and
    /// formants; espeak-ng's frames put at most ~70% in any one).
    Broad,
}

pub fn hear(x: &[f64]) -> Heard {
    if rms(x) < 150.0 {
        return Heard::Silence;
    }
    let (f, s) = peak(x);
    if s >= 0.8 {
        Heard::Tone(f)
    } else {
        Heard::Broad
    }
}

/// Speech, as opposed to beeps or music: over the audible frames, most are
/// broad-band, and the strongest frequency moves about (a voice's pitch
/// and formants change; a tone's do not).
pub fn is_speech(frames: &[Vec<f64>]) -> Result<(), String> {
    let heard: Vec<Heard> = frames.iter().map(|f| hear(f)).collect();
    let audible = heard.iter().filter(|h| **h != Heard::Silence).count();
    let broad = heard.iter().filter(|h| **h == Heard::Broad).count();
    let mut peaks: Vec<i64> = frames
        .iter()
        .zip(&heard)
        .filter(|(_, h)| **h == Heard::Broad)
        .map(|(f, _)| (peak(f).0 / 50.0).round() as i64)
        .collect();
    peaks.sort_unstable();
    peaks.dedup();
    if audible < 10 {
        return Err(format!("{audible} audible frames: silence, not speech"));
    }
    if broad * 10 < audible * 7 {
        return Err(format!(
            "{broad} of {audible} audible frames are broad-band: tones, not speech ({heard:?})"
        ));
    }
    if peaks.len() < 5 {
        return Err(format!(
            "the strongest frequency stays near {peaks:?} (×50 Hz): not a voice"
        ));
    }
    Ok(())
}
