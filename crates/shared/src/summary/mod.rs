//! The emergency summary: what an ambulance crew or A&E reads, projected from a plan.
//!
//! The fields follow `docs/domain.md` "The emergency summary", in its order: identity;
//! resuscitation and legal decisions; focus and ceiling of treatment, admission and
//! escalation plans; preferred places; key contacts; problems and prognosis; medications;
//! allergies; baseline; communication needs; and the plan's own date, author, version,
//! next review and consent. A safety-critical item that replicas set differently shows
//! every value, marked as conflicting. [`render_text`] and [`render_html`] print it.

mod paper;
mod render;

use serde::{Deserialize, Serialize};

use crate::decision::{Conflict, ConsentRecipient, DnacprReading, SafetyField};
use crate::nhs::NhsNumber;
use crate::plan::{AllergySeverity, Attribution, CarePlan, Relationship, Sex, TeamContactKind};

pub use paper::{
    PaperCodeError, PaperCopy, PaperReading, PaperState, SECTIONS as PAPER_SECTIONS,
    SummaryFingerprint,
};
pub use render::{escape_html, render_html, render_text};

/// The "yellow pages" of the red folder, as a pure projection of a [`CarePlan`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct EmergencySummary {
    // Identity.
    pub nhs_number: String,
    /// 3-3-4 display form.
    pub nhs_number_display: String,
    pub name: String,
    pub preferred_name: String,
    pub date_of_birth: String,
    pub sex: Option<Sex>,
    pub address: String,
    pub phone: String,
    pub residence: String,
    pub gp_practice: String,
    pub named_gp: String,
    // Resuscitation and legal decisions.
    /// The DNACPR flag: `conflicting` while resuscitation decisions conflict (their values
    /// are in `resuscitation.values`), never one side of the conflict.
    pub dnacpr: DnacprReading,
    /// What the CPR banner says: the status, or "Conflicting: A / B — confirm with the
    /// care team".
    pub dnacpr_label: String,
    pub resuscitation: SummaryDecision,
    /// `None` when no advance decision to refuse treatment is recorded.
    pub adrt: Option<String>,
    pub lpa: Vec<SummaryContact>,
    // Treatment escalation.
    pub focus_of_care: Option<String>,
    pub ceiling_of_treatment: SummaryDecision,
    pub admission_wanted: SummaryDecision,
    pub escalation_plans: Vec<SummaryEscalation>,
    pub exacerbation_plan: String,
    // Preferences.
    pub preferred_place_of_care: String,
    pub preferred_place_of_death: SummaryDecision,
    // Key contacts: carer and next of kin, case manager, GP bypass, out of hours, key safe.
    pub key_contacts: Vec<SummaryContact>,
    // Problems and prognosis.
    pub conditions: Vec<SummaryCondition>,
    pub prognosis: String,
    pub medications: Vec<SummaryMedication>,
    pub allergies: SummaryDecision,
    pub allergy_list: Vec<SummaryAllergy>,
    pub baseline: SummaryBaseline,
    pub communication_needs: String,
    // The plan itself.
    pub plan_status: String,
    /// When case management ended, and until when this summary is still served
    /// (docs/hazard-log.md H13); `None` while the plan is in the scheme. Summaries
    /// stored before the field existed read as `None`.
    #[serde(default)]
    pub case_management_ended: Option<SummaryEnded>,
    pub plan_version: String,
    pub completed: Option<Attribution>,
    pub case_manager: Option<String>,
    pub next_review_due: Option<String>,
    pub consent: SummaryDecision,
    pub consent_to_emergency_sharing: bool,
    pub last_updated: Option<Attribution>,
    /// Every unresolved conflict, also shown at its item.
    pub conflicts: Vec<Conflict>,
}

/// Days after case management ended that the emergency summary is still served, marked
/// as ended; afterwards it is withdrawn (docs/hazard-log.md H13).
pub const ENDED_SUMMARY_SERVED_DAYS: i64 = 90;

/// An ended plan's notice on its summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryEnded {
    /// `YYYY-MM-DD`
    pub date: String,
    pub reason: String,
    /// `YYYY-MM-DD`: the last day the summary is served.
    pub served_until: String,
    /// What the crew reads at the top of the plan's section.
    pub notice: String,
}

impl SummaryEnded {
    fn of(plan: &CarePlan) -> Option<SummaryEnded> {
        let end = plan.enrolment.ended.as_ref()?;
        let date = crate::Date::parse(&end.date)?;
        let served_until = date.plus_days(ENDED_SUMMARY_SERVED_DAYS).to_string();
        Some(SummaryEnded {
            date: end.date.clone(),
            reason: end.reason.label().to_owned(),
            notice: format!(
                "Case management ended on {} ({}): this plan is no longer reviewed and may be out of date. Confirm decisions with the patient's GP.",
                end.date,
                end.reason.label()
            ),
            served_until,
        })
    }

    /// Whether a summary whose plan ended is still served on `today`.
    pub fn served_on(&self, today: crate::Date) -> bool {
        crate::Date::parse(&self.served_until).is_some_and(|last| today <= last)
    }
}

/// A decision as printed: its current reading, or every value when they conflict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryDecision {
    pub label: String,
    pub recorded: Option<Attribution>,
    pub conflicting: bool,
    /// When `conflicting`: every value held, each with who recorded it and when.
    pub values: Vec<SummaryValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryValue {
    pub label: String,
    pub recorded: Attribution,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryCondition {
    pub name: String,
    pub treatment: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryMedication {
    pub name: String,
    pub dose: String,
    pub notes: String,
    #[serde(default)]
    pub anticipatory: bool,
    /// Where it is kept.
    #[serde(default)]
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryContact {
    pub role: String,
    pub name: String,
    pub phone: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryEscalation {
    pub condition: String,
    pub plan: String,
    pub rescue_pack: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryAllergy {
    pub substance: String,
    pub reaction: String,
    pub severity: AllergySeverity,
}

/// Baseline observations with their display text, e.g. `"BP 132/78 mmHg"`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SummaryBaseline {
    pub lines: Vec<String>,
    pub recorded: Option<Attribution>,
    #[serde(default)]
    pub observed_on: Option<String>,
}

/// The printed form of a register's [`crate::Reading`]: its settled value, or every value
/// when they conflict (never one side of a conflict).
fn decision(plan: &CarePlan, field: SafetyField) -> SummaryDecision {
    let r = plan.reading(field);
    SummaryDecision {
        conflicting: r.is_conflicting(),
        label: r.label,
        recorded: r.recorded,
        values: r
            .values
            .into_iter()
            .map(|v| SummaryValue {
                label: v.label,
                recorded: v.recorded,
            })
            .collect(),
    }
}

fn baseline_lines(plan: &CarePlan) -> Vec<String> {
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
    if let Some(p) = b.peak_flow_l_min {
        lines.push(format!("Peak flow {p} L/min"));
    }
    if let Some(w) = b.weight_decikg {
        lines.push(format!("Weight {}.{} kg", w / 10, w % 10));
    }
    match b.known_af {
        Some(true) => lines.push("Known atrial fibrillation".to_owned()),
        Some(false) => lines.push("No known atrial fibrillation".to_owned()),
        None => {}
    }
    if !b.usual_cognition.is_empty() {
        lines.push(format!("Usual cognition: {}", b.usual_cognition));
    }
    if !b.usual_mobility.is_empty() {
        lines.push(format!("Usual mobility: {}", b.usual_mobility));
    }
    lines
}

fn key_contacts(plan: &CarePlan) -> Vec<SummaryContact> {
    let contact = |role: &str, name: &str, phone: &str| SummaryContact {
        role: role.to_owned(),
        name: name.to_owned(),
        phone: phone.to_owned(),
    };
    let personal = plan
        .active_contacts()
        .filter(|c| c.relationship != Some(Relationship::LpaHealthAndWelfare));
    // Carers and next of kin first: they are who the crew meets at the door.
    let (family, other): (Vec<_>, Vec<_>) = personal.partition(|c| {
        matches!(
            c.relationship,
            Some(Relationship::MainCarer | Relationship::NextOfKin)
        ) || ["carer", "next of kin"]
            .iter()
            .any(|r| c.role.to_lowercase().contains(r))
    });
    let mut out: Vec<SummaryContact> = family
        .into_iter()
        .chain(other)
        .map(|c| contact(&c.role, &c.name, &c.phone))
        .collect();
    if let Some(cm) = &plan.enrolment.case_manager {
        let role = if cm.role.is_empty() {
            "case manager".to_owned()
        } else {
            format!("case manager ({})", cm.role)
        };
        out.push(contact(&role, &cm.name, &cm.phone));
    }
    for kind in [TeamContactKind::GpBypass, TeamContactKind::OutOfHours] {
        for m in plan.active_care_team().filter(|m| m.kind == kind) {
            let name = [m.name.as_str(), m.organisation.as_str()]
                .into_iter()
                .filter(|s| !s.is_empty())
                .collect::<Vec<_>>()
                .join(", ");
            let role = if m.hours.is_empty() {
                m.role.clone()
            } else {
                format!("{} ({})", m.role, m.hours)
            };
            out.push(contact(&role, &name, &m.phone));
        }
    }
    if !plan.patient.access_notes.is_empty() {
        out.push(contact("access / key safe", &plan.patient.access_notes, ""));
    }
    out
}

/// Projects a plan to its emergency summary. Entries marked entered-in-error are left out.
pub fn emergency_summary(plan: &CarePlan) -> EmergencySummary {
    let p = &plan.patient;
    let nhs_number_display = NhsNumber::parse(&p.nhs_number)
        .map(|n| n.display_form())
        .unwrap_or_else(|_| p.nhs_number.clone());
    let gp_practice = match (p.gp_practice_name.is_empty(), p.gp_practice_ods.is_empty()) {
        (false, false) => format!("{} ({})", p.gp_practice_name, p.gp_practice_ods),
        (false, true) => p.gp_practice_name.clone(),
        (true, _) => p.gp_practice_ods.clone(),
    };
    let adrt = plan.adrt.in_place.then(|| {
        let mut s = plan.adrt.details.clone();
        if !plan.adrt.original_location.is_empty() {
            s.push_str(&format!("; original: {}", plan.adrt.original_location));
        }
        s
    });
    let focus_of_care = plan.focus_of_care.focus.map(|f| {
        let mut s = f.label().to_owned();
        if !plan.focus_of_care.notes.is_empty() {
            s.push_str(&format!(": {}", plan.focus_of_care.notes));
        }
        s
    });
    let communication_needs = {
        let mut parts = Vec::new();
        if !p.communication_needs.is_empty() {
            parts.push(p.communication_needs.clone());
        }
        if !p.interpreter_language.is_empty() {
            parts.push(format!("Interpreter needed: {}", p.interpreter_language));
        }
        parts.join(". ")
    };
    EmergencySummary {
        nhs_number: p.nhs_number.clone(),
        nhs_number_display,
        name: p.name.clone(),
        preferred_name: p.preferred_name.clone(),
        date_of_birth: p.date_of_birth.clone(),
        sex: p.sex,
        address: p.address.clone(),
        phone: p.phone.clone(),
        residence: p
            .residence
            .map(|r| r.label().to_owned())
            .unwrap_or_default(),
        gp_practice,
        named_gp: p.named_gp.clone(),
        dnacpr: plan.dnacpr_reading(),
        dnacpr_label: plan.dnacpr_label(),
        resuscitation: decision(plan, SafetyField::Dnacpr),
        adrt,
        lpa: plan
            .active_contacts()
            .filter(|c| c.relationship == Some(Relationship::LpaHealthAndWelfare))
            .map(|c| SummaryContact {
                role: c.role.clone(),
                name: c.name.clone(),
                phone: c.phone.clone(),
            })
            .collect(),
        focus_of_care,
        ceiling_of_treatment: decision(plan, SafetyField::CeilingOfTreatment),
        admission_wanted: decision(plan, SafetyField::AdmissionWanted),
        escalation_plans: plan
            .active_escalation_plans()
            .map(|e| SummaryEscalation {
                condition: e.condition.clone(),
                plan: e.plan.as_str().to_owned(),
                rescue_pack: e.rescue_pack.clone(),
            })
            .collect(),
        exacerbation_plan: plan.exacerbation_plan.as_str().to_owned(),
        preferred_place_of_care: plan.preferred_place_of_care.clone(),
        preferred_place_of_death: decision(plan, SafetyField::PreferredPlaceOfDeath),
        key_contacts: key_contacts(plan),
        conditions: plan
            .active_conditions()
            .map(|c| SummaryCondition {
                name: c.name.clone(),
                treatment: c.treatment.clone(),
            })
            .collect(),
        prognosis: plan.focus_of_care.prognosis.clone(),
        medications: plan
            .active_medications()
            .map(|m| SummaryMedication {
                name: m.name.clone(),
                dose: m.dose.clone(),
                notes: m.notes.clone(),
                anticipatory: m.anticipatory,
                location: m.location.clone(),
            })
            .collect(),
        allergies: decision(plan, SafetyField::Allergies),
        allergy_list: plan
            .active_allergies()
            .map(|a| SummaryAllergy {
                substance: a.substance.clone(),
                reaction: a.reaction.clone(),
                severity: a.severity,
            })
            .collect(),
        baseline: SummaryBaseline {
            lines: baseline_lines(plan),
            recorded: plan.baseline.recorded.clone(),
            observed_on: plan.baseline.observed_on.clone(),
        },
        communication_needs,
        plan_status: plan.enrolment.status.label().to_owned(),
        case_management_ended: SummaryEnded::of(plan),
        plan_version: plan.plan_version.clone(),
        completed: plan.enrolment.completed.clone(),
        case_manager: plan.enrolment.case_manager.as_ref().map(|c| c.name.clone()),
        next_review_due: plan.enrolment.next_review_due.clone(),
        consent: decision(plan, SafetyField::Consent),
        consent_to_emergency_sharing: plan.consent.share_with_emergency_services
            && [
                ConsentRecipient::Ambulance,
                ConsentRecipient::EmergencyDepartment,
                ConsentRecipient::OutOfHours,
            ]
            .iter()
            .any(|r| plan.consent.permits(*r)),
        last_updated: plan.last_updated.clone(),
        conflicts: plan.conflicts.clone(),
    }
}

#[cfg(test)]
mod tests;
