//! The patient, enrolment, care team, contacts and consent.

use super::*;

/// Applies `edit`, one of this module's kinds (the caller routes only those here).
pub(super) fn apply(
    edit: &Edit,
    plan: &mut CarePlan,
    by: &Attribution,
    today: Date,
) -> Result<Vec<Field>, EditError> {
    let touched = match edit {
        Edit::SetPatient {
            nhs_number,
            name,
            date_of_birth,
            address,
        } => {
            let nhs = NhsNumber::parse(nhs_number)?;
            let name = required("name", name)?;
            let dob = past_date("date of birth", date_of_birth, today)?;
            let address = optional("address", address, MAX_SHORT * 2)?;
            let p = &mut plan.patient;
            p.nhs_number = nhs.digits();
            p.name = name;
            p.date_of_birth = dob;
            p.address = address;
            vec![Field::Patient]
        }
        Edit::SetPatientDetails {
            preferred_name,
            sex,
            phone,
            access_notes,
            residence,
            gp_practice_ods,
            gp_practice_name,
            named_gp,
            communication_needs,
            interpreter_language,
        } => {
            let ods = optional("GP practice ODS code", gp_practice_ods, 10)?;
            if !ods.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(EditError::InvalidCode {
                    field: "GP practice ODS code",
                });
            }
            let p = &mut plan.patient;
            p.preferred_name = optional("preferred name", preferred_name, MAX_SHORT)?;
            p.sex = *sex;
            p.phone = optional("phone", phone, MAX_SHORT)?;
            p.access_notes = optional("access notes", access_notes, MAX_SHORT * 2)?;
            p.residence = *residence;
            p.gp_practice_ods = ods.to_ascii_uppercase();
            p.gp_practice_name = optional("GP practice", gp_practice_name, MAX_SHORT)?;
            p.named_gp = optional("named GP", named_gp, MAX_SHORT)?;
            p.communication_needs =
                optional("communication needs", communication_needs, MAX_SHORT * 5)?;
            p.interpreter_language =
                optional("interpreter language", interpreter_language, MAX_SHORT)?;
            vec![Field::Patient]
        }
        Edit::SetEnrolment {
            cohort,
            tier,
            start_date,
            review_interval_months,
        } => {
            if let Some(months) = review_interval_months {
                plausible("review interval (months)", Some(*months), 1, 12)?;
            }
            let start = start_date
                .as_deref()
                .map(|d| past_date("start date", d, today))
                .transpose()?;
            let e = &mut plan.enrolment;
            e.cohort = *cohort;
            e.tier = *tier;
            e.start_date = start;
            e.review_interval_months = *review_interval_months;
            vec![Field::Enrolment]
        }
        Edit::SetCaseManager { name, role, phone } => {
            plan.enrolment.case_manager = Some(CaseManager {
                name: required("case manager", name)?,
                role: optional("role", role, MAX_SHORT)?,
                phone: optional("phone", phone, MAX_SHORT)?,
                recorded: by.clone(),
            });
            vec![Field::Enrolment]
        }
        Edit::AddCareTeamMember {
            id,
            kind,
            role,
            name,
            organisation,
            phone,
            hours,
        } => {
            unique_id(id, plan.care_team.iter().map(|m| &m.id))?;
            let member = CareTeamMember {
                id: id.clone(),
                kind: *kind,
                role: required("role", role)?,
                name: optional("name", name, MAX_SHORT)?,
                organisation: optional("organisation", organisation, MAX_SHORT)?,
                phone: optional("phone", phone, MAX_SHORT)?,
                hours: optional("hours", hours, MAX_SHORT)?,
                recorded: by.clone(),
                entered_in_error: None,
                updated: None,
            };
            if member.kind != TeamContactKind::Member && member.phone.is_empty() {
                return Err(EditError::Required { field: "phone" });
            }
            plan.care_team.push(member);
            vec![Field::CareTeam]
        }
        Edit::UpdateCareTeamMember {
            id,
            kind,
            role,
            name,
            organisation,
            phone,
            hours,
        } => {
            let m = live_entry!(plan.care_team, id);
            if let Some(kind) = kind {
                m.kind = *kind;
            }
            update(&mut m.role, role, |v| required("role", v))?;
            update(&mut m.name, name, |v| optional("name", v, MAX_SHORT))?;
            update(&mut m.organisation, organisation, |v| {
                optional("organisation", v, MAX_SHORT)
            })?;
            update(&mut m.phone, phone, |v| optional("phone", v, MAX_SHORT))?;
            update(&mut m.hours, hours, |v| optional("hours", v, MAX_SHORT))?;
            if m.kind != TeamContactKind::Member && m.phone.is_empty() {
                return Err(EditError::Required { field: "phone" });
            }
            m.updated = Some(by.clone());
            vec![Field::CareTeam]
        }
        Edit::SetConsent {
            share_with_mdt,
            share_with_emergency_services,
        } => {
            let mut recipients = Vec::new();
            if *share_with_mdt {
                recipients.push(ConsentRecipient::Mdt);
            }
            if *share_with_emergency_services {
                recipients.extend([
                    ConsentRecipient::OutOfHours,
                    ConsentRecipient::Ambulance,
                    ConsentRecipient::EmergencyDepartment,
                ]);
            }
            let c = &mut plan.consent;
            c.withdrawn = None;
            c.recorded = Some(by.clone());
            c.set_recipients(recipients);
            resolved(plan, SafetyField::Consent);
            vec![Field::Consent]
        }
        Edit::RecordConsent {
            recipients,
            given_by,
            capacity_note,
            consent_date,
        } => {
            if recipients.is_empty() {
                return Err(EditError::NoRecipients);
            }
            let date = past_date("consent date", consent_date, today)?;
            let note = optional("capacity note", capacity_note, MAX_LONG)?;
            let c = &mut plan.consent;
            c.withdrawn = None;
            c.given_by = Some(*given_by);
            c.capacity_note = note;
            c.consent_date = Some(date);
            c.recorded = Some(by.clone());
            c.set_recipients(recipients.clone());
            resolved(plan, SafetyField::Consent);
            vec![Field::Consent]
        }
        Edit::WithdrawConsent { date } => {
            if plan.consent.recorded.is_none() {
                return Err(EditError::NoConsentToWithdraw);
            }
            if plan.consent.withdrawn.is_some() {
                return Err(EditError::ConsentAlreadyWithdrawn);
            }
            let date = past_date("withdrawal date", date, today)?;
            let c = &mut plan.consent;
            c.withdrawn = Some(ConsentWithdrawal {
                date,
                recorded: by.clone(),
            });
            c.recorded = Some(by.clone());
            let recipients = std::mem::take(&mut c.recipients);
            c.set_recipients(recipients);
            resolved(plan, SafetyField::Consent);
            vec![Field::Consent]
        }
        Edit::AddContact {
            id,
            role,
            name,
            phone,
        } => {
            unique_id(id, plan.key_contacts.iter().map(|c| &c.id))?;
            plan.key_contacts.push(Contact {
                id: id.clone(),
                role: required("contact role", role)?,
                name: required("contact name", name)?,
                phone: optional("phone", phone, MAX_SHORT)?,
                recorded: by.clone(),
                entered_in_error: None,
                relationship: None,
                updated: None,
            });
            vec![Field::KeyContacts]
        }
        Edit::AddPersonalContact {
            id,
            relationship,
            name,
            phone,
        } => {
            unique_id(id, plan.key_contacts.iter().map(|c| &c.id))?;
            plan.key_contacts.push(Contact {
                id: id.clone(),
                role: relationship.label().to_owned(),
                name: required("contact name", name)?,
                phone: optional("phone", phone, MAX_SHORT)?,
                recorded: by.clone(),
                entered_in_error: None,
                relationship: Some(*relationship),
                updated: None,
            });
            vec![Field::KeyContacts]
        }
        Edit::UpdateContact {
            id,
            role,
            relationship,
            name,
            phone,
        } => {
            let c = live_entry!(plan.key_contacts, id);
            match (relationship, role) {
                (Some(_), Some(_)) => {
                    return Err(EditError::NotApplicable {
                        field: "a role beside a relationship",
                    });
                }
                (Some(relationship), None) if c.relationship.is_some() => {
                    c.relationship = Some(*relationship);
                    c.role = relationship.label().to_owned();
                }
                (Some(_), None) => {
                    return Err(EditError::NotApplicable {
                        field: "relationship",
                    });
                }
                (None, Some(_)) if c.relationship.is_some() => {
                    return Err(EditError::NotApplicable { field: "role" });
                }
                (None, role) => update(&mut c.role, role, |v| required("contact role", v))?,
            }
            update(&mut c.name, name, |v| required("contact name", v))?;
            update(&mut c.phone, phone, |v| optional("phone", v, MAX_SHORT))?;
            c.updated = Some(by.clone());
            vec![Field::KeyContacts]
        }
        _ => unreachable!("edit::apply_to routes only patient edits here"),
    };
    Ok(touched)
}
