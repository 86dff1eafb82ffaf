//! The app's TypeScript types, generated from the views the core hands it and from the
//! core's own types they hold (`web/src/generated/core-types.ts`).
//!
//! Every type reachable from the roots below is declared once, by name, in one file;
//! `web/src/core.ts` imports them and adds what TypeScript alone can say (the `Plan` the
//! app reads is `CarePlan` with `PlanExtras` put over it, and the `Core` interface).

use std::any::TypeId;
use std::collections::{BTreeMap, HashSet};

use redfolder_shared::{EmergencySummary, Reading};
use ts_rs::{Config, TS, TypeVisitor};

use super::*;

const HEADER: &str = "\
// Generated from the Rust types the wasm core hands the app (crates/wasm/src/view.rs and
// the shared core's types they hold). Do not edit: change the Rust types and run
//   REDFOLDER_WRITE_TYPES=1 cargo test -p redfolder-wasm --lib typescript
// `cargo xtask test` fails while this file is not what the Rust types generate.
/* eslint-disable */
";

/// Declarations by name, each type once.
struct Collect {
    cfg: Config,
    seen: HashSet<TypeId>,
    decls: BTreeMap<String, String>,
}

impl TypeVisitor for Collect {
    fn visit<T: TS + 'static + ?Sized>(&mut self) {
        // Primitives and containers have no declaration of their own.
        if T::output_path().is_none() || !self.seen.insert(TypeId::of::<T>()) {
            return;
        }
        let name = T::ident(&self.cfg);
        let decl = format!(
            "{}export {}\n",
            T::docs().unwrap_or_default(),
            T::decl(&self.cfg)
        );
        let clash = self.decls.insert(name.clone(), decl);
        assert!(clash.is_none(), "two types are named {name} in TypeScript");
        T::visit_dependencies(self);
    }
}

/// The whole file: every view the core hands the app, and what they hold.
pub(super) fn declarations() -> String {
    let mut collect = Collect {
        // Milliseconds since the epoch are JSON numbers, not `bigint`s.
        cfg: Config::new().with_large_int("number"),
        seen: HashSet::new(),
        decls: BTreeMap::new(),
    };
    collect.visit::<CarePlan>();
    collect.visit::<PlanExtras>();
    collect.visit::<CaseloadEntry>();
    collect.visit::<ReviewDue>();
    collect.visit::<Reading>();
    collect.visit::<PaperReading>();
    collect.visit::<PrintCode>();
    collect.visit::<RefusedView>();
    collect.visit::<EmergencySummary>();
    collect.visit::<NhsNumberCheck>();
    collect.visit::<LockState>();
    collect.visit::<UnlockResult>();
    collect.visit::<SyncStatus>();
    collect.visit::<CoreEvent>();
    let mut out = HEADER.to_owned();
    for decl in collect.decls.values() {
        out.push('\n');
        out.push_str(decl);
    }
    out
}
