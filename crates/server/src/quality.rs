//! Quality scoring over HTTP: scorecards (the admin's), evaluations of
//! recorded calls (the quality team's and supervisors'), an agent's own
//! scores, calibration (two evaluators, one call) and averages by agent,
//! team or question. The arithmetic is `app::quality`'s.

use crate::error::{body, tryr, Body};
use crate::{error, App, Caller};
use app::quality::{self as q, Answer, Scorecard};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use model::{AgentId, OrgId, Timestamp};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// Most evaluations one answer reads.
const MAX_ROWS: usize = 5000;

/// A scorecard: sections of weighted questions; a `fail_all` question
/// answered no scores the whole call 0.
#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ScorecardBody {
    #[schemars(length(min = 1, max = 300))]
    name: String,
    #[schemars(length(min = 1, max = 20))]
    sections: Vec<SectionBody>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SectionBody {
    #[schemars(length(min = 1, max = 300))]
    name: String,
    #[schemars(length(min = 1, max = 50))]
    questions: Vec<QuestionBody>,
}

#[derive(Deserialize, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct QuestionBody {
    /// Unique in the scorecard: a-z, 0-9, '_' and '-'.
    #[schemars(regex(pattern = "^[a-z0-9_-]{1,40}$"))]
    id: String,
    #[schemars(length(min = 1, max = 300))]
    text: String,
    #[schemars(range(min = 1, max = 100))]
    weight: u32,
    /// Answered yes/no, or on a scale from 0 to `scale` (1 to 10).
    #[serde(default)]
    #[schemars(range(min = 1, max = 10))]
    scale: Option<u8>,
    #[serde(default)]
    fail_all: bool,
    #[serde(default)]
    not_applicable: bool,
}

impl From<ScorecardBody> for Scorecard {
    fn from(b: ScorecardBody) -> Scorecard {
        Scorecard {
            name: b.name,
            sections: b
                .sections
                .into_iter()
                .map(|s| q::Section {
                    name: s.name,
                    questions: s
                        .questions
                        .into_iter()
                        .map(|x| q::Question {
                            id: x.id,
                            text: x.text,
                            weight: x.weight,
                            answering: match x.scale {
                                Some(max) => q::Answering::Scale { max },
                                None => q::Answering::YesNo,
                            },
                            fail_all: x.fail_all,
                            not_applicable: x.not_applicable,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

impl From<Scorecard> for ScorecardBody {
    fn from(c: Scorecard) -> ScorecardBody {
        ScorecardBody {
            name: c.name,
            sections: c
                .sections
                .into_iter()
                .map(|s| SectionBody {
                    name: s.name,
                    questions: s
                        .questions
                        .into_iter()
                        .map(|x| QuestionBody {
                            id: x.id,
                            text: x.text,
                            weight: x.weight,
                            scale: match x.answering {
                                q::Answering::Scale { max } => Some(max),
                                q::Answering::YesNo => None,
                            },
                            fail_all: x.fail_all,
                            not_applicable: x.not_applicable,
                        })
                        .collect(),
                })
                .collect(),
        }
    }
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ScorecardRow {
    id: u32,
    scorecard: ScorecardBody,
    /// RFC 3339, UTC.
    changed_at: String,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Scorecards {
    scorecards: Vec<ScorecardRow>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ScorecardId {
    id: u32,
}

fn parse_card(text: &str) -> Option<Scorecard> {
    serde_json::from_str(text).ok()
}

/// `GET /api/v1/scorecards`.
pub(crate) async fn list_scorecards(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
) -> Response {
    let org = c.org;
    let rows = tryr!(app
        .dir(move |d| d.scorecards(org))
        .await
        .map_err(crate::error::api));
    Json(Scorecards {
        scorecards: rows
            .into_iter()
            .filter_map(|r| {
                Some(ScorecardRow {
                    id: r.id,
                    scorecard: parse_card(&r.definition)?.into(),
                    changed_at: app::time::iso(r.changed),
                })
            })
            .collect(),
    })
    .into_response()
}

/// `PUT /api/v1/scorecards/{scorecard}`: creates or replaces it (past
/// evaluations keep the version they were scored on).
pub(crate) async fn put_scorecard(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    Path(id): Path<u32>,
    b: Body<ScorecardBody>,
) -> Response {
    let card = Scorecard::from(tryr!(body(b)));
    if let Some(p) = card.problem() {
        return error(StatusCode::UNPROCESSABLE_ENTITY, p);
    }
    let text = serde_json::to_string(&card).unwrap_or_default();
    let audit = c.audit("change scorecard", format!("scorecard {id}"));
    let org = c.org;
    let at = app::wall_clock();
    let created = tryr!(app
        .dir(move |d| d.put_scorecard(org, id, &text, at, &audit))
        .await
        .map_err(crate::error::api));
    let code = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (code, Json(ScorecardId { id })).into_response()
}

/// An evaluation of one recorded call against a scorecard.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvaluationBody {
    recording: u64,
    scorecard: u32,
    /// Every question's answer by its id: "yes", "no", "na" (where the
    /// question allows it) or the points on its scale.
    answers: BTreeMap<String, Value>,
    /// Feedback for the agent (sealed at rest).
    #[serde(default)]
    #[schemars(length(max = 4000))]
    comment: Option<String>,
}

fn answer(id: &str, v: &Value) -> Result<Answer, String> {
    match v {
        Value::String(s) if s == "yes" => Ok(Answer::Yes),
        Value::String(s) if s == "no" => Ok(Answer::No),
        Value::String(s) if s == "na" => Ok(Answer::NotApplicable),
        Value::Number(n) => n
            .as_u64()
            .and_then(|p| u8::try_from(p).ok())
            .map(Answer::Points)
            .ok_or_else(|| format!("answers.{id}: points are a whole number from 0")),
        _ => Err(format!(
            "answers.{id}: \"yes\", \"no\", \"na\" or a number of points"
        )),
    }
}

/// An evaluation, as read back.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Evaluation {
    id: u64,
    recording: u64,
    contact: Option<u64>,
    agent: u32,
    scorecard: u32,
    scorecard_name: String,
    /// Who scored it.
    evaluator: String,
    /// RFC 3339, UTC.
    at: String,
    /// 0 to 100 (0 when a fail-all question failed).
    score: f64,
    /// The fail-all questions that failed.
    failed: Vec<String>,
    /// Each section's score (0 to 100), in order.
    sections: Vec<SectionScore>,
    comment: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct SectionScore {
    name: String,
    score: f64,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Evaluations {
    evaluations: Vec<Evaluation>,
}

fn comment_aad(org: OrgId, recording: u64, evaluator: u32) -> String {
    format!("evaluation:{}:{recording}:{evaluator}", org.0)
}

fn show(app: &App, org: OrgId, r: store::quality::EvaluationRow) -> Evaluation {
    let card = parse_card(&r.definition);
    let answers: BTreeMap<String, Answer> = serde_json::from_str(&r.answers).unwrap_or_default();
    let sections = card
        .as_ref()
        .and_then(|c| c.score(&answers).ok())
        .map(|s| {
            s.by_section
                .into_iter()
                .map(|(name, score)| SectionScore { name, score })
                .collect()
        })
        .unwrap_or_default();
    let comment = r.comment.as_ref().map(|s| {
        app::seal::open(
            &app.kek,
            &comment_aad(org, r.recording, r.evaluator_user),
            s,
        )
        .unwrap_or_else(|e| format!("(the comment does not open: {e})"))
    });
    Evaluation {
        id: r.id,
        recording: r.recording,
        contact: r.contact.map(|c| c.0),
        agent: r.agent.0,
        scorecard: r.scorecard,
        scorecard_name: card.map(|c| c.name).unwrap_or_default(),
        evaluator: r.evaluator,
        at: app::time::iso(r.at),
        score: r.score,
        failed: serde_json::from_str(&r.failed).unwrap_or_default(),
        sections,
        comment,
    }
}

/// `POST /api/v1/evaluations`: scores a recorded call; audited.
pub(crate) async fn evaluate(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    b: Body<EvaluationBody>,
) -> Response {
    let b = tryr!(body(b));
    let unprocessable = |m: String| error(StatusCode::UNPROCESSABLE_ENTITY, m);
    if b.comment
        .as_ref()
        .is_some_and(|t| t.chars().count() > q::MAX_COMMENT)
    {
        return unprocessable(format!("comment: at most {} characters", q::MAX_COMMENT));
    }
    if b.answers.len() > q::MAX_SECTIONS * q::MAX_QUESTIONS {
        return unprocessable("answers: too many".into());
    }
    let mut answers = BTreeMap::new();
    for (id, v) in &b.answers {
        answers.insert(id.clone(), tryr!(answer(id, v).map_err(unprocessable)));
    }
    let (org, rec, sc) = (c.org, b.recording, b.scorecard);
    let found = tryr!(app
        .dir(move |d| Ok((d.recording(org, rec)?, d.scorecard(org, sc)?)))
        .await
        .map_err(crate::error::api));
    let (Some(recording), Some(card_row)) = found else {
        return error(
            StatusCode::NOT_FOUND,
            if found.0.is_none() {
                format!("unknown recording {rec}")
            } else {
                format!("unknown scorecard {sc}")
            },
        );
    };
    let Some(agent) = recording.agent else {
        return error(
            StatusCode::CONFLICT,
            format!("recording {rec} has no agent on it to score"),
        );
    };
    let Some(card) = parse_card(&card_row.definition) else {
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("scorecard {sc} cannot be read"),
        );
    };
    let scored = tryr!(card.score(&answers).map_err(unprocessable));
    let Some(user) = c.user else {
        return error(
            StatusCode::FORBIDDEN,
            "people score calls, not tokens".into(),
        );
    };
    let row = store::quality::EvaluationRow {
        id: 0,
        scorecard: sc,
        definition: card_row.definition,
        recording: rec,
        contact: recording.contact,
        agent,
        evaluator: c.actor.clone(),
        evaluator_user: user,
        at: app::wall_clock(),
        answers: serde_json::to_string(&answers).unwrap_or_default(),
        score: scored.score,
        failed: serde_json::to_string(&scored.failed).unwrap_or_default(),
        by_question: serde_json::to_string(&scored.by_question).unwrap_or_default(),
        comment: b
            .comment
            .filter(|t| !t.trim().is_empty())
            .map(|t| app::seal::seal(&app.kek, &comment_aad(org, rec, user), &t)),
    };
    let audit = c.audit("evaluate call", String::new());
    let stored = row.clone();
    let id = tryr!(app
        .dir(move |d| d.add_evaluation(org, &stored, &audit))
        .await
        .map_err(crate::error::api));
    let mut shown = show(&app, org, row);
    shown.id = id;
    (StatusCode::CREATED, Json(shown)).into_response()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct EvaluationQuery {
    /// One agent's evaluations.
    #[serde(default)]
    agent: Option<u32>,
    /// One recording's evaluations.
    #[serde(default)]
    recording: Option<u64>,
    /// Scored at or after (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Scored before (RFC 3339).
    #[serde(default)]
    to: Option<String>,
}

fn period(
    from: Option<String>,
    to: Option<String>,
) -> Result<(Option<Timestamp>, Option<Timestamp>), Response> {
    use crate::recordings::instant;
    Ok((instant("from", from)?, instant("to", to)?))
}

async fn read(
    app: &App,
    c: &Caller,
    query: store::quality::EvaluationQuery,
) -> Result<Vec<Evaluation>, Response> {
    let org = c.org;
    let audit = c.audit("read evaluations", format!("{} evaluations", "some"));
    let rows = app
        .dir(move |d| {
            let rows = d.evaluations(org, &query)?;
            let mut audit = audit;
            audit.subject = format!("{} evaluations", rows.len());
            d.audit(&audit)?;
            Ok(rows)
        })
        .await
        .map_err(crate::error::api)?;
    Ok(rows.into_iter().map(|r| show(app, org, r)).collect())
}

/// The evaluations `q` names, unaudited (scores and answers only; what
/// opens comments is [`read`]).
async fn rows(
    app: &App,
    org: OrgId,
    q: store::quality::EvaluationQuery,
) -> Result<Vec<store::quality::EvaluationRow>, Response> {
    app.dir(move |d| d.evaluations(org, &q))
        .await
        .map_err(crate::error::api)
}

/// `GET /api/v1/evaluations`.
pub(crate) async fn list(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    qy: Result<Query<EvaluationQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(qy) = tryr!(qy.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let (from, to) = tryr!(period(qy.from, qy.to));
    let evaluations = tryr!(
        read(
            &app,
            &c,
            store::quality::EvaluationQuery {
                agent: qy.agent.map(AgentId),
                recording: qy.recording,
                from,
                to,
                limit: MAX_ROWS,
            }
        )
        .await
    );
    Json(Evaluations { evaluations }).into_response()
}

/// `GET /api/v1/me/evaluations`: the agent's own scores and feedback.
pub(crate) async fn mine(State(app): State<App>, Extension(c): Extension<Caller>) -> Response {
    let Some(agent) = c.agent else {
        return Json(Evaluations {
            evaluations: vec![],
        })
        .into_response();
    };
    let evaluations = tryr!(
        read(
            &app,
            &c,
            store::quality::EvaluationQuery {
                agent: Some(agent),
                limit: MAX_ROWS,
                ..Default::default()
            }
        )
        .await
    );
    Json(Evaluations { evaluations }).into_response()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct CalibrationQuery {
    /// One recording (else every recording two people scored).
    #[serde(default)]
    recording: Option<u64>,
}

/// Two evaluators' scores of one call, compared.
#[derive(Serialize, JsonSchema)]
pub(crate) struct Pair {
    recording: u64,
    first: u64,
    second: u64,
    first_evaluator: String,
    second_evaluator: String,
    /// Points between the two scores.
    score_gap: f64,
    /// Questions answered alike, of those both answered.
    agreed: usize,
    compared: usize,
    /// The questions they differ on.
    differ_on: Vec<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct Calibrations {
    pairs: Vec<Pair>,
}

/// `GET /api/v1/quality/calibration`: every pair of evaluations of the
/// same call by different people on the same scorecard.
pub(crate) async fn calibration(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    qy: Result<Query<CalibrationQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(qy) = tryr!(qy.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let rows = tryr!(
        rows(
            &app,
            c.org,
            store::quality::EvaluationQuery {
                recording: qy.recording,
                limit: MAX_ROWS,
                ..Default::default()
            }
        )
        .await
    );
    let scored = |r: &store::quality::EvaluationRow| q::Scored {
        score: r.score,
        failed: vec![],
        by_question: serde_json::from_str(&r.by_question).unwrap_or_default(),
        by_section: vec![],
    };
    let mut pairs = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        for b in &rows[i + 1..] {
            if a.recording != b.recording
                || a.scorecard != b.scorecard
                || a.evaluator_user == b.evaluator_user
            {
                continue;
            }
            let (older, newer) = if a.id < b.id { (a, b) } else { (b, a) };
            let cal = q::calibrate(&scored(older), &scored(newer));
            pairs.push(Pair {
                recording: a.recording,
                first: older.id,
                second: newer.id,
                first_evaluator: older.evaluator.clone(),
                second_evaluator: newer.evaluator.clone(),
                score_gap: cal.score_gap,
                agreed: cal.agreed,
                compared: cal.compared,
                differ_on: cal.differ_on,
            });
        }
    }
    Json(Calibrations { pairs }).into_response()
}

#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReportQuery {
    /// agent (default), team or question.
    #[serde(default)]
    #[schemars(extend("enum" = ["agent", "team", "question", null]))]
    by: Option<String>,
    /// Scored at or after (RFC 3339).
    #[serde(default)]
    from: Option<String>,
    /// Scored before (RFC 3339).
    #[serde(default)]
    to: Option<String>,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct ReportRow {
    /// The agent's or team's id, or the question's.
    key: String,
    name: String,
    evaluations: usize,
    /// Mean score (0 to 100); for a question, its mean marks (0 to 100).
    mean: f64,
    /// Evaluations failed by a fail-all question (for a question: times
    /// it was the one that failed).
    failed: usize,
}

#[derive(Serialize, JsonSchema)]
pub(crate) struct QualityReport {
    by: String,
    rows: Vec<ReportRow>,
}

/// `GET /api/v1/quality/report`: mean scores by agent, team or question.
pub(crate) async fn report(
    State(app): State<App>,
    Extension(c): Extension<Caller>,
    qy: Result<Query<ReportQuery>, axum::extract::rejection::QueryRejection>,
) -> Response {
    let Query(qy) = tryr!(qy.map_err(|e| error(StatusCode::BAD_REQUEST, e.body_text())));
    let by = qy.by.unwrap_or_else(|| "agent".into());
    if !["agent", "team", "question"].contains(&by.as_str()) {
        return error(
            StatusCode::BAD_REQUEST,
            "by: agent, team or question".into(),
        );
    }
    let (from, to) = tryr!(period(qy.from, qy.to));
    let org = c.org;
    let rows = tryr!(
        rows(
            &app,
            org,
            store::quality::EvaluationQuery {
                from,
                to,
                limit: MAX_ROWS,
                ..Default::default()
            }
        )
        .await
    );
    let config = tryr!(app
        .read(org, |t, _| t.engine.config())
        .await
        .map_err(crate::error::api));
    let agent_name = |a: AgentId| {
        config
            .agents
            .iter()
            .find(|x| x.id == a)
            .map(|x| (x.name.clone(), x.team))
    };
    // key → (name, count, sum, failed)
    let mut groups: BTreeMap<String, (String, usize, f64, usize)> = BTreeMap::new();
    for r in &rows {
        let failed: Vec<String> = serde_json::from_str(&r.failed).unwrap_or_default();
        match by.as_str() {
            "question" => {
                let marks: BTreeMap<String, f64> =
                    serde_json::from_str(&r.by_question).unwrap_or_default();
                let card = parse_card(&r.definition);
                for (id, m) in marks {
                    let name = card
                        .as_ref()
                        .and_then(|c| {
                            c.sections
                                .iter()
                                .flat_map(|s| &s.questions)
                                .find(|x| x.id == id)
                                .map(|x| x.text.clone())
                        })
                        .unwrap_or_default();
                    let g = groups.entry(id.clone()).or_insert((name, 0, 0.0, 0));
                    g.1 += 1;
                    g.2 += 100.0 * m;
                    g.3 += usize::from(failed.contains(&id));
                }
                continue;
            }
            "team" => {
                let team = agent_name(r.agent).map(|(_, t)| t);
                let (key, name) = match team {
                    Some(t) => (
                        t.0.to_string(),
                        config
                            .teams
                            .iter()
                            .find(|x| x.id == t)
                            .map(|x| x.name.clone())
                            .unwrap_or_default(),
                    ),
                    None => ("none".into(), "(agent removed)".into()),
                };
                let g = groups.entry(key).or_insert((name, 0, 0.0, 0));
                g.1 += 1;
                g.2 += r.score;
                g.3 += usize::from(!failed.is_empty());
            }
            _ => {
                let name = agent_name(r.agent).map(|(n, _)| n).unwrap_or_default();
                let g = groups
                    .entry(r.agent.0.to_string())
                    .or_insert((name, 0, 0.0, 0));
                g.1 += 1;
                g.2 += r.score;
                g.3 += usize::from(!failed.is_empty());
            }
        }
    }
    Json(QualityReport {
        by,
        rows: groups
            .into_iter()
            .map(|(key, (name, n, sum, failed))| ReportRow {
                key,
                name,
                evaluations: n,
                mean: if n > 0 { sum / n as f64 } else { 0.0 },
                failed,
            })
            .collect(),
    })
    .into_response()
}
