//! KPI rows, counts and figures.

use super::*;

/// What happened in a period: contacts offered, answered, abandoned, and
/// the time spent (milliseconds). See `kpi::Counts` for each definition.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Counts {
    pub offered: u64,
    pub answered: u64,
    pub answered_within_target: u64,
    pub abandoned: u64,
    pub abandoned_short: u64,
    pub abandoned_under_30s: u64,
    pub abandoned_30_to_60s: u64,
    pub abandoned_over_60s: u64,
    pub abandoned_after_target: u64,
    pub voicemail: u64,
    pub refused: u64,
    pub wait_ms_answered_total: u64,
    pub handled: u64,
    pub talk_ms: u64,
    pub hold_ms: u64,
    pub wrap_ms: u64,
    pub callbacks_requested: u64,
    pub callbacks_made: u64,
    pub callbacks_made_within_target: u64,
    pub transfers_warm: u64,
    pub transfers_cold: u64,
    pub clinical: u64,
    pub completed: u64,
    pub completed_first_contact: u64,
    pub busy_ms: u64,
    pub idle_ms: u64,
    pub not_ready_ms: u64,
    pub clinical_callbacks_booked: u64,
    pub clinical_callbacks_made: u64,
    pub clinical_callbacks_in_time: u64,
    pub clinical_callbacks_missed: u64,
    pub clinical_transfers_warm: u64,
    pub clinical_transfers_cold: u64,
}

impl From<&kpi::Counts> for Counts {
    fn from(c: &kpi::Counts) -> Counts {
        Counts {
            offered: c.offered,
            answered: c.answered,
            answered_within_target: c.answered_within_target,
            abandoned: c.abandoned,
            abandoned_short: c.abandoned_short,
            abandoned_under_30s: c.abandoned_under_30s,
            abandoned_30_to_60s: c.abandoned_30_to_60s,
            abandoned_over_60s: c.abandoned_over_60s,
            abandoned_after_target: c.abandoned_after_target,
            voicemail: c.voicemail,
            refused: c.refused,
            wait_ms_answered_total: c.wait_ms_answered_total,
            handled: c.handled,
            talk_ms: c.talk_ms,
            hold_ms: c.hold_ms,
            wrap_ms: c.wrap_ms,
            callbacks_requested: c.callbacks_requested,
            callbacks_made: c.callbacks_made,
            callbacks_made_within_target: c.callbacks_made_within_target,
            transfers_warm: c.transfers_warm,
            transfers_cold: c.transfers_cold,
            clinical: c.clinical,
            completed: c.completed,
            completed_first_contact: c.completed_first_contact,
            busy_ms: c.busy_ms,
            idle_ms: c.idle_ms,
            not_ready_ms: c.not_ready_ms,
            clinical_callbacks_booked: c.clinical_callbacks_booked,
            clinical_callbacks_made: c.clinical_callbacks_made,
            clinical_callbacks_in_time: c.clinical_callbacks_in_time,
            clinical_callbacks_missed: c.clinical_callbacks_missed,
            clinical_transfers_warm: c.clinical_transfers_warm,
            clinical_transfers_cold: c.clinical_transfers_cold,
        }
    }
}

/// The NHS figures from the counts (ratios 0 to 1, times in seconds;
/// none where nothing was counted). See `kpi::Figures` for each
/// definition.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Figures {
    pub service_level: Option<f64>,
    pub service_level_of_answered: Option<f64>,
    pub service_level_excluding_early_abandons: Option<f64>,
    pub abandonment_rate: Option<f64>,
    pub asa_seconds: Option<f64>,
    pub p95_answer_seconds: Option<f64>,
    pub aht_seconds: Option<f64>,
    pub talk_seconds: Option<f64>,
    pub hold_seconds: Option<f64>,
    pub wrap_seconds: Option<f64>,
    pub callbacks_within_target: Option<f64>,
    pub clinical_intervention_rate: Option<f64>,
    /// Clinical callbacks answered by their deadline / answered or missed
    /// (target 90%).
    pub clinical_callbacks_in_timeframe: Option<f64>,
    /// Warm transfers to a clinician / every hand-over to one (target
    /// 75%).
    pub clinical_warm_transfer: Option<f64>,
    pub first_contact_resolution: Option<f64>,
    pub occupancy: Option<f64>,
    pub utilisation: Option<f64>,
}

impl From<&kpi::Figures> for Figures {
    fn from(f: &kpi::Figures) -> Figures {
        Figures {
            service_level: f.service_level,
            service_level_of_answered: f.service_level_of_answered,
            service_level_excluding_early_abandons: f.service_level_excluding_early_abandons,
            abandonment_rate: f.abandonment_rate,
            asa_seconds: f.asa_seconds,
            p95_answer_seconds: f.p95_answer_seconds,
            aht_seconds: f.aht_seconds,
            talk_seconds: f.talk_seconds,
            hold_seconds: f.hold_seconds,
            wrap_seconds: f.wrap_seconds,
            callbacks_within_target: f.callbacks_within_target,
            clinical_intervention_rate: f.clinical_intervention_rate,
            clinical_callbacks_in_timeframe: f.clinical_callbacks_in_timeframe,
            clinical_warm_transfer: f.clinical_warm_transfer,
            first_contact_resolution: f.first_contact_resolution,
            occupancy: f.occupancy,
            utilisation: f.utilisation,
        }
    }
}

/// What a row is about.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Dimension {
    Overall,
    Queue(u32),
    Service(String),
    Channel(Channel),
    Team(u32),
    Agent(u32),
}

impl From<&kpi::Dimension> for Dimension {
    fn from(d: &kpi::Dimension) -> Dimension {
        use kpi::Dimension as D;
        match d {
            D::Overall => Dimension::Overall,
            D::Queue(q) => Dimension::Queue(q.0),
            D::Service(s) => Dimension::Service(s.clone()),
            D::Channel(c) => Dimension::Channel((*c).into()),
            D::Team(t) => Dimension::Team(t.0),
            D::Agent(a) => Dimension::Agent(a.0),
        }
    }
}

/// One row of a KPI report.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Row {
    pub dimension: Dimension,
    /// Start of the interval or day; none for the whole run.
    pub interval_start: Option<Millis>,
    pub counts: Counts,
    pub figures: Figures,
}

impl From<&kpi::Row> for Row {
    fn from(r: &kpi::Row) -> Row {
        Row {
            dimension: (&r.dimension).into(),
            interval_start: r.interval_start.map(|t| t.0),
            counts: (&r.counts).into(),
            figures: (&r.figures).into(),
        }
    }
}

/// A timestamp as the wire carries it.
pub fn millis(t: Timestamp) -> Millis {
    t.0
}
