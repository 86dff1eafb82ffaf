//! The monthly data return and its claim.

use super::*;

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
    /// Patients who left full case management in the month (step 17).
    pub discharges: Discharges,
}

/// Patients who left full case management in a month, by how (seed 003 section 1.4:
/// "some patients must be discharged from the scheme so that new patients can be taken
/// on").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Discharges {
    /// No longer in the top 5 % and not kept at the practice's discretion.
    pub discharged: u64,
    /// Over 75: moved to the annual case review.
    pub to_annual_review: u64,
    pub moved_away: u64,
    pub died: u64,
    pub patient_declined: u64,
    pub total: u64,
}

impl Discharges {
    /// Counts the plans that ended, or moved to the annual review, in `month`.
    pub fn in_month(month: Month, plans: &[PlanFacts]) -> Discharges {
        use redfolder_shared::EndReason;
        let mut d = Discharges::default();
        // Only plans that were in place: a draft that ended was never in the scheme.
        for p in plans.iter().filter(|p| p.first_complete.is_some()) {
            if let (Some(day), Some(reason)) = (p.ended, p.ended_reason)
                && month.contains(day)
            {
                *match reason {
                    EndReason::NoLongerHighRisk => &mut d.discharged,
                    EndReason::MovedAway => &mut d.moved_away,
                    EndReason::Died => &mut d.died,
                    EndReason::PatientDeclined => &mut d.patient_declined,
                } += 1;
            }
            d.to_annual_review += p
                .reviews
                .iter()
                .filter(|(day, o)| *o == ReviewOutcome::MoveToAnnualReview && month.contains(*day))
                .count() as u64;
        }
        d.total = d.discharged + d.to_annual_review + d.moved_away + d.died + d.patient_declined;
        d
    }

    /// Adds another practice's counts.
    pub fn add(&mut self, o: &Discharges) {
        self.discharged += o.discharged;
        self.to_annual_review += o.to_annual_review;
        self.moved_away += o.moved_away;
        self.died += o.died;
        self.patient_declined += o.patient_declined;
        self.total += o.total;
    }

    fn lines(&self) -> [(&'static str, u64); 6] {
        [
            ("discharged", self.discharged),
            ("to_annual_review", self.to_annual_review),
            ("moved_away", self.moved_away),
            ("died", self.died),
            ("patient_declined", self.patient_declined),
            ("total", self.total),
        ]
    }
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
        discharges: Discharges::in_month(month, plans),
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
    for (how, n) in r.discharges.lines() {
        push("discharges", how, n.to_string());
    }
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
