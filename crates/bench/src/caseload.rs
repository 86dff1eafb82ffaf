//! The synthetic caseload: the same JSON shape, field names, sizes and mix as the
//! workload's `gen_caseload.py`, from a deterministic generator of our own (a user who
//! clones the repository has no copy of the Python script).
//!
//! Every person is invented. NHS numbers come from the 999 test range with a valid
//! Modulus 11 check digit. The numbers are not the Python script's (it uses Python's own
//! Mersenne Twister); what both systems in one run share is the file this writes.

use redfolder_shared::testkit::{
    self, CONDITIONS, DistinctNhsNumbers, EXACERBATIONS, FIRST, GOALS, LAST, MEDS, PARTIES, Rng,
    SENTENCES, nhs_number, person,
};
use serde::{Deserialize, Serialize};

/// The default seed of the workload (`gen_caseload.py --seed`).
pub(crate) const DEFAULT_SEED: u64 = 20_140_401;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Caseload {
    pub(crate) plans: Vec<Plan>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Plan {
    pub(crate) id: String,
    pub(crate) patient: Patient,
    pub(crate) cohort_category: String,
    pub(crate) case_manager: String,
    pub(crate) care_team: Vec<String>,
    pub(crate) consent: Consent,
    pub(crate) conditions: Vec<Condition>,
    pub(crate) medications: Vec<String>,
    pub(crate) social: Social,
    pub(crate) exacerbation_plans: Vec<ExacerbationPlan>,
    pub(crate) preferences: Preferences,
    pub(crate) goals: Vec<Goal>,
    pub(crate) baseline: Baseline,
    pub(crate) reviews: Vec<Review>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Patient {
    pub(crate) nhs_number: String,
    pub(crate) name: String,
    pub(crate) date_of_birth: String,
    pub(crate) address: String,
    pub(crate) residence: String,
    pub(crate) practice_code: String,
    pub(crate) named_gp: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Consent {
    pub(crate) share_with_mdt: bool,
    pub(crate) share_with_emergency_services: bool,
    pub(crate) recorded_on: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Condition {
    pub(crate) name: String,
    pub(crate) treatment: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Social {
    pub(crate) lives: String,
    pub(crate) carer: String,
    pub(crate) key_safe: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ExacerbationPlan {
    pub(crate) condition: String,
    pub(crate) plan: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Preferences {
    pub(crate) dnacpr: String,
    pub(crate) preferred_place_of_care: String,
    pub(crate) notes: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Goal {
    pub(crate) need: String,
    pub(crate) action: String,
    pub(crate) owner: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Baseline {
    pub(crate) pulse: u32,
    pub(crate) bp: String,
    pub(crate) resp_rate: u32,
    pub(crate) spo2: u32,
    pub(crate) peak_flow: u32,
    pub(crate) known_af: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Review {
    pub(crate) date: String,
    pub(crate) reviewer: String,
    pub(crate) kind: String,
    pub(crate) notes: String,
    pub(crate) updates: ReviewUpdates,
}

/// The top-level fields a review changes; in this workload always part of the baseline.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct ReviewUpdates {
    pub(crate) baseline: BaselineUpdate,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct BaselineUpdate {
    pub(crate) pulse: u32,
    pub(crate) bp: String,
    pub(crate) spo2: u32,
}

/// The reviews S2's second device appends: one per plan, about 500 characters of notes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HomeVisits {
    pub(crate) visits: Vec<HomeVisit>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct HomeVisit {
    pub(crate) plan_id: String,
    pub(crate) review: Review,
}

const HOMES: &[&str] = &[
    "own home",
    "own home",
    "own home",
    "residential home",
    "nursing home",
];
const CATEGORIES: &[&str] = &[
    "risk_tool",
    "care_home",
    "clinical_judgement",
    "over_75",
    "social_care",
];
const PLACES: &[&str] = &["home", "home", "hospice", "care home", "hospital"];
const LIVES: &[&str] = &["alone", "with spouse", "with daughter", "in care home"];
const RELATIONS: &[&str] = &["daughter", "son", "spouse", "neighbour"];
const DNACPR: &[&str] = &["not for CPR", "for CPR", "not discussed"];
/// A draw in `lo..hi`, as the workload's `randrange(lo, hi)`.
fn range(rng: &mut Rng, lo: u32, hi: u32) -> u32 {
    u32::try_from(rng.range(u64::from(lo), u64::from(hi))).expect("a u32 range draws a u32")
}

fn choice<'a>(rng: &mut Rng, items: &[&'a str]) -> &'a str {
    rng.pick::<&str>(items)
}

/// Between `lo` and `hi - 1` distinct items, like `random.sample(items, randrange(lo, hi))`.
fn sample_n<T: Clone>(rng: &mut Rng, items: &[T], lo: u32, hi: u32) -> Vec<T> {
    let k = range(rng, lo, hi) as usize;
    rng.sample(items, k)
}

fn date(rng: &mut Rng, year_lo: u32, year_hi: u32) -> String {
    testkit::date(rng, u64::from(year_lo), u64::from(year_hi))
}

fn bp(rng: &mut Rng) -> String {
    format!("{}/{}", range(rng, 110, 165), range(rng, 60, 95))
}

fn review(rng: &mut Rng, r: u32, min_notes: usize) -> Review {
    let date = format!(
        "{}-{:02}-{:02}",
        2024 + r / 3,
        (r % 3) * 4 + 1,
        range(rng, 1, 28)
    );
    let reviewer = person(rng);
    let mut sentences: Vec<&str> = (0..range(rng, 3, 7))
        .map(|_| choice(rng, SENTENCES))
        .collect();
    while sentences.join(" ").len() < min_notes {
        sentences.push(choice(rng, SENTENCES));
    }
    Review {
        date,
        reviewer,
        kind: "four_monthly".to_owned(),
        notes: sentences.join(" "),
        updates: ReviewUpdates {
            baseline: BaselineUpdate {
                pulse: range(rng, 58, 96),
                bp: bp(rng),
                spo2: range(rng, 88, 99),
            },
        },
    }
}

/// One plan, drawn exactly as `gen_caseload.py` draws it.
fn plan(rng: &mut Rng, i: usize) -> Plan {
    let conds = sample_n(rng, CONDITIONS, 3, 9);
    let mut ex_keys: Vec<(&str, &str)> = EXACERBATIONS
        .iter()
        .filter(|(k, _)| {
            conds
                .iter()
                .any(|(n, _)| n.to_lowercase().contains(&k.to_lowercase()))
        })
        .copied()
        .collect();
    if ex_keys.is_empty() {
        ex_keys.push(EXACERBATIONS[1]);
    }
    let (first, last) = (choice(rng, FIRST), choice(rng, LAST));
    let practice = format!("C87{:03}", range(rng, 0, 40));
    let reviews = (0..range(rng, 2, 7)).map(|r| review(rng, r, 0)).collect();
    let patient = Patient {
        nhs_number: nhs_number(rng),
        name: format!("{first} {last}"),
        date_of_birth: date(rng, 1925, 1955),
        address: testkit::address(rng),
        residence: choice(rng, HOMES).to_owned(),
        practice_code: practice,
        named_gp: format!("Dr {}", choice(rng, LAST)),
    };
    let cohort_category = choice(rng, CATEGORIES).to_owned();
    let case_manager = person(rng);
    let care_team = sample_n(rng, PARTIES, 2, 6)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let consent = Consent {
        share_with_mdt: true,
        share_with_emergency_services: rng.float() < 0.85,
        recorded_on: date(rng, 2023, 2024),
    };
    let medications = sample_n(rng, MEDS, 4, 14)
        .into_iter()
        .map(|(name, dose)| format!("{name} {dose}"))
        .collect();
    let social = Social {
        lives: choice(rng, LIVES).to_owned(),
        carer: format!(
            "{} {last} ({}), 07700 9{}",
            choice(rng, FIRST),
            choice(rng, RELATIONS),
            range(rng, 10_000, 99_999)
        ),
        key_safe: (rng.float() < 0.5).then(|| range(rng, 1000, 9999).to_string()),
    };
    let preferences = Preferences {
        dnacpr: choice(rng, DNACPR).to_owned(),
        preferred_place_of_care: choice(rng, PLACES).to_owned(),
        notes: if rng.float() < 0.4 {
            "ReSPECT form in red folder".to_owned()
        } else {
            String::new()
        },
    };
    let goals = sample_n(rng, GOALS, 1, 4)
        .into_iter()
        .map(|need| Goal {
            need: need.to_owned(),
            action: "Agreed with patient".to_owned(),
            owner: choice(rng, PARTIES).to_owned(),
        })
        .collect();
    let baseline = Baseline {
        pulse: range(rng, 58, 96),
        bp: bp(rng),
        resp_rate: range(rng, 12, 22),
        spo2: range(rng, 88, 99),
        peak_flow: range(rng, 150, 450),
        known_af: rng.float() < 0.3,
    };
    Plan {
        id: format!("plan-{i:06}"),
        patient,
        cohort_category,
        case_manager,
        care_team,
        consent,
        conditions: conds
            .iter()
            .map(|(n, t)| Condition {
                name: (*n).to_owned(),
                treatment: (*t).to_owned(),
            })
            .collect(),
        medications,
        social,
        exacerbation_plans: ex_keys
            .iter()
            .map(|(k, p)| ExacerbationPlan {
                condition: (*k).to_owned(),
                plan: (*p).to_owned(),
            })
            .collect(),
        preferences,
        goals,
        baseline,
        reviews,
    }
}

/// The plans of a caseload, one at a time, so that 100,000 of them need not be held at once.
#[derive(Debug)]
pub(crate) struct Plans {
    rng: Rng,
    numbers: DistinctNhsNumbers,
    next: usize,
    end: usize,
}

impl Iterator for Plans {
    type Item = Plan;

    fn next(&mut self) -> Option<Plan> {
        (self.next < self.end).then(|| {
            self.next += 1;
            let mut plan = plan(&mut self.rng, self.next - 1);
            plan.patient.nhs_number = self.numbers.claim(plan.patient.nhs_number);
            plan
        })
    }
}

/// The first `n` plans for `seed`.
pub(crate) fn plans(n: usize, seed: u64) -> Plans {
    Plans {
        rng: Rng::new(seed),
        numbers: DistinctNhsNumbers::new(seed),
        next: 0,
        end: n,
    }
}

pub(crate) fn generate(n: usize, seed: u64) -> Caseload {
    Caseload {
        plans: plans(n, seed).collect(),
    }
}

/// S2's home visits: one new review of about 500 characters for each of the first `count`
/// plans, drawn from a stream independent of the caseload's.
pub(crate) fn home_visits(caseload: &Caseload, count: usize, seed: u64) -> HomeVisits {
    let mut rng = Rng::new(seed ^ 0x5EED_0F5E_C04D);
    HomeVisits {
        visits: caseload
            .plans
            .iter()
            .take(count)
            .map(|p| HomeVisit {
                plan_id: p.id.clone(),
                review: review(&mut rng, p.reviews.len() as u32, 480),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_caseload_and_valid_nhs_numbers() {
        let a = serde_json::to_string(&generate(30, 7)).unwrap();
        let b = serde_json::to_string(&generate(30, 7)).unwrap();
        assert_eq!(a, b);
        for plan in generate(200, DEFAULT_SEED).plans {
            redfolder_shared::NhsNumber::parse(&plan.patient.nhs_number).unwrap();
            assert!((2..=6).contains(&plan.reviews.len()));
            assert!((3..=8).contains(&plan.conditions.len()));
        }
    }

    #[test]
    fn no_two_plans_share_an_nhs_number() {
        // Independent draws from the 999 range repeat a number within a few hundred plans
        // (this seed's 500 did, and the server refused the whole seeding batch).
        let caseload = generate(5_000, DEFAULT_SEED);
        let numbers: std::collections::HashSet<&str> = caseload
            .plans
            .iter()
            .map(|p| p.patient.nhs_number.as_str())
            .collect();
        assert_eq!(numbers.len(), 5_000);
    }

    #[test]
    fn plans_are_about_the_workloads_size() {
        let caseload = generate(500, DEFAULT_SEED);
        let bytes = serde_json::to_string(&caseload).unwrap().len() / 500;
        // gen_caseload.py averages about 3.7 KB of JSON per plan (with ", " separators).
        assert!((3_000..4_200).contains(&bytes), "{bytes} bytes per plan");
        let consenting = caseload
            .plans
            .iter()
            .filter(|p| p.consent.share_with_emergency_services)
            .count();
        assert!((380..470).contains(&consenting), "{consenting} of 500");
        let visits = home_visits(&caseload, 50, DEFAULT_SEED);
        assert!(
            visits
                .visits
                .iter()
                .all(|v| (480..620).contains(&v.review.notes.len()))
        );
    }
}
