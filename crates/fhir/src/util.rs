//! Small builders shared by export and the document: ids, instants, codings, narrative.

use redfolder_shared::{Attribution, Date};
use serde_json::{Value, json};

/// A FHIR `id`: `[A-Za-z0-9\-\.]{1,64}`. Other characters become `-`; longer ids are
/// cut, keeping the end (where entry ids differ).
pub(crate) fn fhir_id(prefix: &str, raw: &str) -> String {
    let clean: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '-'
            }
        })
        .collect();
    let id = if clean.is_empty() {
        prefix.to_owned()
    } else {
        format!("{prefix}-{clean}")
    };
    let n = id.chars().count();
    if n > 64 {
        id.chars().skip(n - 64).collect()
    } else {
        id
    }
}

/// A stable `urn:uuid:` for a resource of one patient's bundle: FNV-1a (128 bit) of the
/// patient id, resource type and id, shaped as a version-5-style UUID. Not secret, only
/// stable and distinct.
pub(crate) fn urn(patient_id: &str, resource_type: &str, id: &str) -> String {
    const OFFSET: u128 = 0x6c62272e07bb014262b821756295c58d;
    const PRIME: u128 = 0x0000000001000000000000000000013B;
    let mut h = OFFSET;
    for part in [patient_id, resource_type, id] {
        for b in part.bytes().chain([0u8]) {
            h ^= u128::from(b);
            h = h.wrapping_mul(PRIME);
        }
    }
    let h = (h & !(0xf << 76) | (0x5 << 76)) & !(0x3 << 62) | (0x2 << 62);
    let x = format!("{h:032x}");
    format!(
        "urn:uuid:{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

/// An `instant` (and `dateTime`) from milliseconds since the Unix epoch, in UTC.
pub(crate) fn instant(ms: i64) -> String {
    let date = Date::from_unix_ms(ms);
    let in_day = ms.rem_euclid(86_400_000);
    format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        in_day / 3_600_000,
        in_day / 60_000 % 60,
        in_day / 1000 % 60,
        in_day % 1000
    )
}

/// A `date` if `s` is a valid `YYYY-MM-DD`.
pub(crate) fn date(s: &str) -> Option<String> {
    Date::parse(s).map(|d| d.to_string())
}

pub(crate) fn text(s: &str) -> Value {
    json!({ "text": s })
}

pub(crate) fn coded(system: &str, code: &str, display: &str) -> Value {
    json!({ "coding": [{ "system": system, "code": code, "display": display }], "text": display })
}

/// A reference by `fullUrl` to another entry of the same bundle.
pub(crate) fn reference(url: &str, display: Option<&str>) -> Value {
    match display {
        Some(d) if !d.is_empty() => json!({ "reference": url, "display": d }),
        _ => json!({ "reference": url }),
    }
}

/// The identifier system of Red Folder user accounts.
pub(crate) const USER_SYSTEM: &str = "https://redfolder.nhs.example/Id/user";

pub(crate) fn annotation(text: &str, by: Option<&Attribution>) -> Value {
    let mut note = json!({ "text": text });
    if let Some(a) = by {
        note["authorString"] = a.user_name.clone().into();
        note["time"] = instant(a.at_ms).into();
    }
    note
}

/// Escapes text for the XHTML narrative.
pub(crate) fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// A generated narrative: one paragraph per line.
pub(crate) fn narrative(lines: &[String]) -> Value {
    let body: String = if lines.is_empty() {
        "<p>None recorded.</p>".to_owned()
    } else {
        lines.iter().map(|l| format!("<p>{}</p>", xml(l))).collect()
    };
    json!({
        "status": "generated",
        "div": format!("<div xmlns=\"http://www.w3.org/1999/xhtml\">{body}</div>"),
    })
}

/// Drops empty strings, arrays and objects and nulls, so no element is present without
/// a value (FHIR forbids empty elements).
pub(crate) fn prune(v: &mut Value) -> bool {
    match v {
        Value::Null => false,
        Value::String(s) => !s.is_empty(),
        Value::Array(items) => {
            items.retain_mut(prune);
            !items.is_empty()
        }
        Value::Object(map) => {
            map.retain(|_, v| prune(v));
            !map.is_empty()
        }
        _ => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_are_utc_with_milliseconds() {
        assert_eq!(instant(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(instant(1_795_960_801_234), "2026-11-29T14:00:01.234Z");
    }

    #[test]
    fn ids_are_fhir_ids() {
        assert_eq!(fhir_id("condition", "c1"), "condition-c1");
        assert_eq!(fhir_id("condition", "a b/c"), "condition-a-b-c");
        assert_eq!(fhir_id("x", &"9".repeat(100)).len(), 64);
    }

    #[test]
    fn urns_are_stable_uuids() {
        let a = urn("p1", "Condition", "condition-c1");
        assert_eq!(a, urn("p1", "Condition", "condition-c1"));
        assert_ne!(a, urn("p2", "Condition", "condition-c1"));
        let uuid = a.strip_prefix("urn:uuid:").unwrap();
        assert_eq!(uuid.len(), 36);
        assert_eq!(&uuid[14..15], "5");
    }
}
