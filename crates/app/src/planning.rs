//! Planning's shared state: the published forecast (for the surge
//! warning) and the gate that lets one planning run at a time, off the
//! request runtime.

use model::OrgId;
use std::collections::HashMap;

/// Forecasts kept for the surge warning: interval start (UTC ms) and
/// calls, per organisation.
pub type Published = std::sync::Arc<std::sync::Mutex<HashMap<OrgId, (i64, Vec<f64>)>>>;

/// Planning runs: one at a time, and how many are waiting or running.
pub struct PlanningGate {
    pub runs: std::sync::Arc<tokio::sync::Semaphore>,
    pub waiting: std::sync::atomic::AtomicUsize,
}

impl Default for PlanningGate {
    fn default() -> PlanningGate {
        PlanningGate::new()
    }
}

impl PlanningGate {
    pub fn new() -> PlanningGate {
        PlanningGate {
            runs: std::sync::Arc::new(tokio::sync::Semaphore::new(1)),
            waiting: Default::default(),
        }
    }
}

/// Counts a waiting run out when it ends, however it ends.
pub struct Leave<'a>(pub &'a std::sync::atomic::AtomicUsize);

impl Drop for Leave<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
