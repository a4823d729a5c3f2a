//! Prompts: 8 kHz A-law clips by name. Spoken ones are made once with
//! espeak-ng and sox (Debian packages) from the flows' texts and kept in
//! the prompt folder; hold music is synthesised here. Without espeak-ng a
//! prompt is a short tone, with a warning, so calls still work.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use telephony::g711;

/// Longest clip kept (60 s).
const MAX_CLIP: usize = 8000 * 60;

pub(crate) struct Prompts {
    clips: HashMap<String, Arc<[u8]>>,
    beep: Arc<[u8]>,
}

/// The system's own prompts: (name, text).
pub(crate) const SYSTEM: [(&str, &str); 9] = [
    ("sys-position", "You are number"),
    ("sys-in-queue", "in the queue."),
    ("sys-more-than", "more than"),
    ("sys-callback-booked", "Thank you. We will call you back, and you keep your place in the queue. Goodbye."),
    ("sys-no-service", "Sorry, this number is not in service."),
    ("sys-closed", "Sorry, the service is closed now. If you need medical help now, call 111, or 999 in an emergency."),
    ("sys-callback-hello", "This is your call back from the health service. Connecting you now."),
    ("sys-sorry", "Sorry, we cannot take your call now. Please try again later."),
    ("sys-recorded", "Calls to this service are recorded, for your care and for training."),
];

const NUMBERS: [&str; 21] = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
];

fn tone(freqs: &[(f64, usize)], level: f64) -> Vec<u8> {
    let mut out = Vec::new();
    for &(f, ms) in freqs {
        let n = ms * 8;
        for i in 0..n {
            // Soft attack and release so notes do not click.
            let env = (i.min(n - i) as f64 / 200.0).min(1.0);
            let v = if f > 0.0 {
                (2.0 * std::f64::consts::PI * f * i as f64 / 8000.0).sin() * level * env
            } else {
                0.0
            };
            out.push(g711::linear_to_alaw(v as i16));
        }
    }
    out
}

/// A gentle four-note figure, repeated: the demo's hold music.
fn hold_music() -> Vec<u8> {
    tone(
        &[
            (392.0, 400),
            (0.0, 100),
            (494.0, 400),
            (0.0, 100),
            (587.0, 400),
            (0.0, 100),
            (494.0, 400),
            (0.0, 600),
        ],
        3000.0,
    )
}

fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// How a spoken clip is made: the voice, the speed, the text.
const VOICE: [&str; 4] = ["-v", "en-gb", "-s", "165"];

/// FNV-1a of the voice and the text (a file name, not a security check).
fn fingerprint(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in VOICE.concat().bytes().chain([0]).chain(text.bytes()) {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// Speaks `text` into `out` (A-law, 8 kHz) with espeak-ng and sox.
fn speak(text: &str, out: &Path) -> Result<(), String> {
    let wav = out.with_extension("part.wav");
    let st = std::process::Command::new("espeak-ng")
        .args(VOICE)
        .arg("-w")
        .arg(&wav)
        .arg(text)
        .output()
        .map_err(|e| format!("espeak-ng: {e}"))?;
    if !st.status.success() {
        return Err(format!(
            "espeak-ng failed: {}",
            String::from_utf8_lossy(&st.stderr)
        ));
    }
    let st = std::process::Command::new("sox")
        .arg(&wav)
        .args([
            "-r", "8000", "-c", "1", "-e", "a-law", "-b", "8", "-t", "raw",
        ])
        .arg(out)
        .output()
        .map_err(|e| format!("sox: {e}"))?;
    let _ = std::fs::remove_file(&wav);
    if !st.status.success() {
        return Err(format!(
            "sox failed: {}",
            String::from_utf8_lossy(&st.stderr)
        ));
    }
    Ok(())
}

impl Prompts {
    /// Loads every wanted prompt from `dir`, making the missing ones.
    pub(crate) fn load(dir: &Path, wanted: &[(String, String)]) -> Prompts {
        let _ = std::fs::create_dir_all(dir);
        let mut all: Vec<(String, String)> = wanted.to_vec();
        all.extend(SYSTEM.iter().map(|(n, t)| (n.to_string(), t.to_string())));
        all.extend(
            NUMBERS
                .iter()
                .enumerate()
                .map(|(i, t)| (format!("num-{i}"), t.to_string())),
        );
        let mut clips = HashMap::new();
        let mut warned = false;
        for (name, text) in all {
            if !safe_name(&name) || clips.contains_key(&name) {
                continue;
            }
            // Named by what is said and how: a changed text or voice makes
            // a new clip instead of playing the old one.
            let file = dir.join(format!("{name}.{:016x}.alaw", fingerprint(&text)));
            if !file.exists() {
                // Made beside and renamed into place: servers sharing the
                // folder never read a half-written clip.
                let tmp = dir.join(format!("{name}.{}.part", std::process::id()));
                let made = speak(&text, &tmp).and_then(|()| {
                    std::fs::rename(&tmp, &file).map_err(|e| format!("{}: {e}", file.display()))
                });
                if let Err(e) = made {
                    if !warned {
                        tracing::warn!(
                            "voice: prompts are tones, not speech ({e}); install espeak-ng and sox"
                        );
                        warned = true;
                    }
                    continue;
                }
            }
            match std::fs::read(&file) {
                Ok(mut b) if !b.is_empty() => {
                    b.truncate(MAX_CLIP);
                    clips.insert(name, Arc::from(b));
                }
                _ => {}
            }
        }
        clips.insert("hold-1".into(), Arc::from(hold_music()));
        Prompts {
            clips,
            beep: Arc::from(tone(&[(660.0, 300), (0.0, 200)], 4000.0)),
        }
    }

    /// The clip by this name (a tone if there is none).
    pub(crate) fn get(&self, name: &str) -> Arc<[u8]> {
        self.clips
            .get(name)
            .cloned()
            .unwrap_or_else(|| self.beep.clone())
    }

    #[cfg(test)]
    pub(crate) fn has(&self, name: &str) -> bool {
        self.clips.contains_key(name)
    }

    /// "You are number N in the queue", stitched from clips.
    pub(crate) fn position(&self, n: u32) -> Vec<Arc<[u8]>> {
        let mut v = vec![self.get("sys-position")];
        if n as usize >= NUMBERS.len() {
            v.push(self.get("sys-more-than"));
            v.push(self.get(&format!("num-{}", NUMBERS.len() - 1)));
        } else {
            v.push(self.get(&format!("num-{n}")));
        }
        v.push(self.get("sys-in-queue"));
        v
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_announcements() {
        assert!(safe_name("main-menu"));
        assert!(!safe_name("../etc/passwd"));
        assert!(!safe_name(""));
        let dir = std::env::temp_dir().join(format!("sb-prompts-{}", std::process::id()));
        let p = Prompts::load(&dir, &[]);
        assert_eq!(p.position(3).len(), 3);
        assert_eq!(p.position(250).len(), 4);
        assert!(p.has("hold-1"));
        assert!(!p.get("hold-1").is_empty());
        assert_ne!(fingerprint("one"), fingerprint("two"));
        let _ = std::fs::remove_dir_all(dir);
    }
}
