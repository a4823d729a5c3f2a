//! The search, by the public DoS rules (see the crate's documentation and
//! `docs/dos-directory.md`): request checks, the search distance and its
//! source, the two filters and their gaps, ranking, the per-type limits,
//! the catch-all; optionally explained service by service; and the answer
//! in the directory's own ids.

use crate::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// What the search did with one service near the patient.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Verdict {
    /// Returned, at this place (1 first).
    Returned { position: usize },
    /// Returned by the catch-all (nothing else matched).
    CatchAll { position: usize },
    /// Passed every filter but its service type already had its one or
    /// two results.
    TypeFull { kept: usize },
    /// Failed exactly one second-stage filter.
    Gap { filter: Filter },
    /// Failed more than one second-stage filter.
    Filtered { filters: Vec<Filter> },
    /// Dropped by a first-stage rule.
    Excluded { rule: Rule },
}

/// One service near the patient and what the search did with it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Explained {
    pub id: u64,
    pub key: String,
    pub name: String,
    pub type_id: u32,
    pub distance_km: f64,
    pub rank: u8,
    pub verdict: Verdict,
}

/// The search, by the public rules.
pub fn search(dir: &Directory, q: &Query) -> Result<SearchResult, SearchError> {
    run(dir, q, None)
}

/// The search, and for every service within twice the search distance
/// (the nearest `limit`) what happened to it and by which rule.
pub fn search_explained(
    dir: &Directory,
    q: &Query,
    limit: usize,
) -> Result<(SearchResult, Vec<Explained>), SearchError> {
    let mut out = Vec::new();
    let r = run(dir, q, Some(&mut out))?;
    out.sort_by(|a, b| {
        a.distance_km
            .total_cmp(&b.distance_km)
            .then(a.id.cmp(&b.id))
    });
    out.truncate(limit);
    Ok((r, out))
}

/// The search distance and where it came from: forced, else stored for
/// the postcode, its sector, its district, else the request's, else 60.
fn search_distance(dir: &Directory, q: &Query) -> Result<(u32, DistanceSource), SearchError> {
    if let Some(f) = q.forced_distance_km {
        if !(1..=99).contains(&f) {
            return Err(SearchError::InvalidSearchDistance(f));
        }
        return Ok((f, DistanceSource::Override));
    }
    if let Some(pc) = &q.postcode {
        let compact: String = pc
            .to_ascii_uppercase()
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect();
        if compact.len() >= 5 && compact.is_ascii() {
            let (out, inward) = compact.split_at(compact.len() - 3);
            let full = format!("{out} {inward}");
            if let Some(&d) = dir.district_distance.get(&full) {
                return Ok((d, DistanceSource::Postcode));
            }
            let sector = format!("{out} {}", &inward[..1]);
            if let Some(&d) = dir.district_distance.get(&sector) {
                return Ok((d, DistanceSource::Sector));
            }
        }
    }
    if let Some(&d) = q
        .district
        .as_ref()
        .and_then(|d| dir.district_distance.get(d))
    {
        return Ok((d, DistanceSource::District));
    }
    if let Some(d) = q.distance_km {
        if !(1..=99).contains(&d) {
            return Err(SearchError::InvalidSearchDistance(d));
        }
        return Ok((d, DistanceSource::WebService));
    }
    Ok((DEFAULT_DISTANCE_KM, DistanceSource::National))
}

/// The ranks the search uses: the named strategy, else the directory's
/// default one, else its plain ranks.
fn ranking<'a>(
    dir: &'a Directory,
    q: &Query,
) -> Result<(Option<String>, &'a HashMap<u32, u8>), SearchError> {
    let name = q.strategy.clone().or_else(|| dir.default_strategy.clone());
    match name {
        Some(n) => match dir.strategies.get(&n) {
            Some(r) => Ok((Some(n), r)),
            None => Err(SearchError::UnknownStrategy(n)),
        },
        None => Ok((None, &dir.ranks)),
    }
}

/// The requested discriminators that count: repeats dropped, and (when
/// the directory lists its valid pairs) those not valid for the group.
fn discriminators(dir: &Directory, q: &Query) -> Result<(BTreeSet<u32>, Vec<u32>), SearchError> {
    if q.discriminators.len() > 20 {
        return Err(SearchError::InvalidSd(format!(
            "at most 20 (got {})",
            q.discriminators.len()
        )));
    }
    if !dir.valid_sg_sd.is_empty()
        && !dir
            .valid_sg_sd
            .range((q.symptom_group, 0)..=(q.symptom_group, u32::MAX))
            .any(|_| true)
    {
        return Err(SearchError::InvalidSg(q.symptom_group));
    }
    let mut kept = BTreeSet::new();
    let mut dropped = Vec::new();
    for &sd in &q.discriminators {
        let valid = dir.valid_sg_sd.is_empty() || dir.valid_sg_sd.contains(&(q.symptom_group, sd));
        if !valid || !kept.insert(sd) {
            dropped.push(sd);
        }
    }
    if !q.discriminators.is_empty() && kept.is_empty() {
        return Err(SearchError::InvalidSd(format!(
            "none of {:?} is valid for symptom group {}",
            q.discriminators, q.symptom_group
        )));
    }
    Ok((kept, dropped))
}

fn run(
    dir: &Directory,
    q: &Query,
    explain: Option<&mut Vec<Explained>>,
) -> Result<SearchResult, SearchError> {
    let (distance, distance_source) = search_distance(dir, q)?;
    let (strategy, ranks) = ranking(dir, q)?;
    // ODS codes compare in upper case.
    let gp = q
        .gp_practice
        .as_ref()
        .map(|g| g.trim().to_ascii_uppercase());
    // No symptom group (0): straight to the catch-all, as the DoS does.
    let no_group = q.symptom_group == NO_SYMPTOM_GROUP;
    let (sds, dropped_discriminators) = if no_group {
        (BTreeSet::new(), Vec::new())
    } else {
        discriminators(dir, q)?
    };
    let half = distance as f64 * 1000.0;
    let inside = |p: Point, half: f64| {
        (p.easting - q.location.easting).abs() <= half
            && (p.northing - q.location.northing).abs() <= half
    };
    let rank_of = |s: &Service| ranks.get(&s.type_id).copied().unwrap_or(10);
    let end = window_end(q.at, q.timeframe_minutes);
    let mut found: Vec<(u8, u8, f64, &Service)> = Vec::new();
    let mut gaps = Vec::new();
    let mut verdicts: HashMap<u64, Verdict> = HashMap::new();
    let mut near: Vec<&Service> = Vec::new();
    for s in dir.services.iter().filter(|_| !no_group) {
        let explaining = explain.is_some() && inside(s.location, 2.0 * half);
        if explaining {
            near.push(s);
        }
        let mut exclude = |r: Rule| {
            if explaining {
                verdicts.insert(s.id, Verdict::Excluded { rule: r });
            }
        };
        // First stage.
        let patient_listed = gp
            .as_ref()
            .is_some_and(|p| s.restricted_to_practices.contains(p));
        if !s.active {
            exclude(Rule::Status);
            continue;
        }
        if !inside(s.location, half) {
            exclude(Rule::Distance);
            continue;
        }
        if !s.sg_sd.iter().any(|&(sg, _)| sg == q.symptom_group) {
            exclude(Rule::SymptomGroup);
            continue;
        }
        if !s.sexes.contains(&q.sex) {
            exclude(Rule::Gender);
            continue;
        }
        if s.restricted() && !patient_listed {
            exclude(Rule::GpRestricted);
            continue;
        }
        // Second stage: record which filters fail.
        let mut failed = Vec::new();
        if Capacity::at(&s.capacity, q.at) == Rag::Red {
            failed.push(Filter::Capacity);
        }
        if !sds
            .iter()
            .all(|sd| s.sg_sd.contains(&(q.symptom_group, *sd)))
        {
            failed.push(Filter::SymptomDiscriminator);
        }
        if !q.disposition.is_empty() && !s.dispositions.contains(&q.disposition) {
            failed.push(Filter::Disposition);
        }
        if !(s.age_days.0..=s.age_days.1).contains(&q.age_days) {
            failed.push(Filter::Age);
        }
        if (failed.len() <= 1 || explaining)
            && !open_in_window(&s.opening, &dir.bank_holidays, q.at, end)
        {
            failed.push(Filter::SessionTimes);
        }
        match failed.as_slice() {
            [] => {
                // Within a rank: the patient's own GP, then services
                // commissioned for the patient's practice (restricted,
                // then unrestricted), then the others.
                let class = if s.ods_code.is_some() && s.ods_code == gp {
                    0
                } else if patient_listed && s.restricted() {
                    1
                } else if patient_listed {
                    2
                } else {
                    3
                };
                found.push((rank_of(s), class, distance_km(s.location, q.location), s));
            }
            [one] => {
                if explaining {
                    verdicts.insert(s.id, Verdict::Gap { filter: *one });
                }
                gaps.push(Gap {
                    id: s.id,
                    name: s.name.clone(),
                    type_id: s.type_id,
                    failed: *one,
                });
            }
            _ => {
                if explaining {
                    verdicts.insert(s.id, Verdict::Filtered { filters: failed });
                }
            }
        }
    }
    // Rank, then distance within the rank (the grouping within a rank
    // keeps the distance order).
    found.sort_by(|a, b| {
        (a.0, a.1)
            .cmp(&(b.0, b.1))
            .then(a.2.total_cmp(&b.2))
            .then(a.3.id.cmp(&b.3.id))
    });
    let mut per_type: HashMap<u32, usize> = HashMap::new();
    let mut results = Vec::new();
    for (rank, _, d, s) in found {
        let keep = if ONE_PER_TYPE.contains(&s.type_id) {
            1
        } else {
            2
        };
        let n = per_type.entry(s.type_id).or_default();
        if *n < keep {
            *n += 1;
            results.push(Found {
                id: s.id,
                name: s.name.clone(),
                type_id: s.type_id,
                distance_km: (d * 10.0).round() / 10.0,
                rank,
                capacity: Capacity::at(&s.capacity, q.at),
                catch_all: false,
            });
            verdicts.insert(
                s.id,
                Verdict::Returned {
                    position: results.len(),
                },
            );
        } else {
            verdicts.insert(s.id, Verdict::TypeFull { kept: keep });
        }
    }
    if results.is_empty() {
        // Catch-all: the nearest two emergency departments in the 60 km
        // square, whatever their capacity.
        let far = DEFAULT_DISTANCE_KM as f64 * 1000.0;
        let mut eds: Vec<(f64, &Service)> = dir
            .services
            .iter()
            .filter(|s| s.active && s.type_id == EMERGENCY_DEPARTMENT && inside(s.location, far))
            .map(|s| (distance_km(s.location, q.location), s))
            .collect();
        eds.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.id.cmp(&b.1.id)));
        for (d, s) in eds.into_iter().take(2) {
            results.push(Found {
                id: s.id,
                name: s.name.clone(),
                type_id: s.type_id,
                distance_km: (d * 10.0).round() / 10.0,
                rank: rank_of(s),
                capacity: Capacity::at(&s.capacity, q.at),
                catch_all: true,
            });
            verdicts.insert(
                s.id,
                Verdict::CatchAll {
                    position: results.len(),
                },
            );
            if explain.is_some() && !near.iter().any(|n| n.id == s.id) {
                near.push(s);
            }
        }
    }
    gaps.sort_by_key(|g| (g.failed, g.id));
    if let Some(out) = explain {
        for s in near {
            if let Some(v) = verdicts.remove(&s.id) {
                out.push(Explained {
                    id: s.id,
                    key: s.key(),
                    name: s.name.clone(),
                    type_id: s.type_id,
                    distance_km: (distance_km(s.location, q.location) * 10.0).round() / 10.0,
                    rank: rank_of(s),
                    verdict: v,
                });
            }
        }
    }
    Ok(SearchResult {
        distance_km: distance,
        distance_source,
        strategy,
        results,
        gaps,
        dropped_discriminators,
    })
}

/// A gap as answered: the service's directory id and the filter.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GapRef {
    pub id: String,
    pub filter: String,
}

/// A search's answer in the directory's own ids, the same from the CLI
/// (`switchboard dos search --json`) and the API (`dos` in its answer).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer {
    /// Service ids in order.
    pub ranked: Vec<String>,
    /// The answer is the catch-all (nothing matched).
    pub catch_all: bool,
    pub gaps: Vec<GapRef>,
    pub search_distance_km: Option<u32>,
    pub search_distance_source: Option<String>,
    /// The ranking strategy used.
    pub strategy: Option<String>,
    /// Discriminators dropped (repeated, or not valid for the group).
    pub dropped_discriminators: Vec<u32>,
    /// None, or `invalid_age`, `invalid_search_distance`, `invalid_sd`,
    /// `invalid_sg`, `invalid_gender`, `invalid_strategy`,
    /// `no_services_found`.
    pub error: Option<String>,
    /// The error in words, naming the field.
    pub message: Option<String>,
}

impl Answer {
    pub fn of(dir: &Directory, r: &Result<SearchResult, SearchError>) -> Answer {
        let key = |id: u64| {
            dir.services
                .iter()
                .find(|s| s.id == id)
                .map(Service::key)
                .unwrap_or_else(|| id.to_string())
        };
        match r {
            Ok(r) => Answer {
                ranked: r.results.iter().map(|f| key(f.id)).collect(),
                catch_all: r.catch_all(),
                gaps: r
                    .gaps
                    .iter()
                    .map(|g| GapRef {
                        id: key(g.id),
                        filter: g.failed.name().into(),
                    })
                    .collect(),
                search_distance_km: Some(r.distance_km),
                search_distance_source: Some(r.distance_source.name().into()),
                strategy: r.strategy.clone(),
                dropped_discriminators: r.dropped_discriminators.clone(),
                error: r.no_services_found().then(|| "no_services_found".into()),
                message: r.no_services_found().then(|| {
                    "no service matched and no emergency department is within 60 km".into()
                }),
            },
            Err(e) => Answer::refused(e),
        }
    }

    /// The answer to a refused request.
    pub fn refused(e: &SearchError) -> Answer {
        Answer {
            ranked: Vec::new(),
            catch_all: false,
            gaps: Vec::new(),
            search_distance_km: None,
            search_distance_source: None,
            strategy: None,
            dropped_discriminators: Vec::new(),
            error: Some(e.code().into()),
            message: Some(e.to_string()),
        }
    }
}
