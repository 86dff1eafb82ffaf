//! The emergency summary: what an ambulance crew or A&E reads, projected from a plan.

use serde::{Deserialize, Serialize};

use crate::nhs::NhsNumber;
use crate::plan::{Attribution, CarePlan, DnacprStatus};

/// The "yellow pages" of the red folder, as a pure projection of a [`CarePlan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmergencySummary {
    pub nhs_number: String,
    /// 3-3-4 display form.
    pub nhs_number_display: String,
    pub name: String,
    pub date_of_birth: String,
    pub address: String,
    pub dnacpr: DnacprStatus,
    pub dnacpr_label: String,
    pub preferred_place_of_care: String,
    pub conditions: Vec<SummaryCondition>,
    pub medications: Vec<SummaryMedication>,
    pub exacerbation_plan: String,
    pub baseline: SummaryBaseline,
    pub key_contacts: Vec<SummaryContact>,
    pub consent_to_emergency_sharing: bool,
    pub last_updated: Option<Attribution>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryCondition {
    pub name: String,
    pub treatment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryMedication {
    pub name: String,
    pub dose: String,
    pub notes: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryContact {
    pub role: String,
    pub name: String,
    pub phone: String,
}

/// Baseline observations with their display text, e.g. `"BP 132/78 mmHg"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SummaryBaseline {
    pub lines: Vec<String>,
    pub recorded: Option<Attribution>,
}

/// Projects a plan to its emergency summary. Entries marked entered-in-error are left out.
pub fn emergency_summary(plan: &CarePlan) -> EmergencySummary {
    let nhs_number_display = NhsNumber::parse(&plan.patient.nhs_number)
        .map(|n| n.display_form())
        .unwrap_or_else(|_| plan.patient.nhs_number.clone());
    let b = &plan.baseline;
    let mut lines = Vec::new();
    if let Some(p) = b.pulse_bpm {
        lines.push(format!("Pulse {p} /min"));
    }
    match (b.systolic_mmhg, b.diastolic_mmhg) {
        (Some(s), Some(d)) => lines.push(format!("BP {s}/{d} mmHg")),
        (Some(s), None) => lines.push(format!("Systolic BP {s} mmHg")),
        (None, Some(d)) => lines.push(format!("Diastolic BP {d} mmHg")),
        (None, None) => {}
    }
    if let Some(r) = b.respiratory_rate {
        lines.push(format!("Respiratory rate {r} /min"));
    }
    if let Some(s) = b.spo2_percent {
        lines.push(format!("SpO2 {s}%"));
    }
    if let Some(t) = b.temperature_decidegrees {
        lines.push(format!("Temperature {}.{} °C", t / 10, t % 10));
    }
    EmergencySummary {
        nhs_number: plan.patient.nhs_number.clone(),
        nhs_number_display,
        name: plan.patient.name.clone(),
        date_of_birth: plan.patient.date_of_birth.clone(),
        address: plan.patient.address.clone(),
        dnacpr: plan.dnacpr,
        dnacpr_label: plan.dnacpr.label().to_owned(),
        preferred_place_of_care: plan.preferred_place_of_care.clone(),
        conditions: plan
            .active_conditions()
            .map(|c| SummaryCondition {
                name: c.name.clone(),
                treatment: c.treatment.clone(),
            })
            .collect(),
        medications: plan
            .active_medications()
            .map(|m| SummaryMedication {
                name: m.name.clone(),
                dose: m.dose.clone(),
                notes: m.notes.clone(),
            })
            .collect(),
        exacerbation_plan: plan.exacerbation_plan.as_str().to_owned(),
        baseline: SummaryBaseline {
            lines,
            recorded: b.recorded.clone(),
        },
        key_contacts: plan
            .active_contacts()
            .map(|c| SummaryContact {
                role: c.role.clone(),
                name: c.name.clone(),
                phone: c.phone.clone(),
            })
            .collect(),
        consent_to_emergency_sharing: plan.consent.share_with_emergency_services,
        last_updated: plan.last_updated.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ActorId, Edit, Editor, NewPlan, PlanDoc};

    #[test]
    fn summary_shows_what_a_crew_needs() {
        let editor = Editor {
            user_id: "u1".into(),
            user_name: "Nurse One".into(),
        };
        let now = 1_795_960_800_000;
        let new = NewPlan {
            nhs_number: "9999999468".into(),
            name: "Bert Example".into(),
            date_of_birth: "1941-06-01".into(),
            address: "2 Low Road".into(),
        };
        let mut doc = PlanDoc::create(ActorId::from(b"s".as_slice()), &new, &editor, now).unwrap();
        let edits = [
            Edit::SetConsent {
                share_with_mdt: true,
                share_with_emergency_services: true,
            },
            Edit::AddCondition {
                id: "c1".into(),
                name: "COPD".into(),
                treatment: "Inhalers".into(),
            },
            Edit::AddMedication {
                id: "m1".into(),
                name: "Salbutamol".into(),
                dose: "2 puffs PRN".into(),
                notes: String::new(),
            },
            Edit::AddContact {
                id: "k1".into(),
                role: "next of kin".into(),
                name: "Cara Example".into(),
                phone: "01234 567890".into(),
            },
            Edit::SetDnacpr {
                status: DnacprStatus::DoNotAttemptCpr,
            },
            Edit::SetPreferredPlaceOfCare {
                place: "Home".into(),
            },
            Edit::SetExacerbationPlan {
                text: "Rescue pack in kitchen drawer.".into(),
            },
            Edit::SetBaseline {
                pulse_bpm: Some(88),
                systolic_mmhg: Some(132),
                diastolic_mmhg: Some(78),
                respiratory_rate: Some(20),
                spo2_percent: Some(91),
                temperature_decidegrees: Some(368),
            },
        ];
        for e in &edits {
            doc.apply(e, &editor, now).unwrap();
        }
        let s = emergency_summary(&doc.plan().unwrap());
        let rendered = serde_json::to_string(&(
            &s.nhs_number_display,
            &s.name,
            &s.dnacpr_label,
            &s.preferred_place_of_care,
            &s.conditions,
            &s.medications,
            &s.key_contacts,
            &s.baseline.lines,
            &s.exacerbation_plan,
            s.consent_to_emergency_sharing,
            &s.last_updated.as_ref().map(|a| &a.user_name),
        ))
        .unwrap();
        assert_eq!(
            rendered,
            r#"["999 999 9468","Bert Example","DNACPR in place: do not attempt CPR","Home",[{"name":"COPD","treatment":"Inhalers"}],[{"name":"Salbutamol","dose":"2 puffs PRN","notes":""}],[{"role":"next of kin","name":"Cara Example","phone":"01234 567890"}],["Pulse 88 /min","BP 132/78 mmHg","Respiratory rate 20 /min","SpO2 91%","Temperature 36.8 °C"],"Rescue pack in kitchen drawer.",true,"Nurse One"]"#
        );
    }
}
