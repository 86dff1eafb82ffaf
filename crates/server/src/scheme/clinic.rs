//! Virtual clinics' rules (seed 004), pure: the specialties and the pre-clinic data each
//! needs, the outcomes a specialist records, what the outcome letters say, and the
//! metrics counted per practice and specialty.

use std::collections::{BTreeMap, BTreeSet};

use redfolder_fhir::{MEASURES, Measure};
use serde::{Deserialize, Serialize};

use crate::store::clinics::{ClinicOutcome, ClinicReadingRow, MetricRow, VirtualClinic};

/// The specialty of a clinic: it decides which pre-clinic data the screen asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Specialty {
    Diabetes,
    Respiratory,
    HeartFailure,
    Frailty,
    Other,
}

impl Specialty {
    pub const ALL: [Specialty; 5] = [
        Specialty::Diabetes,
        Specialty::Respiratory,
        Specialty::HeartFailure,
        Specialty::Frailty,
        Specialty::Other,
    ];

    pub fn key(self) -> &'static str {
        match self {
            Specialty::Diabetes => "diabetes",
            Specialty::Respiratory => "respiratory",
            Specialty::HeartFailure => "heart_failure",
            Specialty::Frailty => "frailty",
            Specialty::Other => "other",
        }
    }

    pub fn parse(key: &str) -> Option<Specialty> {
        Specialty::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn label(self) -> &'static str {
        match self {
            Specialty::Diabetes => "diabetes",
            Specialty::Respiratory => "respiratory",
            Specialty::HeartFailure => "heart failure",
            Specialty::Frailty => "frailty",
            Specialty::Other => "general",
        }
    }

    /// The pre-clinic data the specialty asks for. Diabetes follows the annual care
    /// processes (HbA1c, kidney function, blood pressure, lipids, BMI, eye and foot
    /// screening); the other specialties have no agreed list yet, so their clinics ask for
    /// blood pressure and BMI and take any other measure the practice sends.
    pub fn measures(self) -> Vec<&'static Measure> {
        match self {
            Specialty::Diabetes => MEASURES.iter().collect(),
            _ => MEASURES
                .iter()
                .filter(|m| matches!(m.key, "blood_pressure" | "bmi"))
                .collect(),
        }
    }
}

/// What the specialist decides for a patient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// The practice keeps managing the patient, with the plan the specialist advises:
    /// a referral to secondary care avoided.
    KeepInPractice,
    /// Seen in a community (locality) clinic by the specialist team: also kept out of the
    /// hospital.
    LocalityClinic,
    /// Referred to the specialist hub at the hospital: a new referral.
    ReferToHub,
}

impl Outcome {
    pub fn key(self) -> &'static str {
        match self {
            Outcome::KeepInPractice => "keep_in_practice",
            Outcome::LocalityClinic => "locality_clinic",
            Outcome::ReferToHub => "refer_to_hub",
        }
    }

    pub fn parse(key: &str) -> Option<Outcome> {
        [
            Outcome::KeepInPractice,
            Outcome::LocalityClinic,
            Outcome::ReferToHub,
        ]
        .into_iter()
        .find(|o| o.key() == key)
    }

    /// The decision in the words of a letter to the GP.
    fn for_gp(self) -> &'static str {
        match self {
            Outcome::KeepInPractice => "continue care in the practice with the plan below",
            Outcome::LocalityClinic => "be seen in the locality diabetes clinic",
            Outcome::ReferToHub => "be referred to the specialist hub at the hospital",
        }
    }

    /// The decision in plain words for the patient.
    fn for_patient(self) -> &'static str {
        match self {
            Outcome::KeepInPractice => {
                "you can carry on being looked after by your own GP practice. The specialist has suggested the plan below"
            }
            Outcome::LocalityClinic => {
                "it would help for you to see the specialist team at a clinic in your area. The clinic will write to you with an appointment"
            }
            Outcome::ReferToHub => {
                "it would help for you to see the specialist team at the hospital. The hospital will write to you with an appointment"
            }
        }
    }
}

/// Who a letter is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Audience {
    Gp,
    Patient,
}

/// An outcome letter: headed, addressed, in paragraphs; the app prints it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Letter {
    /// `gp` or `patient`.
    pub audience: String,
    pub from: String,
    pub to: String,
    /// `YYYY-MM-DD`: the clinic's date.
    pub date: String,
    pub subject: String,
    pub paragraphs: Vec<String>,
    /// The pre-clinic results the letter refers to, latest of each measure, for a table.
    pub results: Vec<LetterResult>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct LetterResult {
    pub label: String,
    pub value: String,
    pub observed_on: String,
}

/// The patient a letter is about.
#[derive(Debug)]
pub struct LetterPatient<'a> {
    pub name: &'a str,
    pub nhs_number: &'a str,
    pub date_of_birth: &'a str,
}

/// `943 476 5919`.
fn spaced(nhs: &str) -> String {
    if nhs.len() == 10 && nhs.is_ascii() {
        format!("{} {} {}", &nhs[..3], &nhs[3..6], &nhs[6..])
    } else {
        nhs.to_owned()
    }
}

/// The latest reading of each measure, in the order of [`MEASURES`].
pub fn latest_results(readings: &[ClinicReadingRow]) -> Vec<LetterResult> {
    MEASURES
        .iter()
        .filter_map(|m| {
            let r = readings
                .iter()
                .filter(|r| r.measure == m.key)
                .max_by(|a, b| {
                    (&a.observed_on, a.recorded_at_ms).cmp(&(&b.observed_on, b.recorded_at_ms))
                })?;
            let value = if m.unit.is_empty() {
                r.value.clone()
            } else {
                format!("{} {}", r.value, m.unit)
            };
            Some(LetterResult {
                label: m.label.to_owned(),
                value,
                observed_on: r.observed_on.clone(),
            })
        })
        .collect()
}

/// The outcome letter for one patient, to the GP or in plain words to the patient.
pub fn letter(
    audience: Audience,
    clinic: &VirtualClinic,
    patient: &LetterPatient<'_>,
    outcome: &ClinicOutcome,
    readings: &[ClinicReadingRow],
) -> Letter {
    let decided = Outcome::parse(&outcome.outcome).unwrap_or(Outcome::KeepInPractice);
    let specialty = Specialty::parse(&clinic.specialty).unwrap_or(Specialty::Other);
    let follow_up = outcome.follow_up_on.as_deref();
    let from = format!(
        "{}, {} virtual clinic",
        outcome.recorded_by,
        specialty.label()
    );
    let mut paragraphs = Vec::new();
    let (to, subject) = match audience {
        Audience::Gp => {
            paragraphs.push(format!(
                "{} (NHS number {}, born {}) was discussed at the {} virtual clinic held with {} on {}.",
                patient.name,
                spaced(patient.nhs_number),
                patient.date_of_birth,
                specialty.label(),
                clinic.organisation_name,
                clinic.clinic_date
            ));
            paragraphs.push(format!("Outcome: the patient should {}.", decided.for_gp()));
            if !outcome.plan.trim().is_empty() {
                paragraphs.push(format!("Plan: {}", outcome.plan.trim()));
            }
            paragraphs.push(match follow_up {
                Some(d) => format!("Please follow the patient up in the practice by {d}."),
                None => "No follow-up date was set.".to_owned(),
            });
            (
                format!("The GP, {}", clinic.organisation_name),
                format!(
                    "Virtual clinic outcome: {} ({})",
                    patient.name,
                    spaced(patient.nhs_number)
                ),
            )
        }
        Audience::Patient => {
            paragraphs.push(format!(
                "On {} a specialist in {} care looked at your records with your GP practice, {}, as you agreed they could.",
                clinic.clinic_date,
                specialty.label(),
                clinic.organisation_name
            ));
            paragraphs.push(format!("They think {}.", decided.for_patient()));
            if !outcome.plan.trim().is_empty() {
                paragraphs.push(format!("What happens next: {}", outcome.plan.trim()));
            }
            if let Some(d) = follow_up {
                paragraphs.push(format!(
                    "Your practice will see you again by {d}. If you do not hear from them, please ring the practice."
                ));
            }
            paragraphs.push(
                "If anything here is unclear, or you feel worse before then, please contact your GP practice."
                    .to_owned(),
            );
            (
                patient.name.to_owned(),
                format!(
                    "Your {} care: what the specialist suggested",
                    match specialty {
                        Specialty::Other => "health",
                        s => s.label(),
                    }
                ),
            )
        }
    };
    Letter {
        audience: match audience {
            Audience::Gp => "gp",
            Audience::Patient => "patient",
        }
        .to_owned(),
        from,
        to,
        date: clinic.clinic_date.clone(),
        subject,
        paragraphs,
        results: latest_results(readings),
    }
}

/// One practice and specialty's clinic figures.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct ClinicMetrics {
    pub practice_code: String,
    pub practice_name: String,
    pub specialty: String,
    pub clinics: u32,
    /// Patients with an outcome recorded.
    pub patients_discussed: u32,
    /// Kept in the practice or seen in a locality clinic instead of a hospital referral.
    pub referrals_avoided: u32,
    /// Referred to the hub.
    pub new_referrals: u32,
    /// On a clinic's list without an outcome (not discussed, or not yet).
    pub not_discussed: u32,
    pub education_sessions: u32,
}

/// Counts clinic rows per practice and specialty, in practice code then specialty order.
pub fn metrics(rows: &[MetricRow], education: &[(String, i64)]) -> Vec<ClinicMetrics> {
    let mut by: BTreeMap<(String, String), (ClinicMetrics, BTreeSet<String>)> = BTreeMap::new();
    for r in rows {
        let (m, clinics) = by
            .entry((r.organisation_code.clone(), r.specialty.clone()))
            .or_insert_with(|| {
                (
                    ClinicMetrics {
                        practice_code: r.organisation_code.clone(),
                        practice_name: r.organisation_name.clone(),
                        specialty: r.specialty.clone(),
                        ..ClinicMetrics::default()
                    },
                    BTreeSet::new(),
                )
            });
        if clinics.insert(r.clinic_id.clone()) {
            m.clinics += 1;
            let sessions = education
                .iter()
                .filter(|(id, _)| *id == r.clinic_id)
                .map(|(_, n)| u32::try_from(*n).unwrap_or(0))
                .sum::<u32>();
            m.education_sessions += sessions;
        }
        match (&r.patient_id, r.outcome.as_deref().and_then(Outcome::parse)) {
            (_, Some(Outcome::ReferToHub)) => {
                m.patients_discussed += 1;
                m.new_referrals += 1;
            }
            (_, Some(_)) => {
                m.patients_discussed += 1;
                m.referrals_avoided += 1;
            }
            (Some(_), None) => m.not_discussed += 1,
            // A clinic with no patient comes through the outer join once, as no patient.
            (None, None) => {}
        }
    }
    by.into_values().map(|(m, _)| m).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(org: &str, specialty: &str, clinic: &str, outcome: Option<&str>) -> MetricRow {
        MetricRow {
            organisation_code: org.into(),
            organisation_name: format!("{org} Surgery"),
            specialty: specialty.into(),
            clinic_id: clinic.into(),
            patient_id: Some(format!("{clinic}-patient")),
            outcome: outcome.map(str::to_owned),
        }
    }

    #[test]
    fn metrics_count_per_practice_and_specialty() {
        let rows = [
            row("A1", "diabetes", "c1", Some("keep_in_practice")),
            row("A1", "diabetes", "c1", Some("locality_clinic")),
            row("A1", "diabetes", "c1", Some("refer_to_hub")),
            row("A1", "diabetes", "c2", None),
            MetricRow {
                patient_id: None,
                ..row("A1", "diabetes", "c5", None)
            },
            row("A1", "respiratory", "c3", Some("refer_to_hub")),
            row("B2", "diabetes", "c4", Some("keep_in_practice")),
        ];
        let got = metrics(&rows, &[("c1".into(), 2), ("c4".into(), 1)]);
        let short: Vec<_> = got
            .iter()
            .map(|m| {
                (
                    m.practice_code.as_str(),
                    m.specialty.as_str(),
                    m.clinics,
                    m.patients_discussed,
                    m.referrals_avoided,
                    m.new_referrals,
                    m.education_sessions,
                    m.not_discussed,
                )
            })
            .collect();
        assert_eq!(
            short,
            [
                ("A1", "diabetes", 3, 3, 2, 1, 2, 1),
                ("A1", "respiratory", 1, 1, 0, 1, 0, 0),
                ("B2", "diabetes", 1, 1, 1, 0, 1, 0),
            ]
        );
    }

    #[test]
    fn specialties_and_outcomes_round_trip_and_diabetes_asks_for_the_care_processes() {
        for s in Specialty::ALL {
            assert_eq!(Specialty::parse(s.key()), Some(s));
        }
        assert_eq!(Specialty::parse("Diabetes"), None);
        assert_eq!(Outcome::parse("refer_to_hub"), Some(Outcome::ReferToHub));
        let keys: Vec<&str> = Specialty::Diabetes
            .measures()
            .iter()
            .map(|m| m.key)
            .collect();
        for needed in [
            "hba1c",
            "egfr",
            "acr",
            "blood_pressure",
            "total_cholesterol",
            "bmi",
            "eye_screening",
            "foot_screening",
        ] {
            assert!(keys.contains(&needed), "{needed}");
        }
    }
}
