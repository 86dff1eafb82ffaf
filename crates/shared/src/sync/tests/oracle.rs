//! The oracle's side: random valid edits, and what the replicas' writes must leave
//! standing, judged without the core's merge.

use super::*;

/// The id of the value at each register key: it changes exactly when the key is written.
pub(super) fn register_heads(doc: &AutoCommit) -> BTreeMap<SafetyField, String> {
    SafetyField::ALL
        .iter()
        .filter_map(|f| {
            let (_, id) = doc.get(ROOT, f.key()).ok()??;
            Some((*f, id.to_string()))
        })
        .collect()
}

/// What `plan` says for `field`, in the terms that decide a conflict.
pub(super) fn says(plan: &CarePlan, field: SafetyField) -> String {
    match field {
        SafetyField::Dnacpr => {
            let r = plan.resuscitation.as_ref().expect("just written");
            format!(
                "{:?}|{}|{:?}|{}|{}",
                r.status, r.respect_form, r.decision_date, r.decided_by, r.original_location
            )
        }
        SafetyField::Allergies => {
            format!(
                "{:?}",
                plan.allergy_status.as_ref().expect("written").status
            )
        }
        SafetyField::CeilingOfTreatment => {
            let c = plan.ceiling_of_treatment.as_ref().expect("written");
            format!("{:?}|{}", c.ceiling, c.notes)
        }
        SafetyField::AdmissionWanted => {
            let a = plan.admission_wanted.as_ref().expect("written");
            format!("{:?}|{}", a.wanted, a.notes)
        }
        SafetyField::PreferredPlaceOfDeath => plan
            .preferred_place_of_death
            .as_ref()
            .expect("written")
            .place
            .clone(),
        SafetyField::Consent => {
            let c = &plan.consent;
            format!(
                "{:?}|{:?}|{}",
                c.recipients,
                c.given_by,
                c.withdrawn.is_some()
            )
        }
    }
}

/// A random edit that is valid on `plan` as this replica sees it.
pub(super) fn random_edit(
    rng: &mut Rng,
    plan: &CarePlan,
    i: usize,
    n: usize,
    oracle: &mut Oracle,
) -> Option<Edit> {
    let id = format!("d{i}e{n}");
    let token = format!("[{id}]");
    let add = |oracle: &mut Oracle, list: EntryList| {
        oracle.entries.push((list, id.clone()));
    };
    // A clinician who sees a conflict often resolves it first.
    let choice = if !plan.conflicts.is_empty() && rng.chance(25) {
        19
    } else {
        rng.below(25)
    };
    let edit = match choice {
        0 => {
            add(oracle, EntryList::Medications);
            Edit::AddMedication {
                id: id.clone(),
                name: format!("Drug {id}"),
                dose: "1 tablet".into(),
                notes: String::new(),
            }
        }
        1 => {
            add(oracle, EntryList::Conditions);
            Edit::AddCondition {
                id: id.clone(),
                name: format!("Condition {id}"),
                treatment: String::new(),
            }
        }
        2 => {
            add(oracle, EntryList::Allergies);
            Edit::AddAllergy {
                id: id.clone(),
                substance: format!("Allergen {id}"),
                reaction: String::new(),
                severity: AllergySeverity::Unknown,
            }
        }
        3 => {
            add(oracle, EntryList::CareTeam);
            Edit::AddCareTeamMember {
                id: id.clone(),
                kind: TeamContactKind::Member,
                role: "district nurse".into(),
                name: format!("Nurse {id}"),
                organisation: String::new(),
                phone: String::new(),
                hours: String::new(),
            }
        }
        4 => {
            add(oracle, EntryList::Goals);
            Edit::AddGoal {
                id: id.clone(),
                what_matters: String::new(),
                goal: format!("Goal {id}"),
                owner: String::new(),
            }
        }
        5 => {
            add(oracle, EntryList::EscalationPlans);
            oracle
                .tokens
                .push((TextTarget::EscalationPlan { id: id.clone() }, token.clone()));
            Edit::AddEscalationPlan {
                id: id.clone(),
                condition: "COPD".into(),
                plan: token,
                rescue_pack: String::new(),
            }
        }
        6 => {
            add(oracle, EntryList::MdtDiscussions);
            Edit::AddMdtDiscussion {
                id: id.clone(),
                date: "2026-11-01".into(),
                attendees: "GP, DN".into(),
                outcome: "continue".into(),
                referrals: String::new(),
            }
        }
        7 => {
            add(oracle, EntryList::KeyContacts);
            Edit::AddContact {
                id: id.clone(),
                role: "neighbour".into(),
                name: format!("Neighbour {id}"),
                phone: String::new(),
            }
        }
        8 => {
            // Mark a live entry of this replica's view entered-in-error.
            let live: Vec<(EntryList, String)> = plan
                .active_medications()
                .map(|m| (EntryList::Medications, m.id.clone()))
                .chain(
                    plan.active_allergies()
                        .map(|a| (EntryList::Allergies, a.id.clone())),
                )
                .chain(
                    plan.active_goals()
                        .map(|g| (EntryList::Goals, g.id.clone())),
                )
                .collect();
            if live.is_empty() {
                return None;
            }
            let (list, id) = live[rng.below(live.len())].clone();
            oracle.marked.push((list, id.clone()));
            Edit::MarkEnteredInError { list, id }
        }
        9 | 10 => {
            // Type a token at a token boundary of some text, so every token stays whole.
            let mut targets = vec![
                TextTarget::ExacerbationPlan,
                TextTarget::SelfManagementAdvice,
            ];
            targets.extend(
                plan.active_escalation_plans()
                    .map(|e| TextTarget::EscalationPlan { id: e.id.clone() }),
            );
            let target = targets[rng.below(targets.len())].clone();
            let text = match &target {
                TextTarget::ExacerbationPlan => plan.exacerbation_plan.as_str(),
                TextTarget::SelfManagementAdvice => plan.self_management_advice.as_str(),
                TextTarget::EscalationPlan { id } => plan
                    .escalation_plans
                    .iter()
                    .find(|e| &e.id == id)
                    .expect("listed")
                    .plan
                    .as_str(),
                _ => unreachable!(),
            };
            let mut bounds: Vec<usize> = vec![0, text.len()];
            bounds.extend(text.match_indices('[').map(|(p, _)| p));
            let index = bounds[rng.below(bounds.len())];
            oracle.tokens.push((target.clone(), token.clone()));
            Edit::SpliceText {
                target,
                index,
                delete: 0,
                insert: token,
            }
        }
        11 => Edit::SetPreferredPlaceOfCare {
            place: format!("place {id}"),
        },
        12 => Edit::SetDnacpr {
            status: *rng.pick(&[
                DnacprStatus::NotRecorded,
                DnacprStatus::ForAttemptedCpr,
                DnacprStatus::DoNotAttemptCpr,
            ]),
        },
        13 => Edit::SetResuscitation {
            status: DnacprStatus::DoNotAttemptCpr,
            respect_form: rng.chance(50),
            decision_date: Some("2026-11-01".into()),
            decided_by: "Dr A".into(),
            original_location: (*rng.pick(&["red folder", "hospital notes"])).into(),
        },
        14 => Edit::SetCeilingOfTreatment {
            ceiling: *rng.pick(&[
                TreatmentCeiling::FullEscalation,
                TreatmentCeiling::WardBasedCare,
                TreatmentCeiling::CommunityCare,
                TreatmentCeiling::ComfortCareOnly,
            ]),
            notes: String::new(),
        },
        15 => Edit::SetAdmissionWanted {
            wanted: *rng.pick(&[AdmissionWish::Wanted, AdmissionWish::NotWanted]),
            notes: String::new(),
        },
        16 => Edit::SetPreferredPlaceOfDeath {
            place: (*rng.pick(&["Home", "Hospice", "Hospital"])).into(),
        },
        17 => {
            if plan.active_allergies().next().is_some() {
                return None;
            }
            Edit::RecordNoKnownAllergies
        }
        18 => {
            if rng.chance(30) && plan.consent.recorded.is_some() && plan.consent.withdrawn.is_none()
            {
                Edit::WithdrawConsent {
                    date: "2026-11-28".into(),
                }
            } else {
                let recipients: Vec<ConsentRecipient> = ConsentRecipient::ALL
                    .into_iter()
                    .filter(|_| rng.chance(50))
                    .collect();
                if recipients.is_empty() {
                    Edit::SetConsent {
                        share_with_mdt: rng.chance(50),
                        share_with_emergency_services: rng.chance(50),
                    }
                } else {
                    Edit::RecordConsent {
                        recipients,
                        given_by: *rng.pick(&[ConsentGivenBy::Patient, ConsentGivenBy::LpaHolder]),
                        capacity_note: String::new(),
                        consent_date: "2026-11-01".into(),
                    }
                }
            }
        }
        22 | 23 => {
            // Correct a live medication's dose or notes in place.
            let live: Vec<String> = plan.active_medications().map(|m| m.id.clone()).collect();
            if live.is_empty() {
                return None;
            }
            let id = live[rng.below(live.len())].clone();
            let value = format!("{} {n}", ["x", "y", "z"][rng.below(3)]);
            let notes = rng.chance(50);
            oracle.corrections.push(Correction {
                id: id.clone(),
                field: if notes { "notes" } else { "dose" },
                value: value.clone(),
                hash: None,
            });
            let (dose, notes) = if notes {
                (None, Some(value))
            } else {
                (Some(value), None)
            };
            Edit::UpdateMedication {
                id,
                name: None,
                dose,
                notes,
                location: None,
            }
        }
        19 | 20 => {
            // A clinician who sees a conflict resolves it, keeping one of its values.
            let c = plan.conflicts.get(rng.below(plan.conflicts.len().max(1)))?;
            let v = &c.values[rng.below(c.values.len())];
            if c.field == SafetyField::Allergies
                && v.label == AllergyStatus::NoKnownAllergies.label()
                && plan.active_allergies().next().is_some()
            {
                return None;
            }
            oracle.resolutions += 1;
            Edit::ResolveConflict {
                field: c.field,
                keep: v.id.clone(),
            }
        }
        // Printing the yellow pages for the home, from this replica's own copy.
        24 => Edit::RecordPaperCopy {
            fingerprint: plan.summary_fingerprint().whole,
        },
        _ => Edit::SetCaseManager {
            name: format!("Manager {id}"),
            role: String::new(),
            phone: String::new(),
        },
    };
    Some(edit)
}

impl Oracle {
    /// Records the change `hash` just made on `doc` (whose register heads were `before`).
    pub(super) fn record(
        &mut self,
        doc: &PlanDoc,
        hash: ChangeHash,
        deps: Vec<ChangeHash>,
        before: &BTreeMap<SafetyField, String>,
        editor: &Editor,
        at_ms: i64,
    ) {
        self.deps.insert(hash, deps);
        for c in self.corrections.iter_mut().filter(|c| c.hash.is_none()) {
            c.hash = Some(hash);
        }
        let after = register_heads(&doc.doc);
        if &after == before {
            return;
        }
        let plan = doc.plan().expect("readable");
        for field in SafetyField::ALL {
            if before.get(&field) != after.get(&field) {
                self.writes.push(Write {
                    field,
                    says: says(&plan, field),
                    user_id: editor.user_id.clone(),
                    at_ms,
                    hash,
                });
            }
        }
    }

    /// Checks the converged plan against what the replicas did.
    pub(super) fn check(&self, plan: &CarePlan) {
        let find = |list: EntryList, id: &str| -> Option<bool> {
            macro_rules! look {
                ($field:ident) => {
                    plan.$field
                        .iter()
                        .find(|e| e.id == id)
                        .map(|e| e.entered_in_error.is_some())
                };
            }
            match list {
                EntryList::Conditions => look!(conditions),
                EntryList::Medications => look!(medications),
                EntryList::KeyContacts => look!(key_contacts),
                EntryList::CareTeam => look!(care_team),
                EntryList::Allergies => look!(allergies),
                EntryList::EscalationPlans => look!(escalation_plans),
                EntryList::Goals => look!(goals),
                EntryList::Reviews => look!(reviews),
                EntryList::MdtDiscussions => look!(mdt_discussions),
                EntryList::Advice => look!(advice),
            }
        };
        for (list, id) in &self.entries {
            assert!(find(*list, id).is_some(), "{list:?} entry {id} was lost");
        }
        for (list, id) in &self.marked {
            assert_eq!(find(*list, id), Some(true), "{list:?} {id} lost its mark");
        }
        // A corrected field holds a correction that no later correction of the same field
        // was built on: corrections of other fields and entries never overwrite it.
        let mut fields: BTreeMap<(&str, &str), Vec<&Correction>> = BTreeMap::new();
        for c in &self.corrections {
            fields.entry((c.id.as_str(), c.field)).or_default().push(c);
        }
        for ((id, field), writes) in fields {
            let hashes = |c: &Correction| c.hash.expect("recorded");
            let superseded: BTreeSet<ChangeHash> = writes
                .iter()
                .flat_map(|c| self.ancestors(hashes(c)))
                .collect();
            let standing: Vec<&str> = writes
                .iter()
                .filter(|c| !superseded.contains(&hashes(c)))
                .map(|c| c.value.as_str())
                .collect();
            let m = plan
                .medications
                .iter()
                .find(|m| m.id == id)
                .expect("corrected medication kept");
            let value = if field == "notes" { &m.notes } else { &m.dose };
            assert!(
                standing.contains(&value.as_str()),
                "medication {id} {field} is {value:?}, not one of the standing corrections {standing:?}"
            );
        }
        for (target, token) in &self.tokens {
            let text = match target {
                TextTarget::ExacerbationPlan => plan.exacerbation_plan.as_str(),
                TextTarget::SelfManagementAdvice => plan.self_management_advice.as_str(),
                TextTarget::EscalationPlan { id } => plan
                    .escalation_plans
                    .iter()
                    .find(|e| &e.id == id)
                    .expect("escalation plan kept")
                    .plan
                    .as_str(),
                _ => unreachable!(),
            };
            assert!(text.contains(token.as_str()), "{target:?} lost {token}");
        }
        let summary = emergency_summary(plan);
        assert_eq!(summary.conflicts, plan.conflicts);
        for field in SafetyField::ALL {
            self.check_field(plan, field);
            let item = match field {
                SafetyField::Dnacpr => &summary.resuscitation,
                SafetyField::Allergies => &summary.allergies,
                SafetyField::CeilingOfTreatment => &summary.ceiling_of_treatment,
                SafetyField::AdmissionWanted => &summary.admission_wanted,
                SafetyField::PreferredPlaceOfDeath => &summary.preferred_place_of_death,
                SafetyField::Consent => &summary.consent,
            };
            let conflict = plan.conflict(field);
            assert_eq!(
                item.conflicting,
                conflict.is_some(),
                "{field} in the summary"
            );
            if let Some(c) = conflict {
                assert_eq!(item.values.len(), c.values.len(), "{field} summary values");
            }
        }
    }

    /// Changes `hash` was built on, directly or not (changes the replicas did not make,
    /// such as the plan's creation, are ancestors of everything and do not matter here).
    pub(super) fn ancestors(&self, hash: ChangeHash) -> BTreeSet<ChangeHash> {
        let mut seen = BTreeSet::new();
        let mut stack = self.deps.get(&hash).cloned().unwrap_or_default();
        while let Some(h) = stack.pop() {
            if seen.insert(h) {
                stack.extend(self.deps.get(&h).into_iter().flatten().copied());
            }
        }
        seen
    }

    /// Writes that no other write of the same field was built on: what still stands.
    pub(super) fn standing(&self, field: SafetyField) -> Vec<&Write> {
        let writes: Vec<&Write> = self.writes.iter().filter(|w| w.field == field).collect();
        let superseded: BTreeSet<ChangeHash> =
            writes.iter().flat_map(|w| self.ancestors(w.hash)).collect();
        writes
            .into_iter()
            .filter(|w| !superseded.contains(&w.hash))
            .collect()
    }

    pub(super) fn check_field(&self, plan: &CarePlan, field: SafetyField) {
        let standing = self.standing(field);
        let conflict = plan.conflict(field);
        if field == SafetyField::Allergies {
            let says = |s: AllergyStatus| standing.iter().any(|w| w.says == format!("{s:?}"));
            let expected = says(AllergyStatus::NoKnownAllergies)
                && (says(AllergyStatus::AllergiesRecorded)
                    || plan.active_allergies().next().is_some());
            assert_eq!(
                conflict.is_some(),
                expected,
                "allergies: standing {:?}, live {}",
                standing.iter().map(|w| &w.says).collect::<Vec<_>>(),
                plan.active_allergies().count()
            );
            return;
        }
        let distinct: BTreeSet<&str> = standing.iter().map(|w| w.says.as_str()).collect();
        assert_eq!(
            conflict.is_some(),
            distinct.len() > 1,
            "{field}: standing values {distinct:?}"
        );
        if let Some(c) = conflict {
            // Every standing value is shown, each with its own author and time.
            assert_eq!(c.values.len(), standing.len(), "{field}");
            for w in &standing {
                assert!(
                    c.values
                        .iter()
                        .any(|v| v.recorded.user_id == w.user_id && v.recorded.at_ms == w.at_ms),
                    "{field}: the value {} by {} is not shown",
                    w.says,
                    w.user_id
                );
            }
        } else if let Some(w) = standing.first() {
            assert_eq!(
                says(plan, field),
                w.says,
                "{field} holds the standing value"
            );
        }
    }
}
