//! The risk tool's CSV upload: any text parses into rows or a list of row problems.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redfolder_shared::Date;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let today = Date::parse("2026-01-01").expect("a date");
    let _ = redfolder_server::scheme::rules::parse_risk_csv(&text, today);
});
