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
