//! Quality scoring: scorecards an admin defines (sections of weighted
//! questions, some of which fail the whole evaluation), evaluations of
//! recorded calls against them, calibration (two evaluators, one call)
//! and averages. Pure: the checks and the arithmetic, no storage.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Most sections in a scorecard, questions in one, characters in a name.
pub const MAX_SECTIONS: usize = 20;
pub const MAX_QUESTIONS: usize = 50;
pub const MAX_TEXT: usize = 300;
/// Longest comment on an evaluation.
pub const MAX_COMMENT: usize = 4000;

/// How a question is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Answering {
    /// Yes (full marks) or no (none); `na` allowed if `not_applicable`.
    YesNo,
    /// 0 to `max` (marks in proportion).
    Scale { max: u8 },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Question {
    /// Unique in the scorecard, e.g. "greeting".
    pub id: String,
    pub text: String,
    /// Its share of the score (1 to 100).
    pub weight: u32,
    pub answering: Answering,
    /// Answered "no" (or 0), the whole evaluation scores 0: a safety or
    /// governance failure (e.g. the patient's identity not checked).
    #[serde(default)]
    pub fail_all: bool,
    /// May be answered "not applicable" (left out of the score).
    #[serde(default)]
    pub not_applicable: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Section {
    pub name: String,
    pub questions: Vec<Question>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scorecard {
    pub name: String,
    pub sections: Vec<Section>,
}

/// One answer: yes/no, a point on the scale, or not applicable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Answer {
    Yes,
    No,
    Points(u8),
    NotApplicable,
}

/// An evaluation's result.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Scored {
    /// 0 to 100 (0 when a fail-all question failed).
    pub score: f64,
    /// The fail-all questions that failed, by id.
    pub failed: Vec<String>,
    /// Each answered question's marks as a fraction of its own (0 to 1;
    /// not applicable: absent), by id.
    pub by_question: BTreeMap<String, f64>,
    /// Each section's score (0 to 100) before any fail-all, by name.
    pub by_section: Vec<(String, f64)>,
}

fn text_problem(what: &str, s: &str) -> Option<String> {
    (s.trim().is_empty() || s.chars().count() > MAX_TEXT)
        .then(|| format!("{what}: 1 to {MAX_TEXT} characters"))
}

impl Scorecard {
    /// What is wrong with the scorecard, named, if anything.
    pub fn problem(&self) -> Option<String> {
        if let Some(p) = text_problem("name", &self.name) {
            return Some(p);
        }
        if self.sections.is_empty() || self.sections.len() > MAX_SECTIONS {
            return Some(format!("sections: 1 to {MAX_SECTIONS}"));
        }
        let mut ids = BTreeSet::new();
        for (i, s) in self.sections.iter().enumerate() {
            if let Some(p) = text_problem(&format!("sections[{i}].name"), &s.name) {
                return Some(p);
            }
            if s.questions.is_empty() || s.questions.len() > MAX_QUESTIONS {
                return Some(format!("sections[{i}].questions: 1 to {MAX_QUESTIONS}"));
            }
            for (j, q) in s.questions.iter().enumerate() {
                let at = format!("sections[{i}].questions[{j}]");
                let id_ok = !q.id.is_empty()
                    && q.id.len() <= 40
                    && q.id.chars().all(|c| {
                        c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-'
                    });
                if !id_ok {
                    return Some(format!("{at}.id: 1 to 40 of a-z, 0-9, '_' and '-'"));
                }
                if !ids.insert(q.id.as_str()) {
                    return Some(format!("{at}.id: '{}' is used twice", q.id));
                }
                if let Some(p) = text_problem(&format!("{at}.text"), &q.text) {
                    return Some(p);
                }
                if !(1..=100).contains(&q.weight) {
                    return Some(format!("{at}.weight: 1 to 100"));
                }
                if let Answering::Scale { max } = q.answering {
                    if !(1..=10).contains(&max) {
                        return Some(format!("{at}.answering.max: 1 to 10"));
                    }
                }
            }
        }
        None
    }

    fn questions(&self) -> impl Iterator<Item = (&Section, &Question)> {
        self.sections
            .iter()
            .flat_map(|s| s.questions.iter().map(move |q| (s, q)))
    }

    /// Scores `answers` (every question answered, and only those), or says
    /// which answer is wrong.
    pub fn score(&self, answers: &BTreeMap<String, Answer>) -> Result<Scored, String> {
        for id in answers.keys() {
            if !self.questions().any(|(_, q)| &q.id == id) {
                return Err(format!("answers.{id}: no such question on this scorecard"));
            }
        }
        let mut failed = Vec::new();
        let mut by_question = BTreeMap::new();
        let mut sections: Vec<(String, f64, f64)> = Vec::new();
        let (mut got, mut of) = (0.0, 0.0);
        for (s, q) in self.questions() {
            let a = answers
                .get(&q.id)
                .ok_or_else(|| format!("answers.{}: not answered", q.id))?;
            let fraction = match (q.answering, *a) {
                (_, Answer::NotApplicable) if q.not_applicable => None,
                (_, Answer::NotApplicable) => {
                    return Err(format!("answers.{}: may not be not applicable", q.id))
                }
                (Answering::YesNo, Answer::Yes) => Some(1.0),
                (Answering::YesNo, Answer::No) => Some(0.0),
                (Answering::Scale { max }, Answer::Points(p)) if p <= max => {
                    Some(f64::from(p) / f64::from(max))
                }
                (Answering::Scale { max }, _) => {
                    return Err(format!("answers.{}: points from 0 to {max}", q.id))
                }
                (Answering::YesNo, _) => return Err(format!("answers.{}: yes or no", q.id)),
            };
            if sections.last().map(|x| x.0.as_str()) != Some(s.name.as_str()) {
                sections.push((s.name.clone(), 0.0, 0.0));
            }
            let Some(f) = fraction else { continue };
            if q.fail_all && f == 0.0 {
                failed.push(q.id.clone());
            }
            by_question.insert(q.id.clone(), f);
            let w = f64::from(q.weight);
            got += f * w;
            of += w;
            let last = sections.last_mut().expect("pushed above");
            last.1 += f * w;
            last.2 += w;
        }
        let pct = |got: f64, of: f64| if of > 0.0 { 100.0 * got / of } else { 100.0 };
        Ok(Scored {
            score: if failed.is_empty() { pct(got, of) } else { 0.0 },
            failed,
            by_question,
            by_section: sections
                .into_iter()
                .map(|(n, g, o)| (n, pct(g, o)))
                .collect(),
        })
    }
}

/// Two evaluations of one call, compared question by question.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Calibration {
    /// The difference between the two scores (points, 0 to 100).
    pub score_gap: f64,
    /// Questions both answered the same way (of those both answered).
    pub agreed: usize,
    pub compared: usize,
    /// The questions they differ on, by id.
    pub differ_on: Vec<String>,
}

pub fn calibrate(a: &Scored, b: &Scored) -> Calibration {
    let mut differ_on = Vec::new();
    let mut compared = 0;
    for (id, x) in &a.by_question {
        if let Some(y) = b.by_question.get(id) {
            compared += 1;
            if (x - y).abs() > 1e-9 {
                differ_on.push(id.clone());
            }
        }
    }
    Calibration {
        score_gap: (a.score - b.score).abs(),
        agreed: compared - differ_on.len(),
        compared,
        differ_on,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> Scorecard {
        serde_json::from_value(serde_json::json!({
            "name": "NHS 111 call handling",
            "sections": [
                {"name": "Safety", "questions": [
                    {"id": "identity", "text": "Checked the patient's identity", "weight": 10,
                     "answering": {"kind": "yes_no"}, "fail_all": true},
                    {"id": "worsening", "text": "Gave worsening advice", "weight": 10,
                     "answering": {"kind": "yes_no"}, "not_applicable": true}
                ]},
                {"name": "Manner", "questions": [
                    {"id": "empathy", "text": "Showed empathy", "weight": 20,
                     "answering": {"kind": "scale", "max": 4}}
                ]}
            ]
        }))
        .unwrap()
    }

    fn answers(pairs: &[(&str, Answer)]) -> BTreeMap<String, Answer> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn weights_scales_not_applicable_and_a_fail_all_question() {
        use Answer::*;
        let c = card();
        assert_eq!(c.problem(), None);
        let s = c
            .score(&answers(&[
                ("identity", Yes),
                ("worsening", No),
                ("empathy", Points(3)),
            ]))
            .unwrap();
        // (10 + 0 + 20 × 3/4) / 40 = 62.5%.
        assert_eq!(s.score, 62.5);
        assert_eq!(
            s.by_section,
            vec![("Safety".into(), 50.0), ("Manner".into(), 75.0)]
        );
        // Not applicable leaves the question out: (10 + 15) / 30.
        let s = c
            .score(&answers(&[
                ("identity", Yes),
                ("worsening", NotApplicable),
                ("empathy", Points(3)),
            ]))
            .unwrap();
        assert!((s.score - 83.333).abs() < 0.01, "{}", s.score);
        assert!(!s.by_question.contains_key("worsening"));
        // The identity not checked: the whole call scores 0, and says why.
        let s = c
            .score(&answers(&[
                ("identity", No),
                ("worsening", Yes),
                ("empathy", Points(4)),
            ]))
            .unwrap();
        assert_eq!(s.score, 0.0);
        assert_eq!(s.failed, vec!["identity".to_string()]);
        assert_eq!(s.by_section[1].1, 100.0);
    }

    #[test]
    fn wrong_answers_and_scorecards_are_named() {
        use Answer::*;
        let c = card();
        let err = |a: &[(&str, Answer)]| c.score(&answers(a)).unwrap_err();
        assert_eq!(
            err(&[("identity", Yes), ("worsening", Yes)]),
            "answers.empathy: not answered"
        );
        assert_eq!(
            err(&[
                ("identity", NotApplicable),
                ("worsening", Yes),
                ("empathy", Points(1))
            ]),
            "answers.identity: may not be not applicable"
        );
        assert_eq!(
            err(&[
                ("identity", Yes),
                ("worsening", Yes),
                ("empathy", Points(5))
            ]),
            "answers.empathy: points from 0 to 4"
        );
        assert_eq!(
            err(&[
                ("identity", Points(1)),
                ("worsening", Yes),
                ("empathy", Points(1))
            ]),
            "answers.identity: yes or no"
        );
        assert_eq!(
            err(&[
                ("identity", Yes),
                ("worsening", Yes),
                ("empathy", Yes),
                ("tone", Yes)
            ]),
            "answers.tone: no such question on this scorecard"
        );
        let mut bad = card();
        bad.sections[1].questions[0].id = "identity".into();
        assert_eq!(
            bad.problem().unwrap(),
            "sections[1].questions[0].id: 'identity' is used twice"
        );
        let mut bad = card();
        bad.sections[0].questions[1].weight = 0;
        assert_eq!(
            bad.problem().unwrap(),
            "sections[0].questions[1].weight: 1 to 100"
        );
        let mut bad = card();
        bad.sections.clear();
        assert_eq!(bad.problem().unwrap(), "sections: 1 to 20");
    }

    #[test]
    fn calibration_names_the_questions_two_evaluators_differ_on() {
        use Answer::*;
        let c = card();
        let a = c
            .score(&answers(&[
                ("identity", Yes),
                ("worsening", Yes),
                ("empathy", Points(4)),
            ]))
            .unwrap();
        let b = c
            .score(&answers(&[
                ("identity", Yes),
                ("worsening", NotApplicable),
                ("empathy", Points(2)),
            ]))
            .unwrap();
        let cal = calibrate(&a, &b);
        assert_eq!(cal.compared, 2);
        assert_eq!(cal.agreed, 1);
        assert_eq!(cal.differ_on, vec!["empathy".to_string()]);
        assert!(
            (cal.score_gap - (100.0 - 66.667)).abs() < 0.01,
            "{}",
            cal.score_gap
        );
    }
}
