//! What triage and the Directory of Services search need, loaded at start
//! and kept in memory: the pathway set, each organisation's directory, the
//! postcode-district centroids.

use model::OrgId;
use std::collections::HashMap;
use std::sync::Arc;

/// What triage needs, loaded at start: the pathway set, each
/// organisation's directory, the postcode-district centroids.
pub struct Clinical {
    pub pathways: pathway::Checked,
    pub dos: std::sync::RwLock<HashMap<OrgId, dos::Directory>>,
    pub centroids: HashMap<String, dos::Point>,
}

/// Priority of a clinical callback with no time left: its contact priority
/// is this less its timeframe in minutes, plus a point for every minute it
/// has waited (the queue's aging).
pub const CLINICAL_BASE: model::Priority = 10_000;

/// Longest timeframe a clinical callback carries (about a week, in
/// minutes): a longer one is held to it.
pub const MAX_TIMEFRAME_MINUTES: i64 = 10_000;

/// A clinical callback booked at `now` for a disposition with this
/// timeframe: when it must be answered by, and its contact priority (the
/// shorter the timeframe, the higher; aging adds a point a minute, so a
/// callback booked earlier with a longer timeframe is overtaken by one due
/// sooner: earliest deadline first).
pub fn callback_deadline(
    timeframe_minutes: Option<u32>,
    now: model::Timestamp,
) -> (model::Timestamp, model::Priority) {
    let minutes = i64::from(timeframe_minutes.unwrap_or(0)).clamp(0, MAX_TIMEFRAME_MINUTES);
    (
        model::Timestamp(now.0 + minutes * 60_000),
        CLINICAL_BASE - minutes as model::Priority,
    )
}

/// The project's demo pathway set (not clinical advice).
const DEMO_PATHWAYS: &str = include_str!("../../../pathways/demo.json");

/// The demo pathway set, checked.
pub fn demo_pathways() -> Result<pathway::Checked, String> {
    let set: pathway::PathwaySet =
        serde_json::from_str(DEMO_PATHWAYS).map_err(|e| format!("demo pathways: {e}"))?;
    set.check()
        .map_err(|e| format!("demo pathways: {:?}", e.first()))
}

pub fn load(dir: &store::directory::Directory) -> Result<Arc<Clinical>, String> {
    let pathways = demo_pathways()?;
    let mut dos: HashMap<OrgId, dos::Directory> = HashMap::new();
    for (org, text) in dir.dos_settings().map_err(|e| e.to_string())? {
        let d: dos::Directory = serde_json::from_str(&text)
            .map_err(|e| format!("a stored DoS directory's settings: {e}"))?;
        dos.insert(org, d);
    }
    for (org, text) in dir.dos_services().map_err(|e| e.to_string())? {
        let s: dos::Service =
            serde_json::from_str(&text).map_err(|e| format!("a stored DoS service: {e}"))?;
        dos.entry(org).or_default().services.push(s);
    }
    let centroids = dir
        .dos_centroids()
        .map_err(|e| e.to_string())?
        .into_iter()
        .map(|(d, e, n)| {
            (
                d,
                dos::Point {
                    easting: e,
                    northing: n,
                },
            )
        })
        .collect();
    Ok(Arc::new(Clinical {
        pathways,
        dos: std::sync::RwLock::new(dos),
        centroids,
    }))
}

#[cfg(test)]
mod deadline_tests {
    use super::*;
    use model::Timestamp;

    #[test]
    fn a_callback_is_due_at_its_timeframe_and_sooner_ones_rank_higher() {
        let now = Timestamp(1_800_000_000_000);
        assert_eq!(
            callback_deadline(Some(60), now),
            (Timestamp(now.0 + 3_600_000), CLINICAL_BASE - 60)
        );
        let (four_hours, low) = callback_deadline(Some(240), now);
        assert_eq!(four_hours, Timestamp(now.0 + 4 * 3_600_000));
        assert!(low < CLINICAL_BASE - 60);
        // Booked 30 minutes apart: the 4-hour one first, then a 1-hour
        // one. With aging (a point a minute) the 1-hour one still ranks
        // above when it arrives: its deadline is earlier.
        let later = Timestamp(now.0 + 30 * 60_000);
        let (one_hour, high) = callback_deadline(Some(60), later);
        assert!(one_hour < four_hours);
        assert!(high > low + 30);
        // No timeframe: due now, the top priority; a huge one is held.
        assert_eq!(callback_deadline(None, now), (now, CLINICAL_BASE));
        assert_eq!(
            callback_deadline(Some(u32::MAX), now),
            (
                Timestamp(now.0 + MAX_TIMEFRAME_MINUTES * 60_000),
                CLINICAL_BASE - MAX_TIMEFRAME_MINUTES as model::Priority
            )
        );
    }
}
