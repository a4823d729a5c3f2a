//! Recording throughput: how fast one core seals and opens recorded audio
//! (`app::recording`, AES-256-GCM STREAM chunks of one second of 16-bit
//! stereo at 8 kHz, 32,000 bytes). A call being recorded makes one chunk
//! a second, so chunks sealed per second of CPU is how many recorded
//! calls one core keeps up with. `REC_SECONDS` seconds of audio per run
//! (default 3,600), 5 runs, medians.
//!
//! `cargo bench -p app --bench recording`

use app::recording::{open_stream, StreamSealer, MAGIC};
use std::time::Instant;

fn main() {
    let seconds: usize = std::env::var("REC_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(3600);
    let chunk: Vec<u8> = (0..32_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8)
        .collect();
    let key = [7u8; 32];
    let mut seal_times = Vec::new();
    let mut open_times = Vec::new();
    let mut file = Vec::new();
    for _ in 0..5 {
        let t0 = Instant::now();
        let mut s = StreamSealer::new(&key, "recording:1:1");
        file = MAGIC.to_vec();
        for i in 0..seconds {
            file.extend(s.seal(&chunk, i + 1 == seconds));
        }
        seal_times.push(t0.elapsed().as_secs_f64());
        let t0 = Instant::now();
        let plain = open_stream(&key, "recording:1:1", &file).expect("opens");
        assert_eq!(plain.len(), seconds * chunk.len());
        open_times.push(t0.elapsed().as_secs_f64());
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let (seal, open) = (median(&mut seal_times), median(&mut open_times));
    let mb = (seconds * chunk.len()) as f64 / 1e6;
    println!(
        "sealing {seconds} s of stereo audio ({mb:.1} MB): median {:.3} s, {:.0} MB/s, {:.0} recorded calls per core",
        seal,
        mb / seal,
        seconds as f64 / seal
    );
    println!(
        "opening it (playback): median {:.3} s, {:.0} MB/s; file {:.1} MB",
        open,
        mb / open,
        file.len() as f64 / 1e6
    );
}
