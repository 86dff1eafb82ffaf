//! The demo's referrals: `reviewer.demo`'s specialties and a referral at each point of
//! peer review, made and stepped with their audit entries as the routes would, and the
//! decisions written into the patients' plans once the server's state exists.

use anyhow::Context;

use crate::domain::{Role, now_ms};
use crate::store::Store;

/// `reviewer.demo`'s specialties, and whether they are still mentored in each.
const DEMO_REVIEWS: [(&str, bool); 4] = [
    ("Cardiology", false),
    ("Dermatology", true),
    ("Respiratory", true),
    ("Gastroenterology", false),
];

/// A few referrals from the demo practice, one at each point of peer review, when the
/// practice has none: two awaiting review (one overdue), one with a question for the
/// referrer, one returned with advice to acknowledge, one forwarded. Each is made and
/// stepped with its audit entries, as the routes would; the ids of those decided are
/// returned so their decisions go into the plans through the commit path.
pub(super) async fn seed_referrals(
    store: &Store,
    practice: &str,
    now: i64,
) -> anyhow::Result<Vec<String>> {
    use redfolder_shared::Date;
    use redfolder_shared::referral::{Advice, Referral, Step, Urgency, review_deadline};

    use crate::audit::{AuditEvent, action, purpose};
    use crate::domain::Principal;
    use crate::store::referrals::{NewReferral, StepRecord};

    let (Some(referrer), Some(reviewer)) = (
        store.user_by_username("cm1.demo").await?,
        store.user_by_username("reviewer.demo").await?,
    ) else {
        return Ok(Vec::new());
    };
    let as_referrer = Principal {
        user: referrer.clone(),
        device_id: DEMO_DEVICE.to_owned(),
    };
    let as_reviewer = Principal {
        user: reviewer.clone(),
        device_id: DEMO_DEVICE.to_owned(),
    };
    let mut decided_ids = Vec::new();
    if store
        .reviewer_assignments(Some(&reviewer.id))
        .await?
        .is_empty()
    {
        for (specialty, mentored) in DEMO_REVIEWS {
            store
                .assign_reviewer(&reviewer.id, specialty, mentored, None, now, &[])
                .await?;
        }
    }
    if !store.practice_referrals(practice, 1).await?.is_empty() {
        return Ok(Vec::new());
    }
    let holidays: Vec<Date> = store
        .bank_holidays()
        .await?
        .iter()
        .filter_map(|d| Date::parse(d))
        .collect();
    let ids = store.practice_patient_ids(practice).await?;
    let day_ms = 86_400_000;
    // (patient, specialty, condition, question, history, days ago, the reviewer's step)
    type DemoReferral = (
        usize,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        i64,
        Option<Step>,
    );
    let cases: [DemoReferral; 5] = [
        (0, "Cardiology", "Atrial fibrillation",
            "Rate or rhythm control? Would you consider ablation?",
            "Palpitations for 3 months. ECG: AF, rate 96. Echo not done. On bisoprolol 2.5 mg.", 0, None),
        (1, "Dermatology", "Eczema",
            "Flexural eczema not settling: is patch testing indicated?",
            "Emollients and 1% hydrocortisone for 8 weeks, partial response. No infection.", 9, None),
        (2, "Respiratory", "Chronic cough",
            "Cough for 10 weeks in an ex-smoker: please assess.",
            "No haemoptysis or weight loss. Chest clear. No spirometry or chest X-ray yet.", 4,
            Some(Step::Return { advice: Advice {
                tests: Some("Chest X-ray and spirometry with reversibility".into()),
                treatment: Some("If spirometry suggests asthma, a 6-week trial of inhaled steroid".into()),
                re_refer_when: "If the X-ray is abnormal (then as two-week wait) or the cough persists after the trial".into(),
            } })),
        (3, "Cardiology", "Heart murmur",
            "New systolic murmur: please assess.",
            "Asymptomatic. BP 150/84. No syncope.", 2,
            Some(Step::AskQuestion { question: "Has an echocardiogram been requested? Any exertional symptoms?".into() })),
        (4, "Gastroenterology", "Dyspepsia",
            "Dyspepsia despite 8 weeks of PPI; H. pylori negative.",
            "Weight steady, no dysphagia, FBC and ferritin normal.", 3,
            Some(Step::Forward { note: "Appropriate: refractory dyspepsia after a full PPI trial; please see in clinic.".into() })),
    ];
    for (i, specialty, condition, question, history, days_ago, step) in cases {
        let Some(patient_id) = ids.get(i) else { break };
        let Some(patient) = store.practice_patient(practice, patient_id).await? else {
            continue;
        };
        let received = Date::from_unix_ms(now - days_ago * day_ms);
        let referral = Referral {
            specialty: specialty.into(),
            urgency: Urgency::Routine,
            condition: condition.into(),
            clinical_question: question.into(),
            relevant_history: history.into(),
        };
        let id = store
            .create_referral(
                &NewReferral {
                    organisation_id: practice,
                    referrer_id: &referrer.id,
                    patient: &patient,
                    referral: &referral,
                    received_on: &received.to_string(),
                    deadline: &review_deadline(received, &holidays).to_string(),
                    attachments: &[],
                    now_ms: now - days_ago * day_ms,
                },
                &[AuditEvent::new(
                    now - days_ago * day_ms,
                    action::REFERRAL_CREATE,
                    purpose::DIRECT_CARE,
                    "ok",
                )
                .by(&as_referrer, Role::CaseManager)
                .patient(patient_id.clone())
                .detail(format!("{specialty} (demo data)"))],
            )
            .await?;
        if let Some(step) = step {
            let to = match &step {
                Step::Return { .. } => "returned",
                Step::AskQuestion { .. } => "question_asked",
                _ => "forwarded",
            };
            let decided = Date::from_unix_ms(now - (days_ago - 1) * day_ms).to_string();
            store
                .record_referral_step(
                    &StepRecord {
                        referral_id: &id,
                        from_state: "awaiting_review",
                        to_state: to,
                        kind: step.kind(),
                        user_id: &reviewer.id,
                        user_name: &reviewer.name,
                        organisation: &reviewer.organisation_name,
                        mentored: DEMO_REVIEWS
                            .iter()
                            .find(|(s, _)| *s == specialty)
                            .map(|(_, m)| *m),
                        body_json: &serde_json::to_string(&step)?,
                        deadline: None,
                        decided_on: step.is_decision().then_some(decided.as_str()),
                        question_asked: matches!(step, Step::AskQuestion { .. }),
                        now_ms: now - (days_ago - 1) * day_ms,
                    },
                    &[AuditEvent::new(
                        now - (days_ago - 1) * day_ms,
                        action::REFERRAL_STEP,
                        purpose::PEER_REVIEW,
                        "ok",
                    )
                    .by(&as_reviewer, Role::GpReviewer)
                    .patient(patient_id.clone())
                    .subject(id.clone())
                    .detail(format!("{} → {to} (demo data)", step.kind()))],
                )
                .await?;
            if step.is_decision() {
                decided_ids.push(id);
            }
        }
    }
    Ok(decided_ids)
}

/// The device id demo data is recorded under.
const DEMO_DEVICE: &str = "demo-seed";

/// Writes the demo reviewer's decisions on `referrals` into the patients' plans, as a
/// decision made through the API is (after the server's state exists, since that goes
/// through the one commit path).
pub async fn record_decisions(
    state: &crate::state::AppState,
    referrals: &[String],
) -> anyhow::Result<()> {
    use redfolder_shared::referral::Step;

    use crate::domain::Principal;

    if referrals.is_empty() {
        return Ok(());
    }
    let Some(reviewer) = state.store().user_by_username("reviewer.demo").await? else {
        return Ok(());
    };
    // A plan's changes are tied to the device that made them: the demo's is listed among
    // the reviewer's devices as what it is.
    let device_id = state
        .store()
        .register_device(&reviewer.id, "Demo data (made by the server)", now_ms())
        .await?;
    let principal = Principal {
        user: reviewer,
        device_id,
    };
    for id in referrals {
        let Some(r) = state.store().referral(id).await? else {
            continue;
        };
        let Some(patient_id) = r.patient_id.clone() else {
            continue;
        };
        let events = state.store().referral_events(id).await?;
        let Some(decision) = events
            .iter()
            .rev()
            .find(|e| e.kind == "forward" || e.kind == "return")
        else {
            continue;
        };
        let step: Step = serde_json::from_value(decision.body.clone())
            .context("reading a demo referral's decision")?;
        crate::routes::record_referral_decision(
            state,
            &principal,
            &r,
            &patient_id,
            &step,
            decision.mentored,
            decision.at_ms,
        )
        .await
        .map_err(|e| anyhow::anyhow!("writing a demo decision into a plan: {e:?}"))?;
    }
    Ok(())
}
