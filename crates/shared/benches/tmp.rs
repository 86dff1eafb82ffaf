use automerge::{ROOT, ReadDoc};
use redfolder_shared::ActorId;
use redfolder_shared::testkit::{self, Rng};
use std::time::Instant;
fn main() {
    let mut rng = Rng::new(3);
    let mut plan = testkit::plan(&mut rng, 0);
    let r = plan.editor.user_name.clone();
    plan.reviews = testkit::reviews(&mut rng, 6, &r);
    let mut doc = plan.build(ActorId::from(b"x".as_slice())).unwrap();
    let am = doc.automerge().clone();
    println!("ops {:?}", am.stats().num_ops);
    let t = Instant::now();
    for _ in 0..100 {
        doc.plan().unwrap();
    }
    println!("plan {:?}", t.elapsed() / 100);
    for key in [
        "patient",
        "enrolment",
        "care_team",
        "key_contacts",
        "conditions",
        "medications",
        "allergies",
        "baseline",
        "exacerbation_plan",
        "escalation_plans",
        "goals",
        "reviews",
        "consent",
        "dnacpr",
        "last_updated",
        "schema_version",
    ] {
        let t = Instant::now();
        for _ in 0..100 {
            let _: autosurgeon::hydrate::MaybeMissing<serde_json::Value> =
                autosurgeon::hydrate::MaybeMissing::Missing;
            let _ = am.get(ROOT, key).unwrap();
        }
        let get = t.elapsed() / 100;
        let t = Instant::now();
        for _ in 0..100 {
            let _ = am.get_all(ROOT, key).unwrap();
        }
        let getall = t.elapsed() / 100;
        println!("{key}: get {get:?} get_all {getall:?}");
    }
    let t = Instant::now();
    for _ in 0..100 {
        let (_, id) = am.get(ROOT, "reviews").unwrap().unwrap();
        let _ = am.length(&id);
    }
    println!("reviews len {:?}", t.elapsed() / 100);
    let (_, rid) = am.get(ROOT, "reviews").unwrap().unwrap();
    let (_, r0) = am.get(&rid, 0).unwrap().unwrap();
    let t = Instant::now();
    for _ in 0..1000 {
        let _ = am.get(&r0, "date").unwrap();
    }
    println!("one field get {:?}", t.elapsed() / 1000);
    let t = Instant::now();
}
