//! Printing the emergency summary: plain text (for tests, logs-free previews and plain
//! printers) and a self-contained HTML page sized for the two yellow A4 pages.
//!
//! Both are drawn from one list of sections so they can never disagree about what is
//! shown or in which order.

use std::fmt::Write;

use super::{EmergencySummary, SummaryDecision};
use crate::date::format_instant;
use crate::plan::Attribution;

/// Free text longer than this is cut on the summary (the whole text is in the red folder):
/// the summary must fit two A4 pages.
const MAX_TEXT: usize = 600;

enum Line {
    Field {
        label: &'static str,
        value: String,
        /// Printed in bold: what a crew must not miss.
        alert: bool,
    },
    /// A safety-critical item holding different values from different clinicians.
    Conflict {
        label: &'static str,
        values: Vec<String>,
    },
    Bullet(String),
}

struct Section {
    title: &'static str,
    lines: Vec<Line>,
}

fn by(a: &Attribution) -> String {
    format!("{}, {}", a.user_name, format_instant(a.at_ms))
}

fn cut(text: &str) -> String {
    let text = text.trim();
    match text.char_indices().nth(MAX_TEXT) {
        None => text.to_owned(),
        Some((i, _)) => format!("{}… (full text in the red folder)", &text[..i]),
    }
}

fn or_none(s: &str, none: &str) -> String {
    if s.trim().is_empty() {
        none.to_owned()
    } else {
        s.to_owned()
    }
}

fn field(label: &'static str, value: impl Into<String>) -> Line {
    Line::Field {
        label,
        value: value.into(),
        alert: false,
    }
}

fn decision(label: &'static str, d: &SummaryDecision, alert: bool) -> Line {
    if d.conflicting {
        return Line::Conflict {
            label,
            values: d
                .values
                .iter()
                .map(|v| format!("{} (recorded by {})", v.label, by(&v.recorded)))
                .collect(),
        };
    }
    let value = match &d.recorded {
        Some(r) => format!("{} (recorded by {})", d.label, by(r)),
        None => d.label.clone(),
    };
    Line::Field {
        label,
        value,
        alert,
    }
}

fn sections(s: &EmergencySummary) -> Vec<Section> {
    let mut out = Vec::new();

    let mut lines = vec![field("Name", {
        let mut n = s.name.clone();
        if !s.preferred_name.is_empty() {
            n.push_str(&format!(" (known as {})", s.preferred_name));
        }
        n
    })];
    lines.push(field("NHS number", s.nhs_number_display.clone()));
    let mut born = s.date_of_birth.clone();
    if let Some(sex) = s.sex {
        born.push_str(&format!(
            ", {}",
            serde_json::to_value(sex)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default()
        ));
    }
    lines.push(field("Born", born));
    lines.push(field("Address", or_none(&s.address, "not recorded")));
    if !s.residence.is_empty() {
        lines.push(field("Lives in", s.residence.clone()));
    }
    if !s.phone.is_empty() {
        lines.push(field("Phone", s.phone.clone()));
    }
    let gp = [s.named_gp.as_str(), s.gp_practice.as_str()]
        .into_iter()
        .filter(|x| !x.is_empty())
        .collect::<Vec<_>>()
        .join(", ");
    if !gp.is_empty() {
        lines.push(field("GP", gp));
    }
    out.push(Section {
        title: "Patient",
        lines,
    });

    let mut lines = vec![decision("DNACPR/ReSPECT", &s.resuscitation, true)];
    lines.push(field(
        "ADRT",
        s.adrt.as_deref().map_or("none recorded".to_owned(), cut),
    ));
    if s.lpa.is_empty() {
        lines.push(field("LPA (health and welfare)", "none recorded"));
    }
    for c in &s.lpa {
        lines.push(field(
            "LPA (health and welfare)",
            contact(&c.name, &c.phone),
        ));
    }
    out.push(Section {
        title: "Resuscitation and legal decisions",
        lines,
    });

    let mut lines = vec![
        field(
            "Focus of care",
            s.focus_of_care
                .as_deref()
                .map_or("not recorded".to_owned(), cut),
        ),
        decision("Ceiling of treatment", &s.ceiling_of_treatment, true),
        decision("Hospital admission", &s.admission_wanted, true),
    ];
    for e in &s.escalation_plans {
        let mut text = cut(e.plan.as_str());
        if !e.rescue_pack.is_empty() {
            text.push_str(&format!(" Rescue pack: {}", e.rescue_pack));
        }
        lines.push(Line::Bullet(format!("{}: {}", e.condition, text)));
    }
    if !s.exacerbation_plan.trim().is_empty() {
        lines.push(field("Exacerbation plan", cut(&s.exacerbation_plan)));
    }
    if s.escalation_plans.is_empty() && s.exacerbation_plan.trim().is_empty() {
        lines.push(field("Escalation plans", "none recorded"));
    }
    out.push(Section {
        title: "Treatment and escalation",
        lines,
    });

    out.push(Section {
        title: "Preferred places of care and death",
        lines: vec![
            field(
                "Preferred place of care",
                or_none(&s.preferred_place_of_care, "not recorded"),
            ),
            decision(
                "Preferred place of death",
                &s.preferred_place_of_death,
                false,
            ),
        ],
    });

    let mut lines: Vec<Line> = s
        .key_contacts
        .iter()
        .map(|c| Line::Bullet(format!("{}: {}", c.role, contact(&c.name, &c.phone))))
        .collect();
    if lines.is_empty() {
        lines.push(field("Key contacts", "none recorded"));
    }
    out.push(Section {
        title: "Key contacts",
        lines,
    });

    let mut lines: Vec<Line> = s
        .conditions
        .iter()
        .map(|c| {
            Line::Bullet(if c.treatment.is_empty() {
                c.name.clone()
            } else {
                format!("{}: {}", c.name, cut(&c.treatment))
            })
        })
        .collect();
    if lines.is_empty() {
        lines.push(field("Problems", "none recorded"));
    }
    if !s.prognosis.is_empty() {
        lines.push(field("Prognosis", cut(&s.prognosis)));
    }
    out.push(Section {
        title: "Problems and prognosis",
        lines,
    });

    let mut lines: Vec<Line> = s
        .medications
        .iter()
        .map(|m| {
            let mut t = [m.name.as_str(), m.dose.as_str()]
                .into_iter()
                .filter(|x| !x.is_empty())
                .collect::<Vec<_>>()
                .join(" ");
            if m.anticipatory {
                t.push_str(" [ANTICIPATORY]");
            }
            if !m.location.is_empty() {
                t.push_str(&format!(", kept: {}", m.location));
            }
            if !m.notes.is_empty() {
                t.push_str(&format!(" ({})", cut(&m.notes)));
            }
            Line::Bullet(t)
        })
        .collect();
    if lines.is_empty() {
        lines.push(field("Medications", "none recorded"));
    }
    out.push(Section {
        title: "Medications",
        lines,
    });

    let mut lines = vec![decision("Allergies", &s.allergies, true)];
    lines.extend(s.allergy_list.iter().map(|a| {
        let severity = serde_json::to_value(a.severity)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        Line::Bullet(if a.reaction.is_empty() {
            format!("{} ({severity})", a.substance)
        } else {
            format!("{}: {} ({severity})", a.substance, a.reaction)
        })
    }));
    out.push(Section {
        title: "Allergies",
        lines,
    });

    let mut lines: Vec<Line> = s.baseline.lines.iter().cloned().map(Line::Bullet).collect();
    let when = match (&s.baseline.observed_on, &s.baseline.recorded) {
        (Some(d), Some(r)) => format!("taken {d}, recorded by {}", by(r)),
        (None, Some(r)) => format!("recorded by {}", by(r)),
        (Some(d), None) => format!("taken {d}"),
        (None, None) => "none recorded".to_owned(),
    };
    lines.insert(0, field("Baseline", when));
    out.push(Section {
        title: "Baseline observations",
        lines,
    });

    out.push(Section {
        title: "Communication needs",
        lines: vec![field(
            "Communication",
            or_none(&s.communication_needs, "none recorded"),
        )],
    });

    let mut lines = vec![field("Plan status", s.plan_status.clone())];
    if let Some(end) = &s.case_management_ended {
        lines.push(field("Case management ended", end.notice.clone()));
    }
    if let Some(c) = &s.completed {
        lines.push(field("Plan completed", by(c)));
    }
    lines.push(field(
        "Case manager",
        s.case_manager
            .clone()
            .unwrap_or_else(|| "not named".to_owned()),
    ));
    lines.push(field(
        "Last updated",
        s.last_updated.as_ref().map_or("never".to_owned(), by),
    ));
    lines.push(field(
        "Next review due",
        s.next_review_due
            .clone()
            .unwrap_or_else(|| "not set".to_owned()),
    ));
    lines.push(decision("Consent", &s.consent, false));
    lines.push(field("Plan version", short_version(&s.plan_version)));
    // The code the app checks a paper copy with (typed, or scanned from the QR code the
    // app prints beside it): it fingerprints what these pages say.
    lines.push(field("Print code", super::SummaryFingerprint::of(s).code()));
    out.push(Section {
        title: "About this plan",
        lines,
    });
    out
}

fn contact(name: &str, phone: &str) -> String {
    match (name.is_empty(), phone.is_empty()) {
        (false, false) => format!("{name}, {phone}"),
        (false, true) => name.to_owned(),
        (true, _) => phone.to_owned(),
    }
}

/// The first 8 hex digits of each head: enough to compare two printouts.
fn short_version(version: &str) -> String {
    version
        .split(',')
        .map(|h| h.get(..8).unwrap_or(h))
        .collect::<Vec<_>>()
        .join(" ")
}

fn headline(s: &EmergencySummary) -> Option<String> {
    if s.conflicts.is_empty() {
        return None;
    }
    let fields: Vec<String> = s.conflicts.iter().map(|c| c.field.to_string()).collect();
    Some(format!(
        "CONFLICTING ENTRIES ({}): clinicians recorded different values; each is shown below. Confirm with the care team.",
        fields.join(", ")
    ))
}

/// The summary as plain text, in the order of `docs/domain.md`.
pub fn render_text(s: &EmergencySummary) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "RED FOLDER EMERGENCY SUMMARY");
    let _ = writeln!(
        out,
        "{}, NHS {}, born {}",
        s.name, s.nhs_number_display, s.date_of_birth
    );
    if let Some(h) = headline(s) {
        let _ = writeln!(out, "!! {h}");
    }
    for (n, section) in sections(s).into_iter().enumerate() {
        let _ = writeln!(out, "\n{}. {}", n + 1, section.title.to_uppercase());
        for line in section.lines {
            match line {
                Line::Field {
                    label,
                    value,
                    alert,
                } => {
                    let mark = if alert { "* " } else { "" };
                    let _ = writeln!(out, "  {mark}{label}: {value}");
                }
                Line::Conflict { label, values } => {
                    let _ = writeln!(out, "  !! {label}: CONFLICTING ENTRIES");
                    for v in values {
                        let _ = writeln!(out, "     - {v}");
                    }
                }
                Line::Bullet(text) => {
                    let _ = writeln!(out, "  - {text}");
                }
            }
        }
    }
    out
}

/// Text made safe to place in HTML content or a quoted attribute.
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "@page{size:A4;margin:10mm}\
body{font:9pt/1.25 system-ui,sans-serif;color:#000;margin:0}\
h1{font-size:13pt;margin:0 0 2mm}h2{font-size:10pt;margin:2.5mm 0 1mm;border-bottom:1px solid #000}\
p,ul{margin:0 0 1mm}ul{padding-left:5mm}.alert{font-weight:bold}\
.banner,.conflict{border:2px solid #000;padding:1mm 2mm;font-weight:bold}\
.conflict ul{font-weight:normal}";

/// The summary as a self-contained HTML page for printing on the two yellow A4 pages.
pub fn render_html(s: &EmergencySummary) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<title>Emergency summary: {}</title><style>{STYLE}</style></head><body>",
        escape_html(&s.name)
    );
    let _ = writeln!(
        out,
        "<h1>Red folder emergency summary: {}, NHS {}, born {}</h1>",
        escape_html(&s.name),
        escape_html(&s.nhs_number_display),
        escape_html(&s.date_of_birth)
    );
    if let Some(h) = headline(s) {
        let _ = writeln!(
            out,
            "<p class=\"banner\" role=\"alert\">{}</p>",
            escape_html(&h)
        );
    }
    for (n, section) in sections(s).into_iter().enumerate() {
        let _ = writeln!(
            out,
            "<section><h2>{}. {}</h2>",
            n + 1,
            escape_html(section.title)
        );
        let mut in_list = false;
        for line in section.lines {
            let bullet = matches!(line, Line::Bullet(_));
            if bullet && !in_list {
                out.push_str("<ul>\n");
            } else if !bullet && in_list {
                out.push_str("</ul>\n");
            }
            in_list = bullet;
            match line {
                Line::Field {
                    label,
                    value,
                    alert,
                } => {
                    let class = if alert { " class=\"alert\"" } else { "" };
                    let _ = writeln!(
                        out,
                        "<p{class}><b>{}:</b> {}</p>",
                        escape_html(label),
                        escape_html(&value)
                    );
                }
                Line::Conflict { label, values } => {
                    let _ = writeln!(
                        out,
                        "<div class=\"conflict\" data-conflict=\"true\">{}: CONFLICTING ENTRIES<ul>",
                        escape_html(label)
                    );
                    for v in values {
                        let _ = writeln!(out, "<li>{}</li>", escape_html(&v));
                    }
                    out.push_str("</ul></div>\n");
                }
                Line::Bullet(text) => {
                    let _ = writeln!(out, "<li>{}</li>", escape_html(&text));
                }
            }
        }
        if in_list {
            out.push_str("</ul>\n");
        }
        out.push_str("</section>\n");
    }
    out.push_str("</body></html>\n");
    out
}
