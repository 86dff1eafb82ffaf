//! A caseload plan as a Red Folder document, through the shared core's typed edits.
//!
//! The workload builds each plan as one change holding everything but the reviews, then
//! one change per review. Red Folder's nearest equivalent: the plan's creation change
//! (`PlanDoc::create`, on top of the genesis change every plan shares), one change with
//! every other field (`PlanDoc::apply_all`), then one change per review holding the
//! review (notes as collaborative text) and the baseline it updated. So a Red Folder plan
//! has one change more than the reference's (creation and the rest are separate).

use redfolder_shared::{
    ActorId, ApplyError, ChangeHash, CohortCategory, ConsentGivenBy, ConsentRecipient,
    DnacprStatus, Edit, Editor, NewPlan, PlanDoc, Relationship, Residence, ReviewOutcome,
    TeamContactKind,
};

use crate::caseload::{Plan, Review};

fn split_bp(bp: &str) -> (Option<u32>, Option<u32>) {
    let mut parts = bp.split('/').map(|p| p.trim().parse().ok());
    (parts.next().flatten(), parts.next().flatten())
}

/// "Alendronic acid 70mg weekly" → ("Alendronic acid", "70mg weekly").
fn split_medication(text: &str) -> (String, String) {
    let words: Vec<&str> = text.split(' ').collect();
    let at = words
        .iter()
        .position(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .unwrap_or(1)
        .max(1);
    (words[..at].join(" "), words[at..].join(" "))
}

fn new_plan(plan: &Plan) -> NewPlan {
    NewPlan {
        nhs_number: plan.patient.nhs_number.clone(),
        name: plan.patient.name.clone(),
        date_of_birth: plan.patient.date_of_birth.clone(),
        address: plan.patient.address.clone(),
    }
}

/// Every field of the plan but the reviews, as the edits a case manager's app would make.
fn setup(plan: &Plan) -> Vec<Edit> {
    let p = &plan.patient;
    let start = plan.consent.recorded_on.clone();
    let mut edits = vec![
        Edit::SetPatientDetails {
            preferred_name: String::new(),
            sex: None,
            phone: String::new(),
            access_notes: plan
                .social
                .key_safe
                .as_ref()
                .map(|code| format!("Key safe {code}; lives {}", plan.social.lives))
                .unwrap_or_else(|| format!("Lives {}", plan.social.lives)),
            residence: Some(match p.residence.as_str() {
                "residential home" => Residence::ResidentialHome,
                "nursing home" => Residence::NursingHome,
                _ => Residence::OwnHome,
            }),
            gp_practice_ods: p.practice_code.clone(),
            gp_practice_name: String::new(),
            named_gp: p.named_gp.clone(),
            communication_needs: String::new(),
            interpreter_language: String::new(),
        },
        Edit::SetEnrolment {
            cohort: Some(match plan.cohort_category.as_str() {
                "risk_tool" => CohortCategory::RiskTool,
                "care_home" => CohortCategory::CareHome,
                "over_75" => CohortCategory::Over75,
                "social_care" => CohortCategory::SocialCare,
                _ => CohortCategory::ClinicalJudgement,
            }),
            tier: None,
            start_date: Some(start.clone()),
            review_interval_months: None,
        },
        Edit::SetCaseManager {
            name: plan.case_manager.clone(),
            role: String::new(),
            phone: String::new(),
        },
    ];
    for (i, party) in plan.care_team.iter().enumerate() {
        edits.push(Edit::AddCareTeamMember {
            id: format!("team-{i}"),
            kind: TeamContactKind::Member,
            role: party.clone(),
            name: String::new(),
            organisation: String::new(),
            phone: String::new(),
            hours: String::new(),
        });
    }
    let mut recipients = Vec::new();
    if plan.consent.share_with_mdt {
        recipients.push(ConsentRecipient::Mdt);
    }
    if plan.consent.share_with_emergency_services {
        recipients.extend([
            ConsentRecipient::OutOfHours,
            ConsentRecipient::Ambulance,
            ConsentRecipient::EmergencyDepartment,
        ]);
    }
    if !recipients.is_empty() {
        edits.push(Edit::RecordConsent {
            recipients,
            given_by: ConsentGivenBy::Patient,
            capacity_note: String::new(),
            consent_date: start.clone(),
        });
    }
    for (i, c) in plan.conditions.iter().enumerate() {
        edits.push(Edit::AddCondition {
            id: format!("cond-{i}"),
            name: c.name.clone(),
            treatment: c.treatment.clone(),
        });
    }
    for (i, m) in plan.medications.iter().enumerate() {
        let (name, dose) = split_medication(m);
        edits.push(Edit::AddMedication {
            id: format!("med-{i}"),
            name,
            dose,
            notes: String::new(),
        });
    }
    // "Ada Dyson (daughter), 07700 912345"
    let (who, phone) = plan
        .social
        .carer
        .split_once(", ")
        .unwrap_or((&plan.social.carer, ""));
    edits.push(Edit::AddPersonalContact {
        id: "carer".to_owned(),
        relationship: Relationship::MainCarer,
        name: who.to_owned(),
        phone: phone.to_owned(),
    });
    for (i, e) in plan.exacerbation_plans.iter().enumerate() {
        edits.push(Edit::AddEscalationPlan {
            id: format!("esc-{i}"),
            condition: e.condition.clone(),
            plan: e.plan.clone(),
            rescue_pack: String::new(),
        });
    }
    let status = match plan.preferences.dnacpr.as_str() {
        "not for CPR" => Some(DnacprStatus::DoNotAttemptCpr),
        "for CPR" => Some(DnacprStatus::ForAttemptedCpr),
        _ => None,
    };
    if let Some(status) = status {
        let respect = !plan.preferences.notes.is_empty();
        edits.push(Edit::SetResuscitation {
            status,
            respect_form: respect,
            decision_date: Some(start.clone()),
            decided_by: p.named_gp.clone(),
            original_location: if respect {
                plan.preferences.notes.clone()
            } else {
                "red folder".to_owned()
            },
        });
    }
    edits.push(Edit::SetPreferredPlaceOfCare {
        place: plan.preferences.preferred_place_of_care.clone(),
    });
    // The workload records no allergies; the plan must say so to be complete.
    edits.push(Edit::RecordNoKnownAllergies);
    for (i, g) in plan.goals.iter().enumerate() {
        edits.push(Edit::AddGoal {
            id: format!("goal-{i}"),
            what_matters: g.action.clone(),
            goal: g.need.clone(),
            owner: g.owner.clone(),
        });
    }
    let (systolic, diastolic) = split_bp(&plan.baseline.bp);
    edits.push(Edit::RecordBaseline {
        observed_on: start,
        pulse_bpm: Some(plan.baseline.pulse),
        systolic_mmhg: systolic,
        diastolic_mmhg: diastolic,
        respiratory_rate: Some(plan.baseline.resp_rate),
        spo2_percent: Some(plan.baseline.spo2),
        temperature_decidegrees: None,
        peak_flow_l_min: Some(plan.baseline.peak_flow),
        weight_decikg: None,
        known_af: Some(plan.baseline.known_af),
        usual_cognition: String::new(),
        usual_mobility: String::new(),
    });
    edits
}

/// A review as one change: the review itself and the baseline fields it updated (the
/// others carried over from the plan's current baseline).
pub(crate) fn review_edits(doc: &PlanDoc, review: &Review) -> Result<Vec<Edit>, ApplyError> {
    let current = doc.plan()?;
    let base = current.baseline;
    let update = &review.updates.baseline;
    let (systolic, diastolic) = split_bp(&update.bp);
    Ok(vec![
        Edit::RecordReview {
            id: format!("review-{}", current.reviews.len()),
            date: review.date.clone(),
            face_to_face: true,
            reviewer: review.reviewer.clone(),
            attendees: String::new(),
            notes: review.notes.clone(),
            changes: String::new(),
            still_in_top_5_percent: None,
            outcome: ReviewOutcome::Continue,
            next_review_due: None,
        },
        Edit::RecordBaseline {
            observed_on: review.date.clone(),
            pulse_bpm: Some(update.pulse),
            systolic_mmhg: systolic,
            diastolic_mmhg: diastolic,
            respiratory_rate: base.respiratory_rate,
            spo2_percent: Some(update.spo2),
            temperature_decidegrees: base.temperature_decidegrees,
            peak_flow_l_min: base.peak_flow_l_min,
            weight_decikg: base.weight_decikg,
            known_af: base.known_af,
            usual_cognition: base.usual_cognition,
            usual_mobility: base.usual_mobility,
        },
    ])
}

/// The plan's document, built as described in the module documentation.
pub(crate) fn build(
    plan: &Plan,
    actor: ActorId,
    editor: &Editor,
    now_ms: i64,
) -> Result<PlanDoc, ApplyError> {
    let mut doc = PlanDoc::create(actor, &new_plan(plan), editor, now_ms)?;
    // Completing the plan (seed 003 step 16) takes records the workload does not hold and
    // a paper copy of the plan as set up: the test kit's, as for the generated caseload.
    let mut edits = setup(plan);
    edits.extend(redfolder_shared::testkit::completion(
        &doc,
        &edits,
        editor,
        now_ms + 1,
    )?);
    doc.apply_all(&edits, editor, now_ms + 1)?;
    for (i, review) in plan.reviews.iter().enumerate() {
        let edits = review_edits(&doc, review)?;
        doc.apply_all(&edits, editor, now_ms + 2 + i as i64)?;
    }
    Ok(doc)
}

/// The size of one change as Automerge encodes it, the floor S2 compares bytes against.
pub(crate) fn change_size(doc: &mut PlanDoc, hash: &ChangeHash) -> usize {
    doc.automerge()
        .get_change_by_hash(hash)
        .map_or(0, |c| c.raw_bytes().len())
}

/// Sorted heads, to compare documents across devices.
pub(crate) fn sorted_heads(doc: &mut PlanDoc) -> Vec<ChangeHash> {
    let mut heads = doc.heads();
    heads.sort();
    heads
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::caseload::{DEFAULT_SEED, generate, home_visits};

    const NOW: i64 = 1_795_960_800_000;

    #[test]
    fn built_plans_are_complete_with_one_change_per_review() {
        let editor = Editor {
            user_id: "u1".into(),
            user_name: "Bench".into(),
        };
        let caseload = generate(30, DEFAULT_SEED);
        let visits = home_visits(&caseload, 30, DEFAULT_SEED);
        for (plan, visit) in caseload.plans.iter().zip(&visits.visits) {
            let mut doc = build(plan, ActorId::random(), &editor, NOW).unwrap();
            let care_plan = doc.plan().unwrap();
            assert_eq!(care_plan.patient.nhs_number, plan.patient.nhs_number);
            assert_eq!(care_plan.reviews.len(), plan.reviews.len());
            let last = &plan.reviews.last().unwrap().updates.baseline;
            assert_eq!(care_plan.baseline.pulse_bpm, Some(last.pulse));
            let before = doc.automerge().get_changes(&[]).len();
            let edits = review_edits(&doc, &visit.review).unwrap();
            let hash = doc.apply_all(&edits, &editor, NOW + 100).unwrap();
            assert_eq!(doc.automerge().get_changes(&[]).len(), before + 1);
            assert!(change_size(&mut doc, &hash) > visit.review.notes.len() / 2);
        }
        assert_eq!(
            split_medication("Alendronic acid 70mg weekly").0,
            "Alendronic acid"
        );
        assert_eq!(split_medication("Adcal-D3 BD").1, "BD");
    }
}
