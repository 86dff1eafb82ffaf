//! Who may reach which plan, and which parts of it they may change.
//!
//! Pure rules, no I/O: the store supplies a [`PatientContext`], the sync connection and
//! the handlers ask. Kept in the server until the shared core's care plan carries a care
//! team and its own permission rules; then [`plan_access`] and [`MDT_PROTECTED`] move
//! there so the app can refuse a forbidden edit before it is made.
//!
//! Until then, care-team membership lives in the server's `care_team` table, maintained
//! by the patient's case managers through `/api/v1/patients/{id}/care-team`.

use std::collections::{BTreeSet, HashMap};

use automerge::legacy::{Key, ObjectId};
use automerge::{AutoCommit, Change, ChangeHash, Prop, ReadDoc};

use crate::audit::purpose;
use crate::domain::{Role, User};

/// The capacity in which a user reaches a plan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlanAccess {
    /// A case manager at the patient's practice: reads and writes the whole plan.
    CaseManager,
    /// A member of the patient's care team, with MDT consent: reads the plan and changes
    /// anything but [`MDT_PROTECTED`].
    Mdt,
}

impl PlanAccess {
    pub fn role(self) -> Role {
        match self {
            PlanAccess::CaseManager => Role::CaseManager,
            PlanAccess::Mdt => Role::MdtMember,
        }
    }

    pub fn purpose(self) -> &'static str {
        match self {
            PlanAccess::CaseManager => purpose::DIRECT_CARE,
            PlanAccess::Mdt => purpose::MDT_CARE,
        }
    }
}

/// What the rules need to know about a patient, seen from the user's organisation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatientContext {
    /// The practice the patient is registered at.
    pub organisation_id: String,
    pub share_with_mdt: bool,
    /// Whether the patient's care team includes the user's organisation.
    pub in_care_team: bool,
}

/// Whether, and as what, `user` may sync the plan of the patient described by `patient`.
/// Emergency clinicians, commissioners and admins never reach a plan through these roles.
pub fn plan_access(user: &User, patient: &PatientContext) -> Option<PlanAccess> {
    if user.disabled {
        return None;
    }
    if user.has(Role::CaseManager) && patient.organisation_id == user.organisation_id {
        return Some(PlanAccess::CaseManager);
    }
    if user.has(Role::MdtMember) && patient.share_with_mdt && patient.in_care_team {
        return Some(PlanAccess::Mdt);
    }
    None
}

/// Top-level plan fields an MDT member may not change, with how a refusal names them.
pub const MDT_PROTECTED: &[(&str, &str)] = &[
    ("patient", "patient identity"),
    ("consent", "consent"),
    ("dnacpr", "DNACPR"),
    ("resuscitation", "DNACPR"),
    ("schema_version", "the plan's schema version"),
];

/// The name a change's write to an unidentifiable place is given.
const UNKNOWN_FIELD: &str = "<unknown>";

/// For each change, the top-level plan fields it writes to (including fields nested
/// objects belong to). `doc` must already hold the changes.
///
/// This looks at every operation, not at the visible difference: a write that loses a
/// conflict today can win tomorrow, so it counts as touching its field.
pub fn touched_fields(doc: &AutoCommit, changes: &[Change]) -> Vec<(ChangeHash, BTreeSet<String>)> {
    let mut owners: HashMap<String, String> = HashMap::new();
    changes
        .iter()
        .map(|change| {
            let expanded = change.decode();
            let mut fields = BTreeSet::new();
            for op in &expanded.operations {
                let field = match (&op.obj, &op.key) {
                    (ObjectId::Root, Key::Map(name)) => name.to_string(),
                    (ObjectId::Root, Key::Seq(_)) => UNKNOWN_FIELD.to_owned(),
                    (ObjectId::Id(id), _) => {
                        let id = id.to_string();
                        owners
                            .entry(id.clone())
                            .or_insert_with(|| owning_field(doc, &id))
                            .clone()
                    }
                };
                fields.insert(field);
            }
            (change.hash(), fields)
        })
        .collect()
}

/// The top-level field an object lives under.
fn owning_field(doc: &AutoCommit, obj: &str) -> String {
    let Ok(id) = doc.import_obj(obj) else {
        return UNKNOWN_FIELD.to_owned();
    };
    let Ok(parents) = doc.parents(&id) else {
        return UNKNOWN_FIELD.to_owned();
    };
    match parents.last().map(|p| p.prop) {
        Some(Prop::Map(name)) => name,
        _ => UNKNOWN_FIELD.to_owned(),
    }
}

/// The first change that writes a field an MDT member may not change, with that field's
/// name as a refusal says it. Writes nobody can place are refused too.
pub fn mdt_violation(touched: &[(ChangeHash, BTreeSet<String>)]) -> Option<(ChangeHash, String)> {
    touched.iter().find_map(|(hash, fields)| {
        fields.iter().find_map(|field| {
            if field == UNKNOWN_FIELD {
                return Some((*hash, "a part of the document outside the plan".to_owned()));
            }
            MDT_PROTECTED
                .iter()
                .find(|(name, _)| name == field)
                .map(|(_, label)| (*hash, (*label).to_owned()))
        })
    })
}

#[cfg(test)]
mod tests {
    use automerge::transaction::Transactable;
    use redfolder_shared::{ActorId, DnacprStatus, Edit, Editor, NewPlan, PlanDoc};

    use super::*;

    fn user(roles: &[Role], org: &str) -> User {
        User {
            id: "u".into(),
            username: "u".into(),
            name: "U".into(),
            roles: roles.to_vec(),
            organisation_id: org.into(),
            organisation_name: "Org".into(),
            disabled: false,
        }
    }

    fn patient(org: &str, mdt: bool, team: bool) -> PatientContext {
        PatientContext {
            organisation_id: org.into(),
            share_with_mdt: mdt,
            in_care_team: team,
        }
    }

    #[test]
    fn who_reaches_a_plan() {
        use PlanAccess::*;
        let cases: &[(&[Role], &str, PatientContext, Option<PlanAccess>)] = &[
            (
                &[Role::CaseManager],
                "gp",
                patient("gp", false, false),
                Some(CaseManager),
            ),
            (
                &[Role::CaseManager],
                "other",
                patient("gp", true, true),
                None,
            ),
            (
                &[Role::MdtMember],
                "dn",
                patient("gp", true, true),
                Some(Mdt),
            ),
            (&[Role::MdtMember], "dn", patient("gp", false, true), None),
            (&[Role::MdtMember], "dn", patient("gp", true, false), None),
            (
                &[Role::EmergencyClinician],
                "gp",
                patient("gp", true, true),
                None,
            ),
            (&[Role::Commissioner], "gp", patient("gp", true, true), None),
            (&[Role::Admin], "gp", patient("gp", true, true), None),
            (
                &[Role::CaseManager, Role::Admin],
                "gp",
                patient("gp", false, false),
                Some(CaseManager),
            ),
            (
                &[Role::CaseManager, Role::MdtMember],
                "dn",
                patient("gp", true, true),
                Some(Mdt),
            ),
        ];
        for (roles, org, ctx, expected) in cases {
            assert_eq!(
                plan_access(&user(roles, org), ctx),
                *expected,
                "{roles:?} at {org}, {ctx:?}"
            );
        }
        let mut disabled = user(&[Role::CaseManager], "gp");
        disabled.disabled = true;
        assert_eq!(plan_access(&disabled, &patient("gp", true, true)), None);
    }

    fn plan() -> PlanDoc {
        let new = NewPlan {
            nhs_number: "9434765919".into(),
            name: "Ada Example".into(),
            date_of_birth: "1938-02-28".into(),
            address: "1 High Street".into(),
        };
        PlanDoc::create(ActorId::from(b"server".as_slice()), &new, &editor(), 1_000).unwrap()
    }

    fn editor() -> Editor {
        Editor {
            user_id: "u1".into(),
            user_name: "Nurse".into(),
        }
    }

    /// The fields `edit` touches, as the server sees it after sync.
    fn touched_by(edit: &Edit) -> BTreeSet<String> {
        let mut base = plan();
        let before = base.heads();
        let mut device = PlanDoc::load(&base.save(), ActorId::from(b"device".as_slice())).unwrap();
        device.apply(edit, &editor(), 2_000).unwrap();
        let am = device.automerge();
        let changes = am.get_changes(&before);
        let mut server = base.automerge().clone();
        server.apply_changes(changes.clone()).unwrap();
        let touched = touched_fields(&server, &changes);
        assert_eq!(touched.len(), 1);
        touched.into_iter().next().unwrap().1
    }

    fn set(fields: &[&str]) -> BTreeSet<String> {
        fields.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn each_edit_touches_its_field_and_last_updated() {
        let cases = [
            (
                Edit::SetDnacpr {
                    status: DnacprStatus::DoNotAttemptCpr,
                },
                "dnacpr",
            ),
            (
                Edit::SetConsent {
                    share_with_mdt: true,
                    share_with_emergency_services: false,
                },
                "consent",
            ),
            (
                Edit::AddMedication {
                    id: "m".into(),
                    name: "Drug".into(),
                    dose: "1 mg".into(),
                    notes: String::new(),
                },
                "medications",
            ),
            (
                Edit::SpliceExacerbationPlan {
                    index: 0,
                    delete: 0,
                    insert: "Call the matron".into(),
                },
                "exacerbation_plan",
            ),
            (
                Edit::SetPatient {
                    nhs_number: "9434765919".into(),
                    name: "Ada Other".into(),
                    date_of_birth: "1938-02-28".into(),
                    address: "2 High Street".into(),
                },
                "patient",
            ),
        ];
        for (edit, field) in cases {
            assert_eq!(touched_by(&edit), set(&[field, "last_updated"]), "{edit:?}");
        }
    }

    #[test]
    fn a_raw_write_inside_a_nested_object_is_attributed_to_its_field() {
        let mut base = plan();
        let consent = Edit::SetConsent {
            share_with_mdt: true,
            share_with_emergency_services: false,
        };
        base.apply(&consent, &editor(), 1_500).unwrap();
        let before = base.heads();
        let mut device = PlanDoc::load(&base.save(), ActorId::from(b"rogue".as_slice())).unwrap();
        let am = device.automerge();
        let (_, consent) = am.get(automerge::ROOT, "consent").unwrap().unwrap();
        am.put(&consent, "share_with_emergency_services", true)
            .unwrap();
        am.commit();
        let changes = am.get_changes(&before);
        let mut server = base.automerge().clone();
        server.apply_changes(changes.clone()).unwrap();
        let touched = touched_fields(&server, &changes);
        assert_eq!(touched[0].1, set(&["consent"]));
        let (hash, label) = mdt_violation(&touched).unwrap();
        assert_eq!((hash, label.as_str()), (changes[0].hash(), "consent"));
        assert_eq!(
            mdt_violation(&[(hash, set(&["medications", "last_updated"]))]),
            None
        );
    }
}
