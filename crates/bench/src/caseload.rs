//! The synthetic caseload: the same JSON shape, field names, sizes and mix as the
//! workload's `gen_caseload.py`, from a deterministic generator of our own (a user who
//! clones the repository has no copy of the Python script).
//!
//! Every person is invented. NHS numbers come from the 999 test range with a valid
//! Modulus 11 check digit. The numbers are not the Python script's (it uses Python's own
//! Mersenne Twister); what both systems in one run share is the file this writes.

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

const FIRST: &[&str] = &[
    "Ada", "Bernard", "Cyril", "Doreen", "Edith", "Frank", "Gladys", "Harold", "Irene", "Jack",
    "Kathleen", "Leonard", "Margaret", "Norman", "Olive", "Percy", "Queenie", "Ronald", "Sylvia",
    "Thomas", "Una", "Vera", "Walter",
];
const LAST: &[&str] = &[
    "Ainsworth",
    "Bramley",
    "Cawthorne",
    "Dyson",
    "Eastwood",
    "Firth",
    "Gledhill",
    "Haigh",
    "Ibbotson",
    "Jagger",
    "Kershaw",
    "Lockwood",
    "Marsden",
    "Naylor",
    "Oldroyd",
    "Pickles",
    "Quarmby",
    "Ramsden",
    "Sykes",
    "Thackray",
    "Utley",
    "Varley",
    "Whiteley",
    "Yates",
];
const STREETS: &[&str] = &[
    "Moorgate",
    "Wickersley Road",
    "Herringthorpe Valley Road",
    "Doncaster Road",
    "Broom Lane",
    "Fitzwilliam Road",
    "Brinsworth Lane",
];
const CONDITIONS: &[(&str, &str)] = &[
    (
        "COPD",
        "Salbutamol PRN, tiotropium daily; pulmonary rehab completed",
    ),
    ("Type 2 diabetes", "Metformin 1g BD; HbA1c 58 last quarter"),
    (
        "Heart failure (HFrEF)",
        "Bisoprolol, ramipril, furosemide 40mg OD",
    ),
    ("Atrial fibrillation", "Apixaban 5mg BD; rate controlled"),
    ("Chronic kidney disease stage 3b", "Monitor eGFR 4-monthly"),
    (
        "Osteoarthritis of knee",
        "Paracetamol regular; physiotherapy referral",
    ),
    (
        "Dementia (Alzheimer's)",
        "Donepezil 10mg; memory service follow-up",
    ),
    ("Hypertension", "Amlodipine 10mg OD"),
    (
        "Recurrent falls",
        "Falls clinic assessment; pendant alarm fitted",
    ),
    (
        "Depression",
        "Sertraline 50mg; social prescribing link worker",
    ),
    ("Asthma", "Clenil modulite 100 BD"),
    (
        "Parkinson's disease",
        "Co-careldopa; neurology review yearly",
    ),
];
const MEDS: &[&str] = &[
    "Metformin 1g BD",
    "Apixaban 5mg BD",
    "Furosemide 40mg OD",
    "Bisoprolol 2.5mg OD",
    "Ramipril 5mg OD",
    "Atorvastatin 40mg ON",
    "Paracetamol 1g QDS",
    "Salbutamol 100mcg PRN",
    "Tiotropium 18mcg OD",
    "Sertraline 50mg OD",
    "Donepezil 10mg ON",
    "Amlodipine 10mg OD",
    "Omeprazole 20mg OD",
    "Alendronic acid 70mg weekly",
    "Adcal-D3 BD",
    "Co-careldopa 25/100 TDS",
    "Lansoprazole 15mg OD",
];
const PARTIES: &[&str] = &[
    "District nursing team",
    "Community matron",
    "Social worker",
    "Voluntary sector co-ordinator",
    "Heart failure nurse",
    "Respiratory nurse",
    "Community physiotherapy",
    "Memory service",
    "Occupational therapy",
    "Mental health liaison",
];
const EXACERBATIONS: &[(&str, &str)] = &[
    (
        "COPD",
        "If increased breathlessness or sputum colour change: start rescue pack (amoxicillin \
         500mg TDS 5 days, prednisolone 30mg OD 5 days), inform practice same day. SpO2 below \
         88% on air: call 999.",
    ),
    (
        "falls",
        "After a fall check for head injury and new pain; if on anticoagulant and head strike, \
         attend A&E. Pendant alarm linked to Rothercare.",
    ),
    (
        "diabetes",
        "If blood glucose above 15 twice or below 4: follow sick day rules, contact practice \
         nurse; hypo box in kitchen drawer.",
    ),
    (
        "heart failure",
        "Weight gain over 2kg in 3 days: increase furosemide to 80mg for 3 days and call heart \
         failure nurse.",
    ),
    (
        "asthma",
        "Peak flow below 250: follow personal asthma action plan, prednisolone 40mg OD 5 days, \
         review within 48h.",
    ),
];
const GOALS: &[&str] = &[
    "Stop smoking",
    "More social contact: lunch club twice weekly",
    "Lose 5kg over six months",
    "Stay at home rather than hospital",
    "Walk to the post office independently",
    "Understand inhaler technique",
    "Reduce falls at night",
];
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
const SENTENCES: &[&str] = &[
    "Seen at home with daughter present.",
    "Breathlessness stable, no admissions since last review.",
    "Medication reconciled with pharmacist.",
    "Discussed at MDT; district nurse to visit weekly.",
    "Patient wishes to remain at home; carer coping.",
    "One fall in the garden, no injury; OT referral made.",
    "BP slightly raised, recheck in two weeks.",
    "Still in top 5% on risk tool; continue case management.",
];

/// SplitMix64: small, fast and the same on every platform, so a seed always gives the
/// same caseload.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `lo..hi` (like Python's `randrange(lo, hi)`).
    pub(crate) fn range(&mut self, lo: u32, hi: u32) -> u32 {
        let span = u64::from(hi - lo);
        lo + ((u128::from(self.next_u64()) * u128::from(span)) >> 64) as u32
    }

    /// Uniform in `[0, 1)`.
    pub(crate) fn float(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub(crate) fn choice<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.range(0, items.len() as u32) as usize]
    }

    /// Between `lo` and `hi - 1` distinct items, like `random.sample(items, randrange(lo, hi))`.
    fn sample_n<T: Copy>(&mut self, items: &[T], lo: u32, hi: u32) -> Vec<T> {
        let k = self.range(lo, hi);
        let mut pool: Vec<T> = items.to_vec();
        let mut out = Vec::with_capacity(k as usize);
        for _ in 0..k {
            let i = self.range(0, pool.len() as u32) as usize;
            out.push(pool.swap_remove(i));
        }
        out
    }
}

fn nhs_number(rng: &mut Rng) -> String {
    loop {
        let mut digits = vec![9, 9, 9];
        digits.extend((0..6).map(|_| rng.range(0, 10)));
        let total: u32 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        let check = match 11 - total % 11 {
            11 => 0,
            10 => continue,
            c => c,
        };
        digits.push(check);
        return digits.iter().map(u32::to_string).collect();
    }
}

fn date(rng: &mut Rng, year_lo: u32, year_hi: u32) -> String {
    format!(
        "{}-{:02}-{:02}",
        rng.range(year_lo, year_hi + 1),
        rng.range(1, 13),
        rng.range(1, 29)
    )
}

fn bp(rng: &mut Rng) -> String {
    format!("{}/{}", rng.range(110, 165), rng.range(60, 95))
}

fn person(rng: &mut Rng) -> String {
    format!("{} {}", rng.choice(FIRST), rng.choice(LAST))
}

fn review(rng: &mut Rng, r: u32, min_notes: usize) -> Review {
    let date = format!(
        "{}-{:02}-{:02}",
        2024 + r / 3,
        (r % 3) * 4 + 1,
        rng.range(1, 28)
    );
    let reviewer = person(rng);
    let mut sentences: Vec<&str> = (0..rng.range(3, 7))
        .map(|_| rng.choice(SENTENCES))
        .collect();
    while sentences.join(" ").len() < min_notes {
        sentences.push(rng.choice(SENTENCES));
    }
    Review {
        date,
        reviewer,
        kind: "four_monthly".to_owned(),
        notes: sentences.join(" "),
        updates: ReviewUpdates {
            baseline: BaselineUpdate {
                pulse: rng.range(58, 96),
                bp: bp(rng),
                spo2: rng.range(88, 99),
            },
        },
    }
}

/// One plan, drawn exactly as `gen_caseload.py` draws it.
fn plan(rng: &mut Rng, i: usize) -> Plan {
    let conds = rng.sample_n(CONDITIONS, 3, 9);
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
    let (first, last) = (rng.choice(FIRST), rng.choice(LAST));
    let practice = format!("C87{:03}", rng.range(0, 40));
    let reviews = (0..rng.range(2, 7)).map(|r| review(rng, r, 0)).collect();
    let patient = Patient {
        nhs_number: nhs_number(rng),
        name: format!("{first} {last}"),
        date_of_birth: date(rng, 1925, 1955),
        address: format!(
            "{} {}, Rotherham S6{} {}AB",
            rng.range(1, 200),
            rng.choice(STREETS),
            rng.range(0, 6),
            rng.range(1, 9)
        ),
        residence: rng.choice(HOMES).to_owned(),
        practice_code: practice,
        named_gp: format!("Dr {}", rng.choice(LAST)),
    };
    let cohort_category = rng.choice(CATEGORIES).to_owned();
    let case_manager = person(rng);
    let care_team = rng
        .sample_n(PARTIES, 2, 6)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let consent = Consent {
        share_with_mdt: true,
        share_with_emergency_services: rng.float() < 0.85,
        recorded_on: date(rng, 2023, 2024),
    };
    let medications = rng
        .sample_n(MEDS, 4, 14)
        .into_iter()
        .map(str::to_owned)
        .collect();
    let social = Social {
        lives: rng.choice(LIVES).to_owned(),
        carer: format!(
            "{} {last} ({}), 07700 9{}",
            rng.choice(FIRST),
            rng.choice(RELATIONS),
            rng.range(10_000, 99_999)
        ),
        key_safe: (rng.float() < 0.5).then(|| rng.range(1000, 9999).to_string()),
    };
    let preferences = Preferences {
        dnacpr: rng.choice(DNACPR).to_owned(),
        preferred_place_of_care: rng.choice(PLACES).to_owned(),
        notes: if rng.float() < 0.4 {
            "ReSPECT form in red folder".to_owned()
        } else {
            String::new()
        },
    };
    let goals = rng
        .sample_n(GOALS, 1, 4)
        .into_iter()
        .map(|need| Goal {
            need: need.to_owned(),
            action: "Agreed with patient".to_owned(),
            owner: rng.choice(PARTIES).to_owned(),
        })
        .collect();
    let baseline = Baseline {
        pulse: rng.range(58, 96),
        bp: bp(rng),
        resp_rate: rng.range(12, 22),
        spo2: rng.range(88, 99),
        peak_flow: rng.range(150, 450),
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
    next: usize,
    end: usize,
}

impl Iterator for Plans {
    type Item = Plan;

    fn next(&mut self) -> Option<Plan> {
        (self.next < self.end).then(|| {
            self.next += 1;
            plan(&mut self.rng, self.next - 1)
        })
    }
}

/// The first `n` plans for `seed`.
pub(crate) fn plans(n: usize, seed: u64) -> Plans {
    Plans {
        rng: Rng::new(seed),
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
