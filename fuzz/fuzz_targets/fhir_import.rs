//! FHIR import: any JSON body is parsed into an import or refused with reasons, and an
//! accepted import always yields edits, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(bundle) = serde_json::from_slice::<serde_json::Value>(data) else {
        return;
    };
    if let Ok(import) = redfolder_fhir::parse_import(&bundle) {
        let mut n = 0;
        let _ = redfolder_fhir::import_edits(&import, None, "2026-01-01", &mut || {
            n += 1;
            format!("id-{n}")
        });
    }
});
