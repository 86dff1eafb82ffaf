//! A deterministic synthetic caseload, for benchmarks and tests (feature `testkit`).
//!
//! It follows the shape, sizes and mix of `shared/bench/gen_caseload.py` (3–8 conditions,
//! 4–13 medications, 2–5 care-team members, 1–3 goals, escalation plans for matching
//! conditions, 2–6 reviews of 3–6 sentences each with a baseline update) but is generated
//! here, from a seed, with no files read at run time. Every person is invented; NHS numbers
//! come from the 999 test range with valid check digits.
//!
//! A plan is built as one change holding everything but the reviews, then one change per
//! review (the review with its notes as collaborative text, plus the baseline it updated),
//! as the workload describes.

use crate::{
    ActorId, AllergySeverity, ApplyError, CareFocus, CohortCategory, ConsentGivenBy,
    ConsentRecipient, DnacprStatus, Edit, Editor, NewPlan, PlanDoc, Relationship, Residence,
    ReviewOutcome, TeamContactKind, Tier, TreatmentCeiling,
};

/// 2026-11-29T14:00:00Z: "now" for every generated plan, after all its dates.
pub const NOW_MS: i64 = 1_795_960_800_000;
const DAY_MS: i64 = 86_400_000;

/// SplitMix64: small, fast and the same on every platform, so a seed replays exactly.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    /// Uniform in `[0, 1)`.
    pub fn float(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// `n` distinct items, in random order.
    pub fn sample<T: Clone>(&mut self, items: &[T], n: usize) -> Vec<T> {
        let mut idx: Vec<usize> = (0..items.len()).collect();
        for i in 0..n.min(idx.len()) {
            let j = i + self.below(idx.len() - i);
            idx.swap(i, j);
        }
        idx[..n.min(items.len())]
            .iter()
            .map(|&i| items[i].clone())
            .collect()
    }
}

/// A test NHS number from the 999 range with a valid Modulus 11 check digit.
pub fn nhs_number(rng: &mut Rng) -> String {
    loop {
        let mut digits = vec![9u32, 9, 9];
        digits.extend((0..6).map(|_| rng.range(0, 10) as u32));
        let sum: u32 = digits.iter().zip((2..=10).rev()).map(|(d, w)| d * w).sum();
        let check = match 11 - sum % 11 {
            11 => 0,
            10 => continue,
            r => r,
        };
        digits.push(check);
        return digits.iter().map(|d| char::from(b'0' + *d as u8)).collect();
    }
}

/// Hands out test NHS numbers, none twice. The 999 range holds about 909,000 valid
/// numbers, so independent draws collide within a few hundred plans (one in seven
/// caseloads of 500), and a deployment refuses a second live plan with a number: every
/// generated caseload passes its numbers through one of these.
#[derive(Debug)]
pub struct DistinctNhsNumbers {
    used: std::collections::HashSet<String>,
    rng: Rng,
}

impl DistinctNhsNumbers {
    /// Redraws come from their own stream, seeded from `seed`, so the rest of a caseload
    /// is the same whether or not a number had to be redrawn.
    pub fn new(seed: u64) -> DistinctNhsNumbers {
        DistinctNhsNumbers {
            used: std::collections::HashSet::new(),
            rng: Rng::new(seed ^ 0x0999_0999_0999),
        }
    }

    /// `number` if it was not handed out before, otherwise a fresh one that was not.
    pub fn claim(&mut self, number: String) -> String {
        if self.used.insert(number.clone()) {
            return number;
        }
        loop {
            let fresh = nhs_number(&mut self.rng);
            if self.used.insert(fresh.clone()) {
                return fresh;
            }
        }
    }
}

// The vocabulary every generated caseload draws from: this module's plans and the
// benchmark harness's workload JSON (`crates/bench`), so the two describe the same people.
pub const FIRST: &[&str] = &[
    "Ada", "Bernard", "Cyril", "Doreen", "Edith", "Frank", "Gladys", "Harold", "Irene", "Jack",
    "Kathleen", "Leonard", "Margaret", "Norman", "Olive", "Percy", "Queenie", "Ronald", "Sylvia",
    "Thomas", "Una", "Vera", "Walter",
];
pub const LAST: &[&str] = &[
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
pub const STREETS: &[&str] = &[
    "Moorgate",
    "Wickersley Road",
    "Herringthorpe Valley Road",
    "Doncaster Road",
    "Broom Lane",
    "Fitzwilliam Road",
    "Brinsworth Lane",
];
pub const CONDITIONS: &[(&str, &str)] = &[
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
pub const MEDS: &[(&str, &str)] = &[
    ("Metformin", "1g BD"),
    ("Apixaban", "5mg BD"),
    ("Furosemide", "40mg OD"),
    ("Bisoprolol", "2.5mg OD"),
    ("Ramipril", "5mg OD"),
    ("Atorvastatin", "40mg ON"),
    ("Paracetamol", "1g QDS"),
    ("Salbutamol", "100mcg PRN"),
    ("Tiotropium", "18mcg OD"),
    ("Sertraline", "50mg OD"),
    ("Donepezil", "10mg ON"),
    ("Amlodipine", "10mg OD"),
    ("Omeprazole", "20mg OD"),
    ("Alendronic acid", "70mg weekly"),
    ("Adcal-D3", "BD"),
    ("Co-careldopa", "25/100 TDS"),
    ("Lansoprazole", "15mg OD"),
];
pub const PARTIES: &[&str] = &[
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
pub const EXACERBATIONS: &[(&str, &str)] = &[
    (
        "COPD",
        "If increased breathlessness or sputum colour change: start rescue pack (amoxicillin 500mg TDS 5 days, prednisolone 30mg OD 5 days), inform practice same day. SpO2 below 88% on air: call 999.",
    ),
    (
        "falls",
        "After a fall check for head injury and new pain; if on anticoagulant and head strike, attend A&E. Pendant alarm linked to Rothercare.",
    ),
    (
        "diabetes",
        "If blood glucose above 15 twice or below 4: follow sick day rules, contact practice nurse; hypo box in kitchen drawer.",
    ),
    (
        "heart failure",
        "Weight gain over 2kg in 3 days: increase furosemide to 80mg for 3 days and call heart failure nurse.",
    ),
    (
        "asthma",
        "Peak flow below 250: follow personal asthma action plan, prednisolone 40mg OD 5 days, review within 48h.",
    ),
];
pub const GOALS: &[&str] = &[
    "Stop smoking",
    "More social contact: lunch club twice weekly",
    "Lose 5kg over six months",
    "Stay at home rather than hospital",
    "Walk to the post office independently",
    "Understand inhaler technique",
    "Reduce falls at night",
];
pub const SENTENCES: &[&str] = &[
    "Seen at home with daughter present.",
    "Breathlessness stable, no admissions since last review.",
    "Medication reconciled with pharmacist.",
    "Discussed at MDT; district nurse to visit weekly.",
    "Patient wishes to remain at home; carer coping.",
    "One fall in the garden, no injury; OT referral made.",
    "BP slightly raised, recheck in two weeks.",
    "Still in top 5% on risk tool; continue case management.",
];
const PLACES: &[&str] = &["Home", "Home", "Hospice", "Care home", "Hospital"];

/// One generated plan: what to create it with and the changes that fill it.
#[derive(Debug, Clone)]
pub struct GeneratedPlan {
    pub id: String,
    pub new: NewPlan,
    pub editor: Editor,
    pub created_ms: i64,
    /// Everything but the reviews: one change.
    pub setup: Vec<Edit>,
    /// One change per review, oldest first, each with the time it was made.
    pub reviews: Vec<(i64, Vec<Edit>)>,
}

/// A day between 1 January of year `lo` and 28 December of year `hi`, `YYYY-MM-DD`.
pub fn date(rng: &mut Rng, lo: u64, hi: u64) -> String {
    format!(
        "{}-{:02}-{:02}",
        rng.range(lo, hi + 1),
        rng.range(1, 13),
        rng.range(1, 29)
    )
}

/// An invented Rotherham street address.
pub fn address(rng: &mut Rng) -> String {
    format!(
        "{} {}, Rotherham S6{} {}AB",
        rng.range(1, 200),
        rng.pick(STREETS),
        rng.range(0, 6),
        rng.range(1, 9)
    )
}

/// An invented full name.
pub fn person(rng: &mut Rng) -> String {
    format!("{} {}", rng.pick(FIRST), rng.pick(LAST))
}

/// `reviews` reviews four months apart, ending before [`NOW_MS`].
pub fn reviews(rng: &mut Rng, count: usize, reviewer: &str) -> Vec<(i64, Vec<Edit>)> {
    let first = NOW_MS - (count as i64) * 122 * DAY_MS;
    (0..count)
        .map(|r| {
            let at = first + r as i64 * 122 * DAY_MS;
            let day = crate::Date::from_unix_ms(at).to_string();
            let sentences = rng.range(3, 7) as usize;
            let notes = (0..sentences)
                .map(|_| *rng.pick(SENTENCES))
                .collect::<Vec<_>>()
                .join(" ");
            let review = Edit::RecordReview {
                id: format!("review-{r}"),
                date: day.clone(),
                face_to_face: rng.chance(80),
                reviewer: reviewer.to_owned(),
                attendees: "patient, daughter".to_owned(),
                notes,
                changes: "Medication reviewed.".to_owned(),
                still_in_top_5_percent: Some(true),
                outcome: ReviewOutcome::Continue,
                next_review_due: None,
            };
            let systolic = rng.range(110, 165) as u32;
            let baseline = Edit::RecordBaseline {
                observed_on: day,
                pulse_bpm: Some(rng.range(58, 96) as u32),
                systolic_mmhg: Some(systolic),
                diastolic_mmhg: Some(rng.range(60, 95) as u32),
                respiratory_rate: Some(rng.range(12, 22) as u32),
                spo2_percent: Some(rng.range(88, 99) as u32),
                temperature_decidegrees: None,
                peak_flow_l_min: None,
                weight_decikg: None,
                known_af: None,
                usual_cognition: String::new(),
                usual_mobility: String::new(),
            };
            (at, vec![review, baseline])
        })
        .collect()
}

/// Plan `i` of the caseload generated from `seed`.
pub fn plan(rng: &mut Rng, i: usize) -> GeneratedPlan {
    let (first, last) = (*rng.pick(FIRST), *rng.pick(LAST));
    let case_manager = person(rng);
    let editor = Editor {
        user_id: format!("cm-{}", rng.below(20)),
        user_name: case_manager.clone(),
    };
    let created_ms = NOW_MS - 800 * DAY_MS;
    let new = NewPlan {
        nhs_number: nhs_number(rng),
        name: format!("{first} {last}"),
        date_of_birth: date(rng, 1925, 1955),
        address: address(rng),
    };
    let tier = *rng.pick(&[Tier::Moderate, Tier::Moderate, Tier::Severe]);
    let start = crate::Date::from_unix_ms(created_ms).to_string();
    let mut setup = vec![
        Edit::SetPatientDetails {
            preferred_name: String::new(),
            sex: None,
            phone: format!("01632 960{:03}", rng.range(0, 1000)),
            access_notes: if rng.chance(50) {
                format!("Key safe {}", rng.range(1000, 9999))
            } else {
                String::new()
            },
            residence: Some(*rng.pick(&[
                Residence::OwnHome,
                Residence::OwnHome,
                Residence::OwnHome,
                Residence::ResidentialHome,
                Residence::NursingHome,
            ])),
            gp_practice_ods: format!("C87{:03}", rng.range(0, 40)),
            gp_practice_name: "Ashbridge Medical Practice".to_owned(),
            named_gp: format!("Dr {}", rng.pick(LAST)),
            communication_needs: String::new(),
            interpreter_language: String::new(),
        },
        Edit::SetEnrolment {
            cohort: Some(*rng.pick(&[
                CohortCategory::RiskTool,
                CohortCategory::CareHome,
                CohortCategory::ClinicalJudgement,
                CohortCategory::Over75,
                CohortCategory::SocialCare,
            ])),
            tier: Some(tier),
            start_date: Some(start.clone()),
            review_interval_months: None,
        },
        Edit::SetCaseManager {
            name: case_manager.clone(),
            role: "community matron".to_owned(),
            phone: "01632 960001".to_owned(),
        },
    ];
    let parties = rng.range(2, 6) as usize;
    for (n, party) in rng.sample(PARTIES, parties).into_iter().enumerate() {
        setup.push(Edit::AddCareTeamMember {
            id: format!("team-{n}"),
            kind: TeamContactKind::Member,
            role: party.to_owned(),
            name: person(rng),
            organisation: "Rotherham Community Health".to_owned(),
            phone: format!("01632 960{:03}", rng.range(100, 1000)),
            hours: "Mon–Fri 08:00–18:00".to_owned(),
        });
    }
    setup.push(Edit::AddCareTeamMember {
        id: "gp-bypass".to_owned(),
        kind: TeamContactKind::GpBypass,
        role: "GP bypass".to_owned(),
        name: String::new(),
        organisation: "Ashbridge Medical Practice".to_owned(),
        phone: "01632 960002".to_owned(),
        hours: "08:00–18:30".to_owned(),
    });
    let mut recipients = vec![ConsentRecipient::Mdt];
    if rng.chance(85) {
        recipients.extend([
            ConsentRecipient::OutOfHours,
            ConsentRecipient::Ambulance,
            ConsentRecipient::EmergencyDepartment,
        ]);
    }
    setup.push(Edit::RecordConsent {
        recipients,
        given_by: ConsentGivenBy::Patient,
        capacity_note: String::new(),
        consent_date: start.clone(),
    });
    let conditions = rng.range(3, 9) as usize;
    let conds = rng.sample(CONDITIONS, conditions);
    for (n, (name, treatment)) in conds.iter().enumerate() {
        setup.push(Edit::AddCondition {
            id: format!("cond-{n}"),
            name: (*name).to_owned(),
            treatment: (*treatment).to_owned(),
        });
    }
    let meds = rng.range(4, 14) as usize;
    for (n, (name, dose)) in rng.sample(MEDS, meds).into_iter().enumerate() {
        setup.push(Edit::AddMedication {
            id: format!("med-{n}"),
            name: name.to_owned(),
            dose: dose.to_owned(),
            notes: String::new(),
        });
    }
    setup.push(Edit::AddPersonalContact {
        id: "carer".to_owned(),
        relationship: Relationship::MainCarer,
        name: format!(
            "{} {last} ({})",
            rng.pick(FIRST),
            rng.pick(&["daughter", "son", "spouse", "neighbour"])
        ),
        phone: format!("07700 900{:03}", rng.range(0, 1000)),
    });
    let mut matched: Vec<&(&str, &str)> = EXACERBATIONS
        .iter()
        .filter(|(k, _)| {
            conds
                .iter()
                .any(|(n, _)| n.to_lowercase().contains(&k.to_lowercase()))
        })
        .collect();
    if matched.is_empty() {
        matched.push(&EXACERBATIONS[1]);
    }
    for (n, (condition, text)) in matched.into_iter().enumerate() {
        setup.push(Edit::AddEscalationPlan {
            id: format!("esc-{n}"),
            condition: (*condition).to_owned(),
            plan: (*text).to_owned(),
            rescue_pack: if *condition == "COPD" {
                "in the kitchen drawer".to_owned()
            } else {
                String::new()
            },
        });
    }
    let status = *rng.pick(&[
        DnacprStatus::DoNotAttemptCpr,
        DnacprStatus::ForAttemptedCpr,
        DnacprStatus::NotRecorded,
    ]);
    let status = if tier == Tier::Severe && status == DnacprStatus::NotRecorded {
        DnacprStatus::ForAttemptedCpr
    } else {
        status
    };
    if status != DnacprStatus::NotRecorded {
        setup.push(Edit::SetResuscitation {
            status,
            respect_form: rng.chance(40),
            decision_date: Some(start.clone()),
            decided_by: format!("Dr {}", rng.pick(LAST)),
            original_location: "red folder".to_owned(),
        });
    }
    if tier == Tier::Severe {
        setup.push(Edit::SetCeilingOfTreatment {
            ceiling: *rng.pick(&[
                TreatmentCeiling::WardBasedCare,
                TreatmentCeiling::CommunityCare,
                TreatmentCeiling::FullEscalation,
            ]),
            notes: String::new(),
        });
        setup.push(Edit::SetFocusOfCare {
            focus: Some(CareFocus::Balanced),
            notes: String::new(),
            prognosis: "Months to years".to_owned(),
        });
    }
    setup.push(Edit::SetPreferredPlaceOfCare {
        place: (*rng.pick(PLACES)).to_owned(),
    });
    if rng.chance(40) {
        setup.push(Edit::AddAllergy {
            id: "allergy-0".to_owned(),
            substance: "Penicillin".to_owned(),
            reaction: "rash".to_owned(),
            severity: AllergySeverity::Moderate,
        });
    } else {
        setup.push(Edit::RecordNoKnownAllergies);
    }
    let goals = rng.range(1, 4) as usize;
    for (n, goal) in rng.sample(GOALS, goals).into_iter().enumerate() {
        setup.push(Edit::AddGoal {
            id: format!("goal-{n}"),
            what_matters: String::new(),
            goal: goal.to_owned(),
            owner: (*rng.pick(PARTIES)).to_owned(),
        });
    }
    setup.push(Edit::RecordBaseline {
        observed_on: start,
        pulse_bpm: Some(rng.range(58, 96) as u32),
        systolic_mmhg: Some(rng.range(110, 165) as u32),
        diastolic_mmhg: Some(rng.range(60, 95) as u32),
        respiratory_rate: Some(rng.range(12, 22) as u32),
        spo2_percent: Some(rng.range(88, 99) as u32),
        temperature_decidegrees: None,
        peak_flow_l_min: Some(rng.range(150, 450) as u32),
        weight_decikg: None,
        known_af: Some(rng.chance(30)),
        usual_cognition: "Alert, orientated".to_owned(),
        usual_mobility: "Walks with a frame indoors".to_owned(),
    });
    let count = rng.range(2, 7) as usize;
    GeneratedPlan {
        id: format!("plan-{i:06}"),
        new,
        editor,
        created_ms,
        setup,
        reviews: reviews(rng, count, &case_manager),
    }
}

/// `n` plans from `seed`; the same seed always gives the same caseload.
pub fn caseload(n: usize, seed: u64) -> Vec<GeneratedPlan> {
    let mut rng = Rng::new(seed);
    let mut numbers = DistinctNhsNumbers::new(seed);
    (0..n)
        .map(|i| {
            let mut generated = plan(&mut rng, i);
            generated.new.nhs_number = numbers.claim(generated.new.nhs_number);
            generated
        })
        .collect()
}

/// `n` valid edits one clinician might make over a few visits, with ids starting `prefix`:
/// list entries, typing, scalar fields and safety-critical decisions. Used to make two
/// replicas diverge.
pub fn visit_edits(rng: &mut Rng, prefix: &str, n: usize) -> Vec<Edit> {
    (0..n)
        .map(|k| {
            let id = format!("{prefix}-{k}");
            match rng.below(10) {
                0 => Edit::AddMedication {
                    id,
                    name: rng.pick(MEDS).0.to_owned(),
                    dose: rng.pick(MEDS).1.to_owned(),
                    notes: String::new(),
                },
                1 => Edit::AddCondition {
                    id,
                    name: rng.pick(CONDITIONS).0.to_owned(),
                    treatment: rng.pick(CONDITIONS).1.to_owned(),
                },
                2 => Edit::AddMdtDiscussion {
                    id,
                    date: "2026-11-01".to_owned(),
                    attendees: "GP, district nurse, social worker".to_owned(),
                    outcome: (*rng.pick(SENTENCES)).to_owned(),
                    referrals: String::new(),
                },
                3 | 4 => Edit::SpliceText {
                    target: crate::TextTarget::ExacerbationPlan,
                    index: 0,
                    delete: 0,
                    insert: format!("{} ", rng.pick(SENTENCES)),
                },
                5 => Edit::SetPreferredPlaceOfCare {
                    place: (*rng.pick(PLACES)).to_owned(),
                },
                6 => Edit::SetDnacpr {
                    status: *rng.pick(&[DnacprStatus::ForAttemptedCpr, DnacprStatus::NotRecorded]),
                },
                7 => Edit::SetCeilingOfTreatment {
                    ceiling: *rng.pick(&[
                        TreatmentCeiling::WardBasedCare,
                        TreatmentCeiling::FullEscalation,
                    ]),
                    notes: String::new(),
                },
                8 => Edit::AddAdvice {
                    id,
                    from_name: person(rng),
                    from_role: "heart failure nurse".to_owned(),
                    advice: (*rng.pick(SENTENCES)).to_owned(),
                },
                _ => Edit::AddGoal {
                    id,
                    what_matters: String::new(),
                    goal: (*rng.pick(GOALS)).to_owned(),
                    owner: (*rng.pick(PARTIES)).to_owned(),
                },
            }
        })
        .collect()
}

impl GeneratedPlan {
    /// Builds the document: the creation change, one change for the setup (which ends by
    /// completing the plan), one per review.
    pub fn build(&self, actor: ActorId) -> Result<PlanDoc, ApplyError> {
        let mut doc = PlanDoc::create(actor, &self.new, &self.editor, self.created_ms)?;
        let at = self.created_ms + 60_000;
        let mut setup = self.setup.clone();
        setup.extend(completion(&doc, &self.setup, &self.editor, at)?);
        doc.apply_all(&setup, &self.editor, at)?;
        for (at, review) in &self.reviews {
            doc.apply_all(review, &self.editor, *at)?;
        }
        Ok(doc)
    }
}

/// What completes a plan that already has consent and a case manager, once `edits` are
/// applied to `doc` by `editor` at `now_ms`: "no wider action needed", the meeting with the
/// GP and a mental health assessment (dated the day of `now_ms`), a paper copy of the plan
/// as they leave it, and [`Edit::MarkComplete`]. Append them to `edits` and apply the lot.
pub fn completion(
    doc: &PlanDoc,
    edits: &[Edit],
    editor: &Editor,
    now_ms: i64,
) -> Result<Vec<Edit>, ApplyError> {
    let today = crate::Date::from_unix_ms(now_ms).to_string();
    let mut records = vec![
        Edit::RecordNoWiderAction {
            reason: "Needs met by the practice team".to_owned(),
        },
        Edit::RecordGpMeeting {
            date: today.clone(),
            gp: "Dr Patel".to_owned(),
            attendees: "case manager and patient".to_owned(),
        },
        Edit::RecordMentalHealthAssessment {
            status: crate::MentalHealthStatus::Done,
            date: Some(today),
            tool: "PHQ-9".to_owned(),
            outcome: "No depression".to_owned(),
            reason: String::new(),
        },
    ];
    let all: Vec<Edit> = edits.iter().chain(&records).cloned().collect();
    let printed = doc
        .preview(&all, editor, now_ms)?
        .summary_fingerprint()
        .whole;
    records.push(Edit::RecordPaperCopy {
        fingerprint: printed,
    });
    records.push(Edit::MarkComplete);
    Ok(records)
}

/// A clinician signed in as `user_id`, named `user_name`.
pub fn editor(user_id: &str, user_name: &str) -> Editor {
    Editor {
        user_id: user_id.to_owned(),
        user_name: user_name.to_owned(),
    }
}

/// `SetPatientDetails` naming only the patient's GP practice (its ODS code and name).
pub fn practice_details(ods: &str, name: &str) -> Edit {
    Edit::SetPatientDetails {
        preferred_name: String::new(),
        sex: None,
        phone: String::new(),
        access_notes: String::new(),
        residence: None,
        gp_practice_ods: ods.to_owned(),
        gp_practice_name: name.to_owned(),
        named_gp: String::new(),
        communication_needs: String::new(),
        interpreter_language: String::new(),
    }
}

/// The example patient the unit tests create plans for (a test NHS number with a valid
/// check digit).
pub fn example_patient() -> NewPlan {
    NewPlan {
        address: "1 High Street".to_owned(),
        ..example_patient_without_address()
    }
}

/// [`example_patient`] with no address recorded.
pub fn example_patient_without_address() -> NewPlan {
    NewPlan {
        nhs_number: "9434765919".to_owned(),
        name: "Ada Example".to_owned(),
        date_of_birth: "1938-02-28".to_owned(),
        address: String::new(),
    }
}

/// The example patient's plan after two tablets edited it apart and were merged: the
/// first applied `one` as user `u1`, the second `two` as user `u2`, a second later.
pub fn diverged(one: &[Edit], two: &[Edit]) -> crate::CarePlan {
    let t = 1_790_000_000_000;
    let mut base = PlanDoc::create(
        ActorId::from(b"s".as_slice()),
        &example_patient(),
        &editor("u0", "u0"),
        t,
    )
    .expect("the example patient makes a plan");
    let saved = base.save();
    for (actor, edits, user, at) in [(b"a", one, "u1", t + 1000), (b"b", two, "u2", t + 2000)] {
        let mut replica =
            PlanDoc::load(&saved, ActorId::from(actor.as_slice())).expect("a saved plan loads");
        replica
            .apply_all(edits, &editor(user, user), at)
            .expect("the edits apply");
        base.automerge()
            .merge(replica.automerge())
            .expect("replicas of one plan merge");
    }
    base.plan().expect("the merged plan reads")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_number_is_handed_out_once() {
        let mut numbers = DistinctNhsNumbers::new(1);
        let first = numbers.claim("9990000018".to_owned());
        let again = numbers.claim("9990000018".to_owned());
        assert_eq!(first, "9990000018");
        assert_ne!(again, first);
        crate::NhsNumber::parse(&again).unwrap();
    }

    #[test]
    fn a_seed_always_gives_the_same_valid_caseload() {
        let a = caseload(20, 7);
        let b = caseload(20, 7);
        for (x, y) in a.iter().zip(&b) {
            assert_eq!(x.new.nhs_number, y.new.nhs_number);
            assert_eq!(x.setup, y.setup);
            crate::NhsNumber::parse(&x.new.nhs_number).unwrap();
        }
        for p in &a {
            let mut doc = p.build(ActorId::from(b"testkit".as_slice())).unwrap();
            let plan = doc.plan().unwrap();
            assert_eq!(
                plan.enrolment.status,
                crate::PlanStatus::Complete,
                "{}",
                p.id
            );
            assert_eq!(plan.reviews.len(), p.reviews.len());
            assert!(plan.conflicts.is_empty());
            assert_eq!(doc.history().len(), 3 + p.reviews.len());
        }
    }
}
