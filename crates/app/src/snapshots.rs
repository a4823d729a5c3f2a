//! When the engine task writes snapshots of each organisation's state,
//! and the KPI history that moves to the store with them.

use crate::Tenant;
use model::{OrgId, Timestamp};
use std::collections::BTreeMap;
use store::{SqliteStore, Store};

/// How much KPI history stays in memory (for the wallboard and the
/// reports of the last days); older closed intervals move to the store
/// with each snapshot, so memory does not grow with history.
pub const KPI_IN_MEMORY: model::DurationMs = model::DurationMs(8 * 24 * 3600 * 1000);

/// When the engine task writes snapshots: after every `every` logged
/// inputs, and on a clean shutdown, of each organisation that changed.
pub(crate) struct Snapshots {
    every: u64,
    /// The log's last sequence number, as committed.
    pub(crate) seq: u64,
    pub(crate) since_last: u64,
    pub(crate) changed: std::collections::BTreeSet<OrgId>,
}

impl Snapshots {
    pub(crate) fn every(every: u64, seq: u64) -> Snapshots {
        Snapshots {
            every: every.max(1),
            seq,
            since_last: 0,
            changed: Default::default(),
        }
    }

    /// Writes the snapshots due (all changed ones if `all`). A snapshot is
    /// a cache of the log: one that cannot be written is reported and the
    /// log still holds everything.
    /// KPI intervals older than [`KPI_IN_MEMORY`] go to the store with
    /// the snapshot (put back if it cannot be written).
    /// Whether `write` has anything to do.
    pub(crate) fn due(&self, all: bool) -> bool {
        all || self.since_last >= self.every
    }

    pub(crate) fn write(
        &mut self,
        tenants: &mut BTreeMap<OrgId, Tenant>,
        store: &mut SqliteStore,
        all: bool,
    ) {
        if !all && self.since_last < self.every {
            return;
        }
        for org in std::mem::take(&mut self.changed) {
            let Some(t) = tenants.get_mut(&org) else {
                continue;
            };
            let started = std::time::Instant::now();
            let keep_from = Timestamp(t.engine.now().0.saturating_sub(KPI_IN_MEMORY.0));
            let (before, rows) = t.kpi.retire(keep_from);
            let retired = store::Retired {
                before: t.kpi_before.map_or(before, |b| b.max(before)),
                rows,
            };
            match store.save_snapshot(org, self.seq, &t.engine, &t.kpi, &retired) {
                Ok(s) => {
                    t.kpi_before = Some(retired.before);
                    tracing::info!(
                        "{org}: snapshot after log entry {} ({} KiB, {} KPI intervals moved to the store) in {:.0} ms",
                        s.seq,
                        s.bytes / 1024,
                        retired.rows.len(),
                        started.elapsed().as_secs_f64() * 1000.0
                    )
                }
                Err(e) => {
                    t.kpi.reinstate(retired.rows);
                    tracing::warn!("{org}: snapshot not written: {e}")
                }
            }
        }
        self.since_last = 0;
    }
}
