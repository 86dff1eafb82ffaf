//! Reading a FHIR `Bundle`: its resources by type, and the resource a reference names.

use serde_json::Value;

/// The resources of `bundle`'s entries whose `resourceType` is `kind`, in entry order.
pub fn resources<'a>(bundle: &'a Value, kind: &str) -> Vec<&'a Value> {
    bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|e| &e["resource"])
        .filter(|r| r["resourceType"] == kind)
        .collect()
}

/// The resource `reference` names: one contained in `holder` (`#id`), or an entry of
/// `bundle` by its `fullUrl` or by `Type/id`.
pub fn resolve<'a>(
    holder: &'a Value,
    bundle: Option<&'a Value>,
    reference: &str,
) -> Option<&'a Value> {
    if let Some(local) = reference.strip_prefix('#') {
        return holder["contained"]
            .as_array()?
            .iter()
            .find(|r| r["id"] == local);
    }
    bundle?["entry"].as_array()?.iter().find_map(|e| {
        let r = &e["resource"];
        let by_url = e["fullUrl"].as_str() == Some(reference);
        let by_id = match (r["resourceType"].as_str(), r["id"].as_str()) {
            (Some(t), Some(id)) => reference == format!("{t}/{id}"),
            _ => false,
        };
        (by_url || by_id).then_some(r)
    })
}
