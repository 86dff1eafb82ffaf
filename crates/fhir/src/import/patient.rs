//! The Patient resource read into the plan's patient details: NHS number, name, birth
//! date, sex, address, registered practice and GP.

use std::collections::HashMap;

use redfolder_shared::{NhsNumber, Sex};
use serde_json::Value;

use super::{ImportedPatient, Problems};
use crate::{NHS_NUMBER_SYSTEM, ODS_SYSTEM};

pub(super) fn read_patient(
    r: &Value,
    at: &str,
    by_reference: &HashMap<String, &Value>,
    problems: &mut Problems,
) -> Option<ImportedPatient> {
    let before = problems.0.len();
    let nhs = r["identifier"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|i| i["system"] == NHS_NUMBER_SYSTEM)
        .and_then(|i| i["value"].as_str());
    let nhs_number = match nhs.map(NhsNumber::parse) {
        Some(Ok(n)) => n.digits(),
        Some(Err(e)) => {
            problems.add(
                format!("{at}.identifier"),
                format!("invalid NHS number: {e}"),
            );
            String::new()
        }
        None => {
            problems.add(
                format!("{at}.identifier"),
                format!("required: an identifier with system {NHS_NUMBER_SYSTEM}"),
            );
            String::new()
        }
    };
    let names = r["name"].as_array().cloned().unwrap_or_default();
    let name_of = |n: &Value| -> Option<String> {
        if let Some(t) = n["text"].as_str().map(str::trim).filter(|t| !t.is_empty()) {
            return Some(t.to_owned());
        }
        let mut parts: Vec<String> = n["given"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|g| g.as_str().map(str::to_owned))
            .collect();
        parts.extend(n["family"].as_str().map(str::to_owned));
        let joined = parts.join(" ");
        (!joined.trim().is_empty()).then_some(joined)
    };
    let official = names
        .iter()
        .find(|n| n["use"] == "official")
        .or_else(|| names.iter().find(|n| n["use"] != "usual"))
        .or(names.first())
        .and_then(name_of);
    let preferred = names
        .iter()
        .find(|n| n["use"] == "usual")
        .and_then(name_of)
        .unwrap_or_default();
    let name = official.unwrap_or_else(|| {
        problems.add(format!("{at}.name"), "required: the patient's name");
        String::new()
    });
    let date_of_birth = match r["birthDate"].as_str() {
        Some(d) if redfolder_shared::Date::parse(d).is_some() => d.to_owned(),
        Some(d) => {
            problems.add(
                format!("{at}.birthDate"),
                format!("not a full date (YYYY-MM-DD): {d:?}"),
            );
            String::new()
        }
        None => {
            problems.add(format!("{at}.birthDate"), "required: the date of birth");
            String::new()
        }
    };
    let addresses = r["address"].as_array().cloned().unwrap_or_default();
    let address = addresses
        .iter()
        .find(|a| a["use"] == "home")
        .or(addresses.first())
        .and_then(|a| {
            if let Some(t) = a["text"].as_str().filter(|t| !t.trim().is_empty()) {
                return Some(t.to_owned());
            }
            let mut parts: Vec<String> = a["line"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|l| l.as_str().map(str::to_owned))
                .collect();
            for k in ["city", "district", "postalCode"] {
                parts.extend(a[k].as_str().map(str::to_owned));
            }
            let joined = parts.join(", ");
            (!joined.is_empty()).then_some(joined)
        })
        .unwrap_or_else(|| {
            problems.add(
                format!("{at}.address"),
                "required: the home address (a plan is used at the door)",
            );
            String::new()
        });
    let sex = match r["gender"].as_str() {
        Some("female") => Some(Sex::Female),
        Some("male") => Some(Sex::Male),
        Some("other") => Some(Sex::Other),
        Some("unknown") => Some(Sex::Unknown),
        Some(g) => {
            problems.add(
                format!("{at}.gender"),
                format!("not an AdministrativeGender: {g:?}"),
            );
            None
        }
        None => None,
    };
    let phone = r["telecom"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|t| t["system"] == "phone")
        .and_then(|t| t["value"].as_str())
        .unwrap_or_default()
        .to_owned();
    // The registered practice: a reference carrying its ODS code, or a reference to an
    // Organization in the bundle that has one.
    let (gp_practice_ods, gp_practice_name) = r["generalPractitioner"]
        .as_array()
        .into_iter()
        .flatten()
        .find_map(|g| {
            let display = g["display"].as_str().unwrap_or_default();
            if g["identifier"]["system"] == ODS_SYSTEM {
                let ods = g["identifier"]["value"].as_str()?;
                return Some((ods.to_owned(), display.to_owned()));
            }
            let org = by_reference.get(g["reference"].as_str()?)?;
            if org["resourceType"] != "Organization" {
                return None;
            }
            let ods = org["identifier"]
                .as_array()?
                .iter()
                .find(|i| i["system"] == ODS_SYSTEM)?["value"]
                .as_str()?;
            let name = org["name"].as_str().unwrap_or(display);
            Some((ods.to_owned(), name.to_owned()))
        })
        .unwrap_or_default();
    (problems.0.len() == before).then_some(ImportedPatient {
        nhs_number,
        name,
        preferred_name: preferred,
        date_of_birth,
        address,
        sex,
        phone,
        gp_practice_ods,
        gp_practice_name,
    })
}
