//! Referral peer review (seeds 000, CASES Sheffield, and 001, CASPeR Tees): a practice's
//! routine referral in a reviewed specialty goes to a mentored GP reviewer before it
//! reaches hospital, and within 3 working days is forwarded (with the reviewer's note),
//! returned with structured advice, or held while the reviewer asks the referrer a
//! question. Returned advice is acknowledged by the referrer.
//!
//! Pure rules, no I/O and no clock: the server supplies today, the bank holidays and the
//! configured specialties. What the reviewers learn is summarised by [`learning_report`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::Date;
use crate::review::days_between;

/// The specialties reviewed when a deployment configures none: the ten of CASES
/// (Sheffield) and the extra one CASPeR (Tees) names, Elderly Medicine.
pub const DEFAULT_SPECIALTIES: [&str; 11] = [
    "Cardiology",
    "Dermatology",
    "Ear Nose and Throat",
    "Gastroenterology",
    "General Surgery",
    "Gynaecology",
    "Haematology",
    "Neurology",
    "Respiratory",
    "Urology",
    "Elderly Medicine",
];

/// Working days a reviewer has to decide (both seeds: "no more than 3 days").
pub const REVIEW_WORKING_DAYS: u32 = 3;

/// Longest free text a referral or decision field takes, in characters.
pub const MAX_TEXT: usize = 4000;
/// Longest condition label (what the learning report groups by).
pub const MAX_CONDITION: usize = 120;

/// Why a referral or a step in its review is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReferralError {
    #[error(
        "{0} referrals bypass peer review: send them straight to the hospital through the usual urgent route"
    )]
    BypassesReview(Urgency),
    #[error("urgency must be routine, urgent or two_week_wait")]
    UnknownUrgency,
    #[error("{0} is not a reviewed specialty")]
    UnknownSpecialty(String),
    #[error("{field} is required")]
    Missing { field: &'static str },
    #[error("{field} is longer than {max} characters")]
    TooLong { field: &'static str, max: usize },
    #[error("returned advice needs tests to do or a treatment to try, and when to re-refer")]
    IncompleteAdvice,
}

/// How soon the referrer wants the patient seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Urgency {
    Routine,
    Urgent,
    /// Suspected cancer: the two-week-wait pathway.
    TwoWeekWait,
}

impl Urgency {
    pub fn parse(s: &str) -> Result<Urgency, ReferralError> {
        match s
            .trim()
            .to_ascii_lowercase()
            .replace(['-', ' '], "_")
            .as_str()
        {
            "routine" => Ok(Urgency::Routine),
            "urgent" => Ok(Urgency::Urgent),
            "two_week_wait" | "2ww" => Ok(Urgency::TwoWeekWait),
            _ => Err(ReferralError::UnknownUrgency),
        }
    }
}

impl std::fmt::Display for Urgency {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Urgency::Routine => "routine",
            Urgency::Urgent => "urgent",
            Urgency::TwoWeekWait => "two-week-wait",
        })
    }
}

/// The specialties a deployment reviews, in the order they are offered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Specialties(Vec<String>);

impl Default for Specialties {
    fn default() -> Specialties {
        Specialties(
            DEFAULT_SPECIALTIES
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
        )
    }
}

impl Specialties {
    /// A configured list; blank and repeated names (ignoring case) are dropped.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(names: I) -> Specialties {
        let mut list: Vec<String> = Vec::new();
        for name in names {
            let name = name.into().trim().to_owned();
            if !name.is_empty() && !list.iter().any(|n| n.eq_ignore_ascii_case(&name)) {
                list.push(name);
            }
        }
        Specialties(list)
    }

    pub fn names(&self) -> &[String] {
        &self.0
    }

    /// The configured spelling of `name`, matched without regard to case, so the report
    /// never splits one specialty in two.
    pub fn find(&self, name: &str) -> Result<&str, ReferralError> {
        let name = name.trim();
        self.0
            .iter()
            .find(|n| n.eq_ignore_ascii_case(name))
            .map(String::as_str)
            .ok_or_else(|| ReferralError::UnknownSpecialty(name.to_owned()))
    }
}

/// A referral as the referrer writes it, before any check.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ReferralDraft {
    pub specialty: String,
    pub urgency: String,
    /// What is wrong, briefly ("atrial fibrillation"): what the learning report groups by.
    pub condition: String,
    /// What the referrer wants the hospital to answer or do.
    pub clinical_question: String,
    /// History, examination, investigations and treatment so far.
    pub relevant_history: String,
}

/// A referral that passed every rule: routine, in a reviewed specialty, with its text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Referral {
    pub specialty: String,
    pub urgency: Urgency,
    pub condition: String,
    pub clinical_question: String,
    pub relevant_history: String,
}

fn text(field: &'static str, value: &str, max: usize) -> Result<String, ReferralError> {
    let value = value.trim();
    if value.is_empty() {
        return Err(ReferralError::Missing { field });
    }
    if value.chars().count() > max {
        return Err(ReferralError::TooLong { field, max });
    }
    Ok(value.to_owned())
}

fn optional_text(
    field: &'static str,
    value: Option<&str>,
    max: usize,
) -> Result<Option<String>, ReferralError> {
    match value.map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) => text(field, v, max).map(Some),
    }
}

impl ReferralDraft {
    /// Checks the draft. Urgency is judged first: an urgent referral is refused for what
    /// it is, whatever else is wrong with it, so the referrer is sent the right way.
    pub fn validate(&self, specialties: &Specialties) -> Result<Referral, ReferralError> {
        let urgency = Urgency::parse(&self.urgency)?;
        if urgency != Urgency::Routine {
            return Err(ReferralError::BypassesReview(urgency));
        }
        Ok(Referral {
            specialty: specialties.find(&self.specialty)?.to_owned(),
            urgency,
            condition: text("condition", &self.condition, MAX_CONDITION)?,
            clinical_question: text("clinical_question", &self.clinical_question, MAX_TEXT)?,
            relevant_history: text("relevant_history", &self.relevant_history, MAX_TEXT)?,
        })
    }
}

// ---------------------------------------------------------------- working days

/// Monday is 0, Sunday 6.
fn weekday(d: Date) -> i64 {
    // 1970-01-01 was a Thursday (3).
    (days_between(Date::from_unix_ms(0), d) + 3).rem_euclid(7)
}

fn next_day(d: Date) -> Date {
    let epoch = Date::from_unix_ms(0);
    Date::from_unix_ms((days_between(epoch, d) + 1) * 86_400_000)
}

/// Whether `d` is a working day: not a Saturday, Sunday or one of `bank_holidays`.
pub fn is_working_day(d: Date, bank_holidays: &[Date]) -> bool {
    weekday(d) < 5 && !bank_holidays.contains(&d)
}

/// The last day a decision is on time for a referral received (or answered) on
/// `received`: the end of the third working day after it. A referral received on a
/// Friday is due on Wednesday; one received on a Saturday also on Wednesday.
pub fn review_deadline(received: Date, bank_holidays: &[Date]) -> Date {
    let mut day = received;
    let mut counted = 0;
    while counted < REVIEW_WORKING_DAYS {
        day = next_day(day);
        if is_working_day(day, bank_holidays) {
            counted += 1;
        }
    }
    day
}

/// Working days from `from` to `to`: the working days after `from` up to and including
/// `to` (0 when decided the same day or `to` is earlier).
pub fn working_days_between(from: Date, to: Date, bank_holidays: &[Date]) -> u32 {
    let mut day = from;
    let mut n = 0;
    while day < to {
        day = next_day(day);
        if is_working_day(day, bank_holidays) {
            n += 1;
        }
    }
    n
}

/// Whether a referral waiting for review is late on `today`.
pub fn is_overdue(deadline: Date, today: Date) -> bool {
    today > deadline
}

// ---------------------------------------------------------------- states and decisions

/// Where a referral is in its review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ReferralState {
    /// In the specialty's queue, the deadline running.
    AwaitingReview,
    /// The reviewer asked the referrer a question; back in the queue once answered.
    QuestionAsked,
    /// Sent on to the hospital with the reviewer's note. Closed.
    Forwarded,
    /// Returned to the referrer with advice, not yet acknowledged.
    Returned,
    /// The referrer acknowledged the returned advice. Closed.
    AdviceAcknowledged,
}

impl ReferralState {
    pub const ALL: [ReferralState; 5] = [
        ReferralState::AwaitingReview,
        ReferralState::QuestionAsked,
        ReferralState::Forwarded,
        ReferralState::Returned,
        ReferralState::AdviceAcknowledged,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReferralState::AwaitingReview => "awaiting_review",
            ReferralState::QuestionAsked => "question_asked",
            ReferralState::Forwarded => "forwarded",
            ReferralState::Returned => "returned",
            ReferralState::AdviceAcknowledged => "advice_acknowledged",
        }
    }

    pub fn parse(s: &str) -> Option<ReferralState> {
        ReferralState::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Nothing more happens to a closed referral.
    pub fn is_closed(self) -> bool {
        matches!(
            self,
            ReferralState::Forwarded | ReferralState::AdviceAcknowledged
        )
    }
}

/// The reviewer's structured advice when a referral is returned.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Advice {
    /// Investigations to do in primary care first.
    #[serde(default)]
    pub tests: Option<String>,
    /// A treatment to try before referring again.
    #[serde(default)]
    pub treatment: Option<String>,
    /// When to re-refer ("if no better after 6 weeks of treatment").
    #[serde(default)]
    pub re_refer_when: String,
}

/// One step of a review, as the person taking it submits it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Step {
    /// Reviewer: send it to hospital, with a note for the hospital.
    Forward { note: String },
    /// Reviewer: return it to the referrer with advice.
    Return { advice: Advice },
    /// Reviewer: ask the referrer something before deciding.
    AskQuestion { question: String },
    /// Referrer: answer the reviewer's question.
    Answer { answer: String },
    /// Referrer: acknowledge returned advice.
    Acknowledge,
}

impl Step {
    pub fn kind(&self) -> &'static str {
        match self {
            Step::Forward { .. } => "forward",
            Step::Return { .. } => "return",
            Step::AskQuestion { .. } => "ask_question",
            Step::Answer { .. } => "answer",
            Step::Acknowledge => "acknowledge",
        }
    }

    /// Who takes this step.
    pub fn party(&self) -> Party {
        match self {
            Step::Forward { .. } | Step::Return { .. } | Step::AskQuestion { .. } => {
                Party::Reviewer
            }
            Step::Answer { .. } | Step::Acknowledge => Party::Referrer,
        }
    }

    /// The step with its text trimmed, or why it is not acceptable.
    pub fn validated(&self) -> Result<Step, ReferralError> {
        Ok(match self {
            Step::Forward { note } => Step::Forward {
                note: text("note", note, MAX_TEXT)?,
            },
            Step::Return { advice } => {
                let tests = optional_text("tests", advice.tests.as_deref(), MAX_TEXT)?;
                let treatment = optional_text("treatment", advice.treatment.as_deref(), MAX_TEXT)?;
                if tests.is_none() && treatment.is_none() || advice.re_refer_when.trim().is_empty()
                {
                    return Err(ReferralError::IncompleteAdvice);
                }
                Step::Return {
                    advice: Advice {
                        tests,
                        treatment,
                        re_refer_when: text("re_refer_when", &advice.re_refer_when, MAX_TEXT)?,
                    },
                }
            }
            Step::AskQuestion { question } => Step::AskQuestion {
                question: text("question", question, MAX_TEXT)?,
            },
            Step::Answer { answer } => Step::Answer {
                answer: text("answer", answer, MAX_TEXT)?,
            },
            Step::Acknowledge => Step::Acknowledge,
        })
    }

    /// Whether this step is the review's decision (what turnaround is measured to).
    pub fn is_decision(&self) -> bool {
        matches!(self, Step::Forward { .. } | Step::Return { .. })
    }
}

/// Who acts on a referral.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum Party {
    /// A GP reviewer assigned to the referral's specialty.
    Reviewer,
    /// A clinician at the referring practice.
    Referrer,
}

/// Why a step cannot be taken now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("this referral is closed ({})", .0.as_str())]
    Closed(ReferralState),
    #[error("only the {expected:?} may {step} a referral", expected = .party)]
    WrongParty { party: Party, step: &'static str },
    #[error("a referral that is {} cannot {step}", .state.as_str())]
    NotNow {
        state: ReferralState,
        step: &'static str,
    },
}

/// The state a referral moves to when `party` takes `step` in `state`, or why not.
pub fn transition(
    state: ReferralState,
    party: Party,
    step: &Step,
) -> Result<ReferralState, TransitionError> {
    use ReferralState::*;
    if state.is_closed() {
        return Err(TransitionError::Closed(state));
    }
    if step.party() != party {
        return Err(TransitionError::WrongParty {
            party: step.party(),
            step: step.kind(),
        });
    }
    match (state, step) {
        (AwaitingReview, Step::Forward { .. }) => Ok(Forwarded),
        (AwaitingReview, Step::Return { .. }) => Ok(Returned),
        (AwaitingReview, Step::AskQuestion { .. }) => Ok(QuestionAsked),
        (QuestionAsked, Step::Answer { .. }) => Ok(AwaitingReview),
        (Returned, Step::Acknowledge) => Ok(AdviceAcknowledged),
        _ => Err(TransitionError::NotNow {
            state,
            step: step.kind(),
        }),
    }
}

/// What happens next, in words for the patient's letter.
pub fn what_happens_next(state: ReferralState, specialty: &str) -> String {
    match state {
        ReferralState::AwaitingReview | ReferralState::QuestionAsked => format!(
            "Your GP has asked for you to be seen in {specialty}. Before the referral goes to the hospital, another local GP with extra training in {specialty} reads it, to make sure you are seen in the right place by the right person. This takes no more than 3 working days. Your practice will tell you the outcome."
        ),
        ReferralState::Forwarded => format!(
            "Your referral has been reviewed and sent to the hospital's {specialty} service. The hospital will contact you with information about your appointment."
        ),
        ReferralState::Returned | ReferralState::AdviceAcknowledged => format!(
            "Your referral has been reviewed by a GP with extra training in {specialty}, who suggested tests or a treatment your own practice can arrange first, closer to home. Your practice will talk this through with you. If things do not improve, you can be referred again."
        ),
    }
}

// ---------------------------------------------------------------- the learning report

/// What the report needs of one referral: no patient, only what happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportRow {
    /// The referring practice's code.
    pub practice: String,
    pub specialty: String,
    pub condition: String,
    pub state: ReferralState,
    pub received: Date,
    /// When forwarded or returned, if it has been.
    pub decided: Option<Date>,
    /// The deadline in force when it was decided, or now if undecided.
    pub deadline: Date,
    /// Set when returned.
    pub advice: Option<Advice>,
    /// Whether the reviewer asked a question on the way.
    pub question_asked: bool,
}

/// Counts for one group (a practice's specialty and condition, say).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Outcomes {
    pub referrals: u64,
    pub forwarded: u64,
    pub returned: u64,
    pub awaiting: u64,
    pub questions_asked: u64,
    /// Returned with tests to do, with a treatment to try (one referral may be both).
    pub advice_tests: u64,
    pub advice_treatment: u64,
    /// Decided within [`REVIEW_WORKING_DAYS`] of receipt (or of the answer to a question).
    pub decided_on_time: u64,
    pub decided_late: u64,
    /// Undecided and past the deadline today.
    pub overdue: u64,
    /// Mean working days from receipt to decision, over decided referrals.
    pub mean_turnaround_working_days: Option<f64>,
    #[serde(skip)]
    turnaround_total: u64,
}

impl Outcomes {
    fn add(&mut self, row: &ReportRow, today: Date, holidays: &[Date]) {
        self.referrals += 1;
        if row.question_asked {
            self.questions_asked += 1;
        }
        match row.state {
            ReferralState::Forwarded => self.forwarded += 1,
            ReferralState::Returned | ReferralState::AdviceAcknowledged => self.returned += 1,
            ReferralState::AwaitingReview | ReferralState::QuestionAsked => self.awaiting += 1,
        }
        if let Some(a) = &row.advice {
            self.advice_tests += u64::from(a.tests.is_some());
            self.advice_treatment += u64::from(a.treatment.is_some());
        }
        match row.decided {
            Some(decided) => {
                if decided <= row.deadline {
                    self.decided_on_time += 1;
                } else {
                    self.decided_late += 1;
                }
                self.turnaround_total +=
                    u64::from(working_days_between(row.received, decided, holidays));
                let decided_count = self.decided_on_time + self.decided_late;
                // Counts this small convert exactly.
                self.mean_turnaround_working_days =
                    Some(self.turnaround_total as f64 / decided_count as f64);
            }
            None => {
                if row.state == ReferralState::AwaitingReview && is_overdue(row.deadline, today) {
                    self.overdue += 1;
                }
            }
        }
    }
}

/// One line of the report: a practice (or `None` for all practices together), a
/// specialty and a condition (or `None` for the specialty as a whole).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReportLine {
    pub practice: Option<String>,
    pub specialty: String,
    pub condition: Option<String>,
    #[serde(flatten)]
    pub outcomes: Outcomes,
}

/// The learning report: by specialty and by specialty and condition, per practice and
/// across practices, plus the whole. Conditions are grouped as written, ignoring case and
/// surrounding space.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LearningReport {
    /// `YYYY-MM-DD`: the day overdue is judged on.
    pub today: String,
    pub review_working_days: u32,
    pub total: Outcomes,
    pub lines: Vec<ReportLine>,
}

pub fn learning_report(rows: &[ReportRow], today: Date, holidays: &[Date]) -> LearningReport {
    type Key = (Option<String>, String, Option<String>);
    let mut groups: BTreeMap<Key, Outcomes> = BTreeMap::new();
    let mut total = Outcomes::default();
    for row in rows {
        total.add(row, today, holidays);
        let condition = row.condition.trim().to_lowercase();
        for practice in [None, Some(row.practice.clone())] {
            for cond in [None, Some(condition.clone())] {
                groups
                    .entry((practice.clone(), row.specialty.clone(), cond))
                    .or_default()
                    .add(row, today, holidays);
            }
        }
    }
    LearningReport {
        today: today.to_string(),
        review_working_days: REVIEW_WORKING_DAYS,
        total,
        lines: groups
            .into_iter()
            .map(|((practice, specialty, condition), outcomes)| ReportLine {
                practice,
                specialty,
                condition,
                outcomes,
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests;
