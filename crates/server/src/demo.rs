//! Demo data for `--demo`: invented organisations, users and patients.
//!
//! Everything is made up. NHS numbers come from the 999 range, which the NHS sets aside
//! for testing; phone numbers come from Ofcom's ranges reserved for drama (07700 900xxx,
//! 01632 960xxx). Seeding is idempotent: organisations, users and patients that exist
//! already (by code, username and NHS number) are left alone.

use anyhow::Context;
use redfolder_shared::{DnacprStatus, Edit, Editor, NewPlan, NhsNumber, PlanDoc};

use crate::auth::hash_password;
use crate::domain::{Committer, OrganisationKind, Role, now_ms, project, server_actor};
use crate::store::{NewOrganisation, NewPatient, NewUser, Store};

mod referrals;

pub use referrals::record_decisions;
use referrals::seed_referrals;

/// The password of every demo user.
pub const DEMO_PASSWORD: &str = "demo";
/// Patients at the demo practice, the caseload of `cm1.demo` and `cm2.demo`.
pub const DEMO_CASELOAD: usize = 50;
/// Patients at a second practice, so a caseload visibly excludes other organisations.
pub const OTHER_PRACTICE_PATIENTS: usize = 4;

/// What seeding produced, for the startup banner.
#[derive(Debug, Clone)]
pub struct DemoSummary {
    pub logins: Vec<DemoLogin>,
    pub patients_created: usize,
    pub patients_total: usize,
    /// Referrals decided by the demo reviewer this run, whose decision still has to be
    /// written into the patient's plan once the server is built ([`record_decisions`]).
    pub referral_decisions: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct DemoLogin {
    pub username: &'static str,
    pub role: Role,
    pub organisation: &'static str,
}

const PRACTICE: NewOrganisation<'static> = NewOrganisation {
    code: "Y99901",
    name: "Ashbridge Medical Practice (demo)",
    kind: OrganisationKind::GpPractice,
};
const OTHER_PRACTICE: NewOrganisation<'static> = NewOrganisation {
    code: "Y99903",
    name: "Canal Side Surgery (demo)",
    kind: OrganisationKind::GpPractice,
};
const AMBULANCE: NewOrganisation<'static> = NewOrganisation {
    code: "Y99902",
    name: "Northway Ambulance Service (demo)",
    kind: OrganisationKind::AmbulanceService,
};
/// The district nursing team: in the care team of most of the demo practice's patients.
pub const COMMUNITY: NewOrganisation<'static> = NewOrganisation {
    code: "Y99904",
    name: "Ashbridge Community Nursing (demo)",
    kind: OrganisationKind::CommunityHealthService,
};
const COMMISSIONER: NewOrganisation<'static> = NewOrganisation {
    code: "Y99905",
    name: "Ashbridge Integrated Care Board (demo)",
    kind: OrganisationKind::Commissioner,
};

/// Whether demo patient `i` of the demo practice has the community nurses in their care
/// team (four in five do).
pub fn in_demo_care_team(i: usize) -> bool {
    i % 5 != 4
}

/// Creates whatever demo data is missing.
pub async fn seed(store: &Store) -> anyhow::Result<DemoSummary> {
    let practice = store.ensure_organisation(&PRACTICE).await?;
    let other_practice = store.ensure_organisation(&OTHER_PRACTICE).await?;
    let ambulance = store.ensure_organisation(&AMBULANCE).await?;
    let community = store.ensure_organisation(&COMMUNITY).await?;
    let commissioner = store.ensure_organisation(&COMMISSIONER).await?;

    let users = [
        (
            "cm1.demo",
            "Sam Carter (demo)",
            Role::CaseManager,
            &practice,
            PRACTICE.name,
        ),
        (
            "cm2.demo",
            "Priya Nair (demo)",
            Role::CaseManager,
            &practice,
            PRACTICE.name,
        ),
        (
            "ambulance.demo",
            "Alex Morgan (demo)",
            Role::EmergencyClinician,
            &ambulance,
            AMBULANCE.name,
        ),
        (
            "mdt.demo",
            "Jo Whitaker (demo)",
            Role::MdtMember,
            &community,
            COMMUNITY.name,
        ),
        (
            "commissioner.demo",
            "Chris Dale (demo)",
            Role::Commissioner,
            &commissioner,
            COMMISSIONER.name,
        ),
        // A GP at the other practice who peer-reviews routine referrals (seeds 000, 001):
        // reaches referrals in the specialties assigned below, never a plan.
        (
            "reviewer.demo",
            "Dr Maya Osei (demo)",
            Role::GpReviewer,
            &other_practice,
            OTHER_PRACTICE.name,
        ),
        // An administrator at the practice who holds no clinical role: manages accounts,
        // reads no plans.
        (
            "admin.demo",
            "Robin Hale (demo)",
            Role::Admin,
            &practice,
            PRACTICE.name,
        ),
    ];
    let now = now_ms();
    let mut logins = Vec::new();
    let mut editors = Vec::new();
    for (username, name, role, organisation_id, organisation) in users {
        // Hash only for users that are missing: Argon2 is slow by design.
        let password_hash = if store.user_exists(username).await? {
            String::new()
        } else {
            tokio::task::spawn_blocking(|| hash_password(DEMO_PASSWORD)).await??
        };
        let id = store
            .ensure_user(
                &NewUser {
                    username,
                    name,
                    roles: &[role],
                    organisation_id,
                    password_hash: &password_hash,
                },
                now,
            )
            .await?;
        if role == Role::CaseManager {
            editors.push(Editor {
                user_id: id,
                user_name: name.to_owned(),
            });
        }
        logins.push(DemoLogin {
            username,
            role,
            organisation,
        });
    }

    let numbers = demo_nhs_numbers(DEMO_CASELOAD + OTHER_PRACTICE_PATIENTS);
    let mut new_patients = Vec::new();
    let mut care_team = Vec::new();
    for (i, nhs) in numbers.iter().enumerate() {
        let organisation = if i < DEMO_CASELOAD {
            &practice
        } else {
            &other_practice
        };
        if store.has_patient(organisation, &nhs.digits()).await? {
            continue;
        }
        let editor = &editors[i % editors.len()];
        let mut doc =
            demo_plan(i, nhs, editor, now).with_context(|| format!("building demo plan {i}"))?;
        let projection = project(&mut doc).context("projecting a demo plan")?;
        let id = uuid::Uuid::new_v4().to_string();
        if i < DEMO_CASELOAD && in_demo_care_team(i) {
            care_team.push(id.clone());
        }
        new_patients.push(NewPatient {
            id,
            organisation_id: organisation.clone(),
            snapshot: doc.save_uncompressed(),
            projection,
            created_by: Some(Committer {
                user_id: editor.user_id.clone(),
                name: editor.user_name.clone(),
                organisation: PRACTICE.name.to_owned(),
            }),
        });
    }
    let created = new_patients.len();
    store.create_patients(&new_patients, now).await?;
    for patient_id in &care_team {
        store
            .change_care_team(patient_id, &community, true, "demo", now, &[])
            .await?;
    }
    if created > 0 {
        tracing::info!(patients = created, "created demo patients");
    }
    let referral_decisions = seed_referrals(store, &practice, now).await?;
    Ok(DemoSummary {
        logins,
        patients_created: created,
        patients_total: numbers.len(),
        referral_decisions,
    })
}

/// The first `n` valid NHS numbers among deterministic 999-range candidates.
pub fn demo_nhs_numbers(n: usize) -> Vec<NhsNumber> {
    let mut found = Vec::with_capacity(n);
    let mut i: u64 = 0;
    while found.len() < n {
        i += 1;
        let candidate = 9_990_000_000 + (i * 7_654_321) % 10_000_000;
        if let Ok(nhs) = NhsNumber::parse(&candidate.to_string())
            && !found.contains(&nhs)
        {
            found.push(nhs);
        }
    }
    found
}

const FIRST_NAMES: &[&str] = &[
    "Margaret", "Arthur", "Doreen", "Kenneth", "Joan", "Dennis", "Patricia", "Brian", "Sheila",
    "Raymond", "Maureen", "Derek", "Irene", "Colin", "Sylvia", "Trevor", "Barbara", "Keith",
    "Jean", "Roy", "Eileen", "Gordon", "Pauline", "Stanley", "Valerie", "Harold", "Brenda",
    "Leonard", "Audrey", "Clifford", "Hazel", "Norman", "Gwen", "Cyril", "Rita", "Albert",
    "Winifred", "Sunita", "Mohammed", "Kwame", "Grace", "Tadeusz", "Nasreen", "Olive", "Bernard",
    "Phyllis", "Geoffrey", "Betty", "Alan", "Iris", "Terence", "Edna", "Walter",
];
const SURNAMES: &[&str] = &[
    "Whitfield",
    "Ashworth",
    "Pemberton",
    "Okafor",
    "Hargreaves",
    "Lindqvist",
    "Brennan",
    "Chaudhry",
    "Fairbairn",
    "Mensah",
    "Holloway",
    "Kowalski",
    "Pritchard",
    "Sutcliffe",
    "Begum",
    "Thornton",
    "McAllister",
    "Davenport",
    "Osei",
    "Rowntree",
    "Singh",
    "Blackwood",
    "Eastwood",
    "Farrow",
    "Greaves",
    "Haworth",
    "Iqbal",
    "Jarvis",
    "Lomas",
    "Nuttall",
    "Ormerod",
];
const STREETS: &[&str] = &[
    "Mill Lane",
    "Church Street",
    "Victoria Road",
    "Park Avenue",
    "Station Road",
    "Beech Grove",
    "Canal Side",
    "Orchard Close",
    "Moorland View",
    "Chapel Walk",
    "Weavers Row",
    "Larch Crescent",
];

struct ConditionTemplate {
    name: &'static str,
    treatment: &'static str,
    medications: &'static [(&'static str, &'static str, &'static str)],
    plan: &'static str,
}

const CONDITIONS: &[ConditionTemplate] = &[
    ConditionTemplate {
        name: "COPD (severe)",
        treatment: "Inhaled therapy, home oxygen 2 L/min, pulmonary rehab completed",
        medications: &[
            ("Tiotropium", "2.5 micrograms, two puffs once daily", ""),
            (
                "Salbutamol",
                "100 micrograms, two puffs as needed",
                "Via spacer",
            ),
            (
                "Prednisolone (rescue pack)",
                "30 mg once daily for 5 days",
                "Rescue pack in kitchen drawer",
            ),
        ],
        plan: "If more breathless than usual or sputum changes colour: start the rescue pack \
(prednisolone and doxycycline, kept in the kitchen drawer) and call the community respiratory team. \
Target SpO2 88-92%. Prefers to stay at home; admit only if SpO2 stays below 85% on home oxygen.",
    },
    ConditionTemplate {
        name: "Heart failure (reduced ejection fraction)",
        treatment: "Diuretic titration by heart failure nurse; daily weights",
        medications: &[
            (
                "Furosemide",
                "40 mg in the morning",
                "May double for 3 days per plan",
            ),
            ("Bisoprolol", "2.5 mg once daily", ""),
            ("Ramipril", "2.5 mg once daily", ""),
        ],
        plan: "Weighs daily. If weight rises more than 2 kg in 3 days or ankles swell: double furosemide \
for 3 days and call the heart failure nurse. If breathless at rest or chest pain: 999.",
    },
    ConditionTemplate {
        name: "Type 2 diabetes",
        treatment: "Insulin with district nurse support",
        medications: &[
            (
                "Insulin glargine",
                "18 units at 22:00",
                "District nurse checks pen weekly",
            ),
            (
                "Metformin",
                "500 mg twice daily",
                "Hold if vomiting or not eating",
            ),
        ],
        plan: "If capillary glucose below 4 mmol/L: give glucose gel from the fridge door, recheck in 15 minutes. \
If unwell and not eating, hold metformin and call the practice.",
    },
    ConditionTemplate {
        name: "Parkinson's disease",
        treatment: "Time-critical medication; speech and language therapy review",
        medications: &[(
            "Co-careldopa",
            "25/100, one tablet at 07:00, 11:00, 15:00, 19:00",
            "TIME CRITICAL: do not miss doses",
        )],
        plan: "Doses of co-careldopa are time critical: if admitted, bring the medication box and make sure \
doses are given on time. Swallow is unsafe for thin fluids: use thickener as in the SLT plan.",
    },
    ConditionTemplate {
        name: "Vascular dementia",
        treatment: "Memory clinic follow-up; carers four times daily",
        medications: &[("Donepezil", "5 mg at night", "")],
        plan: "Becomes more confused with infection: check for urinary symptoms and call the GP before \
considering admission. Daughter holds lasting power of attorney for health and welfare.",
    },
    ConditionTemplate {
        name: "Atrial fibrillation",
        treatment: "Rate control and anticoagulation",
        medications: &[
            (
                "Apixaban",
                "2.5 mg twice daily",
                "Anticoagulant: ask about falls and head injury",
            ),
            ("Digoxin", "62.5 micrograms once daily", ""),
        ],
        plan: "On apixaban: any head injury needs assessment in hospital. Palpitations with dizziness: 999.",
    },
    ConditionTemplate {
        name: "Chronic kidney disease stage 3b",
        treatment: "Renal function monitored three-monthly",
        medications: &[("Alfacalcidol", "250 nanograms once daily", "")],
        plan: "Avoid NSAIDs. If vomiting or diarrhoea for more than 24 hours, call the practice for a \
blood test and sick-day medication advice.",
    },
    ConditionTemplate {
        name: "Frailty with recurrent falls",
        treatment: "Falls service review; pendant alarm",
        medications: &[("Colecalciferol", "800 units once daily", "")],
        plan: "Lives alone with a pendant alarm. After an uninjured fall, the falls response team can \
attend instead of a conveyance; key safe by the front door.",
    },
];

/// Builds one invented patient's plan through the same typed edits the app uses.
fn demo_plan(i: usize, nhs: &NhsNumber, editor: &Editor, now: i64) -> anyhow::Result<PlanDoc> {
    let day = 86_400_000_i64;
    let first = FIRST_NAMES[(i * 7) % FIRST_NAMES.len()];
    let surname = SURNAMES[(i * 11 + 3) % SURNAMES.len()];
    let street = STREETS[(i * 5) % STREETS.len()];
    let new = NewPlan {
        nhs_number: nhs.digits(),
        name: format!("{first} {surname}"),
        date_of_birth: format!(
            "{}-{:02}-{:02}",
            1926 + (i * 13) % 34,
            1 + (i * 5) % 12,
            1 + (i * 17) % 28
        ),
        address: format!(
            "{} {street}, Ashbridge, AB{} {}{}",
            1 + (i * 37) % 140,
            1 + i % 9,
            1 + i % 9,
            ["RT", "QX", "LN", "PW", "HE", "DA"][i % 6]
        ),
    };
    // Spread the history over the last few weeks so caseload dates differ.
    let mut at = now - (30 + (i as i64 % 20)) * day;
    let mut doc = PlanDoc::create(server_actor(), &new, editor, at)?;
    let mut apply = |edit: Edit| -> anyhow::Result<()> {
        at += day / 4;
        doc.apply(&edit, editor, at)?;
        Ok(())
    };

    let main = &CONDITIONS[i % CONDITIONS.len()];
    let second = &CONDITIONS[(i * 3 + 1) % CONDITIONS.len()];
    let mut conditions = vec![main];
    if second.name != main.name {
        conditions.push(second);
    }
    for (n, c) in conditions.iter().enumerate() {
        apply(Edit::AddCondition {
            id: format!("c{}", n + 1),
            name: c.name.to_owned(),
            treatment: c.treatment.to_owned(),
        })?;
    }
    let mut med = 0;
    for c in &conditions {
        for (name, dose, notes) in c.medications {
            med += 1;
            apply(Edit::AddMedication {
                id: format!("m{med}"),
                name: (*name).to_owned(),
                dose: (*dose).to_owned(),
                notes: (*notes).to_owned(),
            })?;
        }
    }
    if i.is_multiple_of(4) {
        apply(Edit::AddMedication {
            id: "m-eol1".to_owned(),
            name: "Morphine sulfate injection (anticipatory)".to_owned(),
            dose: "2.5-5 mg subcutaneously hourly as needed for pain or breathlessness".to_owned(),
            notes: "Just-in-case box in the fridge; district nurses administer".to_owned(),
        })?;
    }
    let relative = ["daughter", "son", "wife", "husband", "niece", "neighbour"][i % 6];
    let relative_name = format!(
        "{} {surname}",
        FIRST_NAMES[(i * 7 + 19) % FIRST_NAMES.len()]
    );
    apply(Edit::AddContact {
        id: "k1".to_owned(),
        role: format!("next of kin ({relative})"),
        name: relative_name,
        phone: format!("07700 900{:03}", (i * 17) % 1000),
    })?;
    apply(Edit::AddContact {
        id: "k2".to_owned(),
        role: "GP bypass".to_owned(),
        name: PRACTICE.name.to_owned(),
        phone: format!("01632 960{:03}", 100 + i % 50),
    })?;
    if i.is_multiple_of(3) {
        apply(Edit::AddContact {
            id: "k3".to_owned(),
            role: "key safe".to_owned(),
            name: "Key safe to the left of the front door".to_owned(),
            phone: "Code held by ambulance control".to_owned(),
        })?;
    }
    let copd = main.name.starts_with("COPD");
    apply(Edit::SetBaseline {
        pulse_bpm: Some(62 + (i as u32 * 7) % 30),
        systolic_mmhg: Some(112 + (i as u32 * 9) % 40),
        diastolic_mmhg: Some(64 + (i as u32 * 5) % 20),
        respiratory_rate: Some(if copd {
            20 + i as u32 % 4
        } else {
            14 + i as u32 % 5
        }),
        spo2_percent: Some(if copd {
            88 + i as u32 % 4
        } else {
            94 + i as u32 % 5
        }),
        temperature_decidegrees: Some(362 + (i as u32 * 3) % 10),
    })?;
    apply(Edit::SetDnacpr {
        status: match i % 3 {
            0 => DnacprStatus::DoNotAttemptCpr,
            1 => DnacprStatus::ForAttemptedCpr,
            _ => DnacprStatus::NotRecorded,
        },
    })?;
    apply(Edit::SetPreferredPlaceOfCare {
        place: [
            "Home",
            "Home, with family present",
            "St Anne's Hospice (demo)",
            "Hospital if needed",
        ][i % 4]
            .to_owned(),
    })?;
    apply(Edit::SetExacerbationPlan {
        text: main.plan.to_owned(),
    })?;
    // Four in five consent to sharing with emergency services.
    apply(Edit::SetConsent {
        share_with_mdt: i % 7 != 6,
        share_with_emergency_services: i % 5 != 3,
    })?;
    Ok(doc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demo_numbers_are_valid_distinct_and_in_the_test_range() {
        let numbers = demo_nhs_numbers(60);
        assert_eq!(numbers.len(), 60);
        for n in &numbers {
            assert!(n.digits().starts_with("999"), "{n:?}");
        }
        let mut sorted = numbers;
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 60);
    }

    #[test]
    fn every_demo_plan_builds_and_projects() {
        let editor = Editor {
            user_id: "u".into(),
            user_name: "U".into(),
        };
        let now = 1_795_960_800_000;
        let numbers = demo_nhs_numbers(DEMO_CASELOAD);
        let mut consenting = 0;
        for (i, nhs) in numbers.iter().enumerate() {
            let mut doc = demo_plan(i, nhs, &editor, now).unwrap();
            let projection = project(&mut doc).unwrap();
            consenting += usize::from(projection.share_with_emergency_services);
            assert!(!doc.plan().unwrap().medications.is_empty());
        }
        assert_eq!(consenting, DEMO_CASELOAD * 4 / 5);
    }
}
