//! The scheme's rules as pure functions: no clock, no database. Dates come in as
//! arguments; money is counted in whole pounds.
//!
//! Kept in the server until `crates/shared` gains a `scheme` module (the app will want the
//! review-due rule offline); nothing here depends on the server.

use std::collections::{BTreeMap, HashMap, HashSet};

use redfolder_shared::{CarePlan, CohortCategory, Date, NhsNumber, PlanStatus, ReviewOutcome};
use serde::Serialize;

/// Section 7 prices, in pounds.
pub const PRICE_NEW_FULL_PLAN: i64 = 110;
pub const PRICE_REVIEW: i64 = 30;
pub const PRICE_OVER_75_REVIEW: i64 = 50;
/// Activity not claimed within this many months is not paid (section 7).
pub const CLAIM_WINDOW_MONTHS: u32 = 3;
/// Full case management: the first 3 % and up to 5 % of the list (section 1).
pub const FIRST_TIER_PERCENT: u64 = 3;
pub const COHORT_PERCENT: u64 = 5;
/// MDT meetings a practice must hold per year, notice in days, patient list notice in days.
pub const MDT_MEETINGS_PER_YEAR: usize = 10;
pub const MDT_NOTICE_DAYS: i64 = 28;
pub const MDT_PATIENT_NOTICE_DAYS: i64 = 7;

// ---------------------------------------------------------------- categories

/// The data return's categories (section 4.3). Social-care notified patients are counted
/// with practice discretion: the return has no column for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReturnCategory {
    RiskTool,
    CareHome,
    PracticeDiscretion,
    Over75,
}

impl ReturnCategory {
    pub const ALL: [ReturnCategory; 4] = [
        ReturnCategory::RiskTool,
        ReturnCategory::CareHome,
        ReturnCategory::PracticeDiscretion,
        ReturnCategory::Over75,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReturnCategory::RiskTool => "risk_tool",
            ReturnCategory::CareHome => "care_home",
            ReturnCategory::PracticeDiscretion => "practice_discretion",
            ReturnCategory::Over75 => "over_75",
        }
    }

    pub fn of(cohort: CohortCategory) -> ReturnCategory {
        match cohort {
            CohortCategory::RiskTool => ReturnCategory::RiskTool,
            CohortCategory::CareHome => ReturnCategory::CareHome,
            CohortCategory::ClinicalJudgement | CohortCategory::SocialCare => {
                ReturnCategory::PracticeDiscretion
            }
            CohortCategory::Over75 => ReturnCategory::Over75,
        }
    }

    /// Whether plans of this category count towards the 3 % and 5 % of full case management.
    pub fn is_full_case_management(self) -> bool {
        self != ReturnCategory::Over75
    }
}

/// Whether someone born on `dob` is over 75 (has had their 75th birthday) on `on`.
pub fn is_over_75(dob: Date, on: Date) -> bool {
    let birthday_75 = Date {
        year: dob.year + 75,
        month: dob.month,
        day: dob.day,
    };
    // 29 February births turn 75 on 1 March in common years: comparing tuples does that.
    on >= birthday_75
}

// ---------------------------------------------------------------- risk-tool CSV

/// One accepted row of a risk-tool upload.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RiskRow {
    /// 1-based line number in the file.
    pub line: usize,
    pub nhs_number: String,
    pub risk_score: f64,
    /// 1 (lowest) to 3 (highest); levels 2 and 3 are the top 5 % (section 3.4).
    pub risk_level: u8,
    pub as_of: String,
}

impl RiskRow {
    pub fn in_top_5_percent(&self) -> bool {
        self.risk_level >= 2
    }
}

/// A line of an upload that could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct RowProblem {
    pub line: usize,
    pub message: String,
}

/// Who came into the top 5 % of the risk list and who left it, from one upload to the
/// next (section 3.4: the list is re-run quarterly).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Movement {
    /// NHS numbers in the top 5 % now and not before, in order.
    pub entered: Vec<String>,
    /// NHS numbers in the top 5 % before and not now (absent from the new list, or lower).
    pub left: Vec<String>,
}

pub fn movement(previous: &[RiskRow], latest: &[RiskRow]) -> Movement {
    let top = |rows: &[RiskRow]| -> std::collections::BTreeSet<String> {
        rows.iter()
            .filter(|r| r.in_top_5_percent())
            .map(|r| r.nhs_number.clone())
            .collect()
    };
    let (before, now) = (top(previous), top(latest));
    Movement {
        entered: now.difference(&before).cloned().collect(),
        left: before.difference(&now).cloned().collect(),
    }
}

/// The line (from 1) of the record starting at byte `at` of `text`. A record's position
/// in the csv crate can point at the end of the previous line (the `\n` of a `\r\n`, or a
/// blank line it skipped), so line ends there are passed over first.
fn line_at(text: &str, at: u64) -> usize {
    let at = usize::try_from(at).unwrap_or(usize::MAX).min(text.len());
    let start = text[at..]
        .find(|c| c != '\r' && c != '\n')
        .map_or(text.len(), |skip| at + skip);
    text.as_bytes()[..start]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

/// Parses the risk tool's CSV: a header naming `nhs_number`, `risk_score`, `risk_level`
/// and `as_of` (any order, any case), then one patient a line. Either every row is good
/// and all are returned, or every problem is returned line by line and nothing is kept.
pub fn parse_risk_csv(text: &str, today: Date) -> Result<Vec<RiskRow>, Vec<RowProblem>> {
    let mut problems = Vec::new();
    // The csv crate reads quoting and line endings; lines of nothing but blanks are
    // skipped, as spreadsheets leave them at the end.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut lines = reader.records().filter_map(|record| match record {
        Ok(r) if r.iter().all(str::is_empty) => None,
        Ok(r) => {
            let line = r.position().map_or(0, |p| line_at(text, p.byte()));
            Some(Ok((line, r)))
        }
        Err(e) => {
            let line = e.position().map_or(0, |p| line_at(text, p.byte()));
            Some(Err(RowProblem {
                line,
                message: format!("this line could not be read as CSV: {e}"),
            }))
        }
    });
    let (header_line, header) = match lines.next() {
        None => {
            return Err(vec![RowProblem {
                line: 1,
                message: "the file is empty".into(),
            }]);
        }
        Some(Err(problem)) => return Err(vec![problem]),
        Some(Ok(first)) => first,
    };
    let names: Vec<String> = header
        .iter()
        .map(|h| {
            h.trim_start_matches('\u{feff}')
                .trim()
                .to_ascii_lowercase()
                .replace([' ', '-'], "_")
        })
        .collect();
    let column = |want: &str| names.iter().position(|n| n == want);
    let (Some(c_nhs), Some(c_score), Some(c_level), Some(c_as_of)) = (
        column("nhs_number"),
        column("risk_score"),
        column("risk_level"),
        column("as_of"),
    ) else {
        return Err(vec![RowProblem {
            line: header_line,
            message: "the header must name nhs_number, risk_score, risk_level and as_of".into(),
        }]);
    };
    let mut rows = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    for record in lines {
        let (line, record) = match record {
            Ok(r) => r,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let cells: Vec<&str> = record.iter().collect();
        if cells.len() != names.len() {
            problems.push(RowProblem {
                line,
                message: format!("expected {} fields, found {}", names.len(), cells.len()),
            });
            continue;
        }
        let mut errs = Vec::new();
        let nhs = NhsNumber::parse(cells[c_nhs]);
        if nhs.is_err() {
            errs.push("the NHS number is not valid".to_owned());
        }
        let score = cells[c_score].parse::<f64>().ok().filter(|s| s.is_finite());
        if score.is_none() {
            errs.push("the risk score is not a number".to_owned());
        }
        let level = cells[c_level]
            .parse::<u8>()
            .ok()
            .filter(|l| (1..=3).contains(l));
        if level.is_none() {
            errs.push("the risk level must be 1, 2 or 3".to_owned());
        }
        let as_of = Date::parse(cells[c_as_of]);
        match as_of {
            None => errs.push("the as-of date must be YYYY-MM-DD".to_owned()),
            Some(d) if d > today => errs.push("the as-of date is in the future".to_owned()),
            Some(_) => {}
        }
        if let Ok(nhs) = &nhs
            && let Some(first) = seen.insert(nhs.digits(), line)
        {
            errs.push(format!("the NHS number is also on line {first}"));
        }
        if errs.is_empty() {
            rows.push(RiskRow {
                line,
                nhs_number: nhs.map(|n| n.digits()).unwrap_or_default(),
                risk_score: score.unwrap_or_default(),
                risk_level: level.unwrap_or_default(),
                as_of: cells[c_as_of].to_owned(),
            });
        } else {
            problems.push(RowProblem {
                line,
                message: errs.join("; "),
            });
        }
    }
    if rows.is_empty() && problems.is_empty() {
        problems.push(RowProblem {
            line: header_line,
            message: "the file has a header but no rows".into(),
        });
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

// ---------------------------------------------------------------- plan facts

/// What the scheme needs to know about one plan, read from its enrolment and reviews.
#[derive(Debug, Clone, PartialEq)]
pub struct PlanFacts {
    pub patient_id: String,
    pub nhs_number: String,
    pub name: String,
    pub status: PlanStatus,
    /// The return category; `None` while the cohort is not recorded.
    pub category: Option<ReturnCategory>,
    /// Lives in a nursing or residential home.
    pub care_home: bool,
    pub over_75: bool,
    /// When the plan was first marked complete ("plan complete", the £110 event).
    pub first_complete: Option<Date>,
    /// Live reviews (not entered in error), oldest first, with whether each moved the
    /// patient to annual case review.
    pub reviews: Vec<(Date, ReviewOutcome)>,
    pub ended: Option<Date>,
    pub review_interval_months: Option<u32>,
    pub next_review_due: Option<Date>,
    pub case_manager: Option<String>,
    /// Whether the paper copy in the home is current, for the reviews-due list.
    pub paper_copy: redfolder_shared::PaperReading,
}

impl PlanFacts {
    /// Reads the facts from a plan. `today` decides the age.
    ///
    /// The plan keeps only the latest "marked complete" attribution (a review re-marks
    /// it), so the first completion is that attribution when there has been no review,
    /// and otherwise the work-started date (falling back to the first review): a plan
    /// reviewed in a later month was counted as new in its own month's return already.
    pub fn of(patient_id: &str, plan: &CarePlan, today: Date) -> PlanFacts {
        let e = &plan.enrolment;
        let mut reviews: Vec<(Date, ReviewOutcome)> = plan
            .reviews
            .iter()
            .filter(|r| r.entered_in_error.is_none())
            .filter_map(|r| Date::parse(&r.date).map(|d| (d, r.outcome)))
            .collect();
        reviews.sort_by_key(|(d, _)| *d);
        let completed = e.completed.as_ref().map(|a| Date::from_unix_ms(a.at_ms));
        let first_complete = if reviews.is_empty() {
            completed
        } else {
            e.start_date
                .as_deref()
                .and_then(Date::parse)
                .or(reviews.first().map(|(d, _)| *d))
        };
        let moved_to_annual = reviews
            .iter()
            .any(|(_, o)| *o == ReviewOutcome::MoveToAnnualReview);
        let over_75 =
            Date::parse(&plan.patient.date_of_birth).is_some_and(|d| is_over_75(d, today));
        let category = e.cohort.map(|c| {
            if moved_to_annual {
                ReturnCategory::Over75
            } else {
                ReturnCategory::of(c)
            }
        });
        PlanFacts {
            patient_id: patient_id.to_owned(),
            nhs_number: plan.patient.nhs_number.clone(),
            name: plan.patient.name.clone(),
            status: plan.enrolment.status,
            category,
            // Nursing and residential homes alike; matched by exclusion so that the
            // shared core may name its variants as it likes.
            care_home: matches!(
                plan.patient.residence,
                Some(r) if r != redfolder_shared::Residence::OwnHome
            ),
            over_75,
            first_complete,
            reviews,
            ended: e.ended.as_ref().and_then(|end| Date::parse(&end.date)),
            review_interval_months: e.review_interval_months,
            next_review_due: e.next_review_due.as_deref().and_then(Date::parse),
            case_manager: e.case_manager.as_ref().map(|c| c.name.clone()),
            paper_copy: plan.paper_copy_reading(),
        }
    }

    /// In the scheme now: marked complete at least once and not ended.
    pub fn is_active(&self) -> bool {
        matches!(self.status, PlanStatus::Complete | PlanStatus::UnderReview)
    }

    /// In place in the patient's home at the end of `day`.
    pub fn in_place_on(&self, day: Date) -> bool {
        self.first_complete.is_some_and(|d| d <= day) && self.ended.is_none_or(|d| d > day)
    }
}

// ---------------------------------------------------------------- reviews due

/// When a plan's next review falls due: the review interval (four months; twelve for an
/// over-75 case review) after the last review, or after the plan was completed if it has
/// not been reviewed; earlier if the case manager set an earlier date (Appendix 1,
/// step 17: "more often if deemed appropriate"). `None` for plans not in the scheme.
pub fn review_due(facts: &PlanFacts) -> Option<Date> {
    if !facts.is_active() {
        return None;
    }
    let basis = redfolder_shared::ReviewBasis {
        annual: facts.category == Some(ReturnCategory::Over75),
        interval_months: facts.review_interval_months,
        last_review: facts.reviews.last().map(|(d, _)| *d),
        completed: facts.first_complete,
        set: facts.next_review_due,
    };
    basis.next().map(|n| n.due)
}

/// Where a due date falls: the core's rule, as the tablet shows it.
pub use redfolder_shared::DueState;

/// [`DueState`] as the OpenAPI document describes it (the core carries no utoipa): the
/// same three names as it serialises to.
#[allow(non_camel_case_types, dead_code)]
#[derive(Debug, utoipa::ToSchema)]
#[schema(as = DueState)]
pub enum DueStateSchema {
    overdue,
    due_soon,
    not_yet_due,
}

pub fn due_state(due: Date, today: Date, window_days: i64) -> DueState {
    DueState::of(due, today, window_days)
}

/// Days from `a` to `b`: the core's, so the server and the tablet count alike.
pub use redfolder_shared::days_between;

// ---------------------------------------------------------------- review outcome

/// What a review should decide (Appendix 1, step 17). A patient no longer on the list is
/// coded moved/died instead and never reaches this.
///
/// - still in the top 5 % of the risk tool: continue (even if the score fell);
/// - otherwise, exceptional circumstances: continue as a practice-discretion patient;
/// - otherwise over 75: discharge to the annual case review;
/// - otherwise: end the plan ("no longer high risk"), inform the patient, send the
///   evaluation questionnaire.
pub fn review_outcome(still_in_top_5: bool, exceptional: bool, over_75: bool) -> ReviewOutcome {
    if still_in_top_5 {
        ReviewOutcome::Continue
    } else if exceptional {
        ReviewOutcome::PracticeDiscretion
    } else if over_75 {
        ReviewOutcome::MoveToAnnualReview
    } else {
        ReviewOutcome::EndCaseManagement
    }
}

// ---------------------------------------------------------------- cohort and candidates

/// The practice's full case management cohort against its list.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CohortPosition {
    pub list_size: u64,
    /// Plans in the scheme by category (over-75 case reviews included, but not counted
    /// towards the percentages).
    pub enrolled: BTreeMap<ReturnCategory, u64>,
    pub full_case_management: u64,
    /// Of the list, to two decimals.
    pub percent_of_list: f64,
    pub percent_by_category: BTreeMap<ReturnCategory, f64>,
    pub first_tier_places: u64,
    pub cohort_places: u64,
    pub phase: CohortPhase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CohortPhase {
    /// Below 3 %: select care home residents and risk-tool patients only.
    FirstThreePercent,
    /// 3 % to 5 %: risk-tool patients or clinical judgement.
    UpToFivePercent,
    /// At 5 %: discharge before taking anyone on.
    Full,
}

pub fn percent(count: u64, list_size: u64) -> f64 {
    if list_size == 0 {
        return 0.0;
    }
    (count as f64 * 10_000.0 / list_size as f64).round() / 100.0
}

/// Where the practice stands; `list_size` must be positive.
pub fn cohort_position(list_size: u64, plans: &[PlanFacts]) -> CohortPosition {
    let mut enrolled: BTreeMap<ReturnCategory, u64> =
        ReturnCategory::ALL.iter().map(|c| (*c, 0)).collect();
    for p in plans.iter().filter(|p| p.is_active()) {
        if let Some(c) = p.category {
            *enrolled.entry(c).or_default() += 1;
        }
    }
    let full: u64 = enrolled
        .iter()
        .filter(|(c, _)| c.is_full_case_management())
        .map(|(_, n)| n)
        .sum();
    let first_tier_places = list_size * FIRST_TIER_PERCENT / 100;
    let cohort_places = list_size * COHORT_PERCENT / 100;
    let phase = if full < first_tier_places {
        CohortPhase::FirstThreePercent
    } else if full < cohort_places {
        CohortPhase::UpToFivePercent
    } else {
        CohortPhase::Full
    };
    CohortPosition {
        list_size,
        percent_by_category: enrolled
            .iter()
            .map(|(c, n)| (*c, percent(*n, list_size)))
            .collect(),
        enrolled,
        full_case_management: full,
        percent_of_list: percent(full, list_size),
        first_tier_places,
        cohort_places,
        phase,
    }
}

/// Someone the practice should consider next.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct Candidate {
    pub nhs_number: String,
    /// The plan, when the patient already has a (draft or ended) one.
    pub patient_id: Option<String>,
    pub name: Option<String>,
    pub reason: CandidateReason,
    pub risk_level: Option<u8>,
    pub risk_score: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CandidateReason {
    /// All nursing and residential home patients belong in the first 3 %.
    CareHome,
    /// Risk-tool levels 2 and 3 (the top 5 %).
    RiskTool,
}

/// A high-risk patient the practice chose to exclude, with its reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Excluded {
    pub nhs_number: String,
    pub reason: String,
}

/// The worklist: care home residents not yet in the scheme first (they must all be in
/// the first 3 %), then risk-tool patients at levels 3 and 2 by score, leaving out anyone
/// already in the scheme and anyone excluded (listed separately with the reason).
/// Risk level 1 is not in the top 5 % and is never proposed; patients the GP judges
/// clinically appropriate are the GP's to add once the practice is past 3 %.
pub fn candidates(
    plans: &[PlanFacts],
    risk: &[RiskRow],
    exclusions: &[(String, String)],
) -> (Vec<Candidate>, Vec<Excluded>) {
    let enrolled: HashSet<&str> = plans
        .iter()
        .filter(|p| p.is_active())
        .map(|p| p.nhs_number.as_str())
        .collect();
    let excluded: HashMap<&str, &str> = exclusions
        .iter()
        .map(|(n, r)| (n.as_str(), r.as_str()))
        .collect();
    let by_nhs: HashMap<&str, &PlanFacts> =
        plans.iter().map(|p| (p.nhs_number.as_str(), p)).collect();
    let risk_of: HashMap<&str, &RiskRow> =
        risk.iter().map(|r| (r.nhs_number.as_str(), r)).collect();
    let mut out = Vec::new();
    let mut listed: HashSet<&str> = HashSet::new();
    let mut excluded_out = Vec::new();
    let mut care_home: Vec<&PlanFacts> = plans
        .iter()
        .filter(|p| p.care_home && p.status != PlanStatus::Ended)
        .filter(|p| !enrolled.contains(p.nhs_number.as_str()))
        .collect();
    care_home.sort_by(|a, b| a.nhs_number.cmp(&b.nhs_number));
    for p in care_home {
        if let Some(reason) = excluded.get(p.nhs_number.as_str()) {
            if listed.insert(p.nhs_number.as_str()) {
                excluded_out.push(Excluded {
                    nhs_number: p.nhs_number.clone(),
                    reason: (*reason).to_owned(),
                });
            }
            continue;
        }
        if listed.insert(p.nhs_number.as_str()) {
            let r = risk_of.get(p.nhs_number.as_str());
            out.push(Candidate {
                nhs_number: p.nhs_number.clone(),
                patient_id: Some(p.patient_id.clone()),
                name: Some(p.name.clone()),
                reason: CandidateReason::CareHome,
                risk_level: r.map(|r| r.risk_level),
                risk_score: r.map(|r| r.risk_score),
            });
        }
    }
    let mut ranked: Vec<&RiskRow> = risk.iter().filter(|r| r.in_top_5_percent()).collect();
    ranked.sort_by(|a, b| {
        b.risk_level
            .cmp(&a.risk_level)
            .then(b.risk_score.total_cmp(&a.risk_score))
            .then(a.nhs_number.cmp(&b.nhs_number))
    });
    for r in ranked {
        let nhs = r.nhs_number.as_str();
        if enrolled.contains(nhs) || !listed.insert(nhs) {
            continue;
        }
        if let Some(reason) = excluded.get(nhs) {
            excluded_out.push(Excluded {
                nhs_number: r.nhs_number.clone(),
                reason: (*reason).to_owned(),
            });
            continue;
        }
        let plan = by_nhs.get(nhs);
        out.push(Candidate {
            nhs_number: r.nhs_number.clone(),
            patient_id: plan.map(|p| p.patient_id.clone()),
            name: plan.map(|p| p.name.clone()),
            reason: CandidateReason::RiskTool,
            risk_level: Some(r.risk_level),
            risk_score: Some(r.risk_score),
        });
    }
    (out, excluded_out)
}

// ---------------------------------------------------------------- the monthly return

/// A calendar month; serialises as `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    pub year: i32,
    pub month: u32,
}

impl Month {
    /// Parses `YYYY-MM`.
    pub fn parse(s: &str) -> Option<Month> {
        let d = Date::parse(&format!("{s}-01"))?;
        Some(Month {
            year: d.year,
            month: d.month,
        })
    }

    pub fn of(d: Date) -> Month {
        Month {
            year: d.year,
            month: d.month,
        }
    }

    pub fn first_day(self) -> Date {
        Date {
            year: self.year,
            month: self.month,
            day: 1,
        }
    }

    pub fn last_day(self) -> Date {
        let next = self.first_day().add_months(1);
        next.plus_days(-1)
    }

    pub fn previous(self) -> Month {
        let d = self.first_day();
        let prev = d.plus_days(-1);
        Month::of(prev)
    }

    pub fn contains(self, d: Date) -> bool {
        Month::of(d) == self
    }
}

impl Serialize for Month {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// A payable (or no longer payable) piece of activity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Activity {
    NewFullPlan,
    Review,
    Over75Review,
}

impl Activity {
    pub fn price(self) -> i64 {
        match self {
            Activity::NewFullPlan => PRICE_NEW_FULL_PLAN,
            Activity::Review => PRICE_REVIEW,
            Activity::Over75Review => PRICE_OVER_75_REVIEW,
        }
    }
}

/// Whether activity on `done` claimed on `claimed_on` is still paid (section 7: "any
/// activity that is not claimed for within three months will not be paid").
pub fn within_claim_window(done: Date, claimed_on: Date) -> bool {
    claimed_on <= done.add_months(CLAIM_WINDOW_MONTHS)
}

/// Each plan's activity with whether the scheme pays for it (before the claim window):
/// - a new full plan is £110 and a review £30, at most two reviews in the plan's first
///   year (£170) and three in each later year (£90, "a continuing patient");
/// - an over-75 case review is £50, at most one a year; a new over-75 plan is itself the
///   case review.
///
/// Years are counted from the first completion.
pub fn plan_activity(p: &PlanFacts) -> Vec<(Date, Activity, bool)> {
    let Some(start) = p.first_complete else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let over_75_plan = p.category == Some(ReturnCategory::Over75)
        && !p
            .reviews
            .iter()
            .any(|(_, o)| *o == ReviewOutcome::MoveToAnnualReview);
    if over_75_plan {
        out.push((start, Activity::Over75Review, true));
    } else {
        out.push((start, Activity::NewFullPlan, true));
    }
    let mut paid_per_year: HashMap<(i32, Activity), u32> = HashMap::new();
    if over_75_plan {
        paid_per_year.insert((0, Activity::Over75Review), 1);
    }
    let mut annual = over_75_plan;
    for (date, outcome) in &p.reviews {
        let year = plan_year(start, *date);
        let kind = if annual {
            Activity::Over75Review
        } else {
            Activity::Review
        };
        let cap = match (kind, year) {
            (Activity::Over75Review, _) => 1,
            (_, 0) => 2,
            _ => 3,
        };
        let paid = paid_per_year.entry((year, kind)).or_default();
        let payable = *paid < cap;
        if payable {
            *paid += 1;
        }
        out.push((*date, kind, payable));
        if *outcome == ReviewOutcome::MoveToAnnualReview {
            annual = true;
        }
    }
    out
}

/// Whole years from `start` to `d`.
fn plan_year(start: Date, d: Date) -> i32 {
    let mut years = d.year - start.year;
    if (d.month, d.day) < (start.month, start.day) {
        years -= 1;
    }
    years.max(0)
}

/// The practice's monthly data return (section 4.3) with its claim (section 7).
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct MonthlyReturn {
    /// `YYYY-MM`
    #[schema(value_type = String)]
    pub month: Month,
    pub claimed_on: String,
    pub list_size: Option<u64>,
    pub new_plans: BTreeMap<ReturnCategory, u64>,
    /// Four-monthly reviews of full case management plans done in the month.
    pub reviews_done: u64,
    pub over_75_case_reviews: u64,
    /// Plans in place at the end of the month.
    pub plans_in_place: BTreeMap<ReturnCategory, u64>,
    pub full_case_management_in_place: u64,
    pub percent_of_list: Option<f64>,
    pub target_first_tier_percent: u64,
    pub target_cohort_percent: u64,
    pub claim: Vec<ClaimLine>,
    pub claim_total: i64,
    /// Activity done in the month that the scheme does not pay (over the yearly cap, or
    /// claimed more than three months after it was done).
    pub not_payable: Vec<ClaimLine>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClaimLine {
    pub activity: Activity,
    pub count: u64,
    pub unit_price: i64,
    pub value: i64,
    /// For lines not paid: why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'static str>,
}

pub fn monthly_return(
    month: Month,
    claimed_on: Date,
    list_size: Option<u64>,
    plans: &[PlanFacts],
) -> MonthlyReturn {
    let zero = || -> BTreeMap<ReturnCategory, u64> {
        ReturnCategory::ALL.iter().map(|c| (*c, 0)).collect()
    };
    let mut new_plans = zero();
    let mut in_place = zero();
    let mut paid: BTreeMap<Activity, u64> = BTreeMap::new();
    let mut over_cap: BTreeMap<Activity, u64> = BTreeMap::new();
    let mut late: BTreeMap<Activity, u64> = BTreeMap::new();
    let (mut reviews_done, mut over_75_reviews) = (0, 0);
    let end = month.last_day();
    for p in plans {
        let Some(category) = p.category else { continue };
        if p.in_place_on(end) {
            *in_place.entry(category).or_default() += 1;
        }
        for (i, (date, activity, payable)) in plan_activity(p).into_iter().enumerate() {
            if !month.contains(date) {
                continue;
            }
            if i == 0 {
                *new_plans.entry(category).or_default() += 1;
            } else if activity == Activity::Over75Review {
                over_75_reviews += 1;
            } else {
                reviews_done += 1;
            }
            let bucket = if !payable {
                &mut over_cap
            } else if !within_claim_window(date, claimed_on) {
                &mut late
            } else {
                &mut paid
            };
            *bucket.entry(activity).or_default() += 1;
        }
    }
    let line = |activity: Activity, count: u64, reason: Option<&'static str>| ClaimLine {
        activity,
        count,
        unit_price: activity.price(),
        value: activity.price() * count as i64,
        reason,
    };
    let order = [
        Activity::NewFullPlan,
        Activity::Review,
        Activity::Over75Review,
    ];
    let claim: Vec<ClaimLine> = order
        .iter()
        .map(|a| line(*a, paid.get(a).copied().unwrap_or(0), None))
        .collect();
    let mut not_payable = Vec::new();
    for a in order {
        if let Some(n) = over_cap.get(&a) {
            not_payable.push(line(a, *n, Some("over the yearly limit for this patient")));
        }
        if let Some(n) = late.get(&a) {
            not_payable.push(line(a, *n, Some("claimed more than three months after")));
        }
    }
    let full: u64 = in_place
        .iter()
        .filter(|(c, _)| c.is_full_case_management())
        .map(|(_, n)| n)
        .sum();
    MonthlyReturn {
        month,
        claimed_on: claimed_on.to_string(),
        list_size,
        claim_total: claim.iter().map(|l| l.value).sum(),
        new_plans,
        reviews_done,
        over_75_case_reviews: over_75_reviews,
        plans_in_place: in_place,
        full_case_management_in_place: full,
        percent_of_list: list_size.filter(|n| *n > 0).map(|n| percent(full, n)),
        target_first_tier_percent: FIRST_TIER_PERCENT,
        target_cohort_percent: COHORT_PERCENT,
        claim,
        not_payable,
    }
}

/// The return as CSV: one `measure,category,value` line per figure, in a fixed order.
pub fn monthly_return_csv(r: &MonthlyReturn) -> String {
    let mut out = csv::WriterBuilder::new()
        .terminator(csv::Terminator::Any(b'\n'))
        .from_writer(Vec::new());
    let mut push = |measure: &str, category: &str, value: String| {
        out.write_record([measure, category, value.as_str()])
            .expect("writing CSV to memory cannot fail");
    };
    push("measure", "category", "value".to_owned());
    push("month", "", r.month.to_string());
    push("claimed_on", "", r.claimed_on.clone());
    push(
        "list_size",
        "",
        r.list_size.map(|n| n.to_string()).unwrap_or_default(),
    );
    for (c, n) in &r.new_plans {
        push("new_plans", c.as_str(), n.to_string());
    }
    push("reviews_done", "", r.reviews_done.to_string());
    push(
        "over_75_case_reviews",
        "",
        r.over_75_case_reviews.to_string(),
    );
    for (c, n) in &r.plans_in_place {
        push("plans_in_place", c.as_str(), n.to_string());
    }
    push(
        "percent_of_list",
        "full_case_management",
        r.percent_of_list
            .map(|p| format!("{p:.2}"))
            .unwrap_or_default(),
    );
    push(
        "target_percent",
        "first_tier",
        r.target_first_tier_percent.to_string(),
    );
    push(
        "target_percent",
        "cohort",
        r.target_cohort_percent.to_string(),
    );
    for l in &r.claim {
        push(
            "claim",
            activity_name(l.activity),
            format!("{} x {} = {}", l.count, l.unit_price, l.value),
        );
    }
    for l in &r.not_payable {
        push(
            "not_payable",
            activity_name(l.activity),
            format!("{} ({})", l.count, l.reason.unwrap_or("")),
        );
    }
    push("claim_total", "", r.claim_total.to_string());
    let bytes = out
        .into_inner()
        .expect("flushing CSV to memory cannot fail");
    String::from_utf8(bytes).expect("the CSV writer was given only UTF-8")
}

pub fn activity_name(a: Activity) -> &'static str {
    match a {
        Activity::NewFullPlan => "new_full_plan",
        Activity::Review => "review",
        Activity::Over75Review => "over_75_case_review",
    }
}

// ---------------------------------------------------------------- MDT meetings

/// The core MDT members (Appendix 1, step 18).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CoreRole {
    Gp,
    CommunityNurse,
    SocialWork,
    VoluntarySector,
    /// Anyone else relevant (mental health, therapists, drug and alcohol team...).
    Other,
}

impl CoreRole {
    pub const REQUIRED: [CoreRole; 4] = [
        CoreRole::Gp,
        CoreRole::CommunityNurse,
        CoreRole::SocialWork,
        CoreRole::VoluntarySector,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CoreRole::Gp => "gp",
            CoreRole::CommunityNurse => "community_nurse",
            CoreRole::SocialWork => "social_work",
            CoreRole::VoluntarySector => "voluntary_sector",
            CoreRole::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<CoreRole> {
        [
            CoreRole::Gp,
            CoreRole::CommunityNurse,
            CoreRole::SocialWork,
            CoreRole::VoluntarySector,
            CoreRole::Other,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

/// Warnings about a meeting as scheduled and run.
pub fn mdt_warnings(
    meeting: Date,
    scheduled_on: Date,
    patients_listed_on: &[Date],
    signed_roles: &[CoreRole],
    held: bool,
) -> Vec<String> {
    let mut w = Vec::new();
    let notice = days_between(scheduled_on, meeting);
    if notice < MDT_NOTICE_DAYS {
        w.push(format!(
            "scheduled {notice} days ahead: the schedule must be shared at least 4 weeks in advance"
        ));
    }
    let late = patients_listed_on
        .iter()
        .filter(|d| days_between(**d, meeting) < MDT_PATIENT_NOTICE_DAYS)
        .count();
    if late > 0 {
        w.push(format!(
            "{late} patient(s) listed less than a week before the meeting"
        ));
    }
    if held {
        let missing: Vec<&str> = CoreRole::REQUIRED
            .iter()
            .filter(|r| !signed_roles.contains(r))
            .map(|r| r.as_str())
            .collect();
        if !missing.is_empty() {
            w.push(format!(
                "no signed attendance from core member(s): {}",
                missing.join(", ")
            ));
        }
    }
    w
}

#[cfg(test)]
mod tests;
