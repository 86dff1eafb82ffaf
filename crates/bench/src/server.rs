//! The servers under test as child processes, their memory, and seeding Red Folder's store.
//!
//! Red Folder's sync protocol only syncs plans that are registered at the server (a
//! device cannot create a patient by syncing a new document), and there is no import
//! route yet, so the harness registers the fixture's plans through the server's own
//! library, `redfolder_server::store::Store::create_patients`, with the projections
//! `redfolder_server::domain::project` computes, before the server starts.
//!
//! Building a plan through the shared core's edits costs tens of milliseconds, so for
//! S5's 100,000 plans a [`Derivation`] builds only the first few thousand and makes each
//! later plan from one of them: the built document is loaded under the new plan's own
//! actor and given the new patient's identity by a real `Edit::SetPatient`, so every plan
//! is a valid, distinct document whose projections are computed from it.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, mpsc};
use std::time::Duration;

use anyhow::{Context, bail};
use redfolder_server::auth::hash_password;
use redfolder_server::domain::{Committer, OrganisationKind, Role, project};
use redfolder_server::store::{NewOrganisation, NewPatient, NewUser, Store};
use redfolder_shared::{ActorId, ChangeHash, Edit, Editor, PlanDoc};

use crate::caseload::{self, Plan};
use crate::plandoc;

/// The password of every user the harness creates.
pub(crate) const PASSWORD: &str = "bench-password";
/// The emergency clinician [`Seeder::ambulance`] creates.
pub(crate) const CLINICIAN: &str = "crew.amb01";
/// A fixed clock for seeded documents (2026-11-29), so their content does not depend on
/// the day the benchmark runs.
pub(crate) const SEED_NOW_MS: i64 = 1_795_960_800_000;

/// Resident and peak resident memory of a process, from `/proc/PID/status`.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Memory {
    pub(crate) rss_kib: u64,
    pub(crate) hwm_kib: u64,
}

pub(crate) fn memory_of(pid: u32) -> anyhow::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .with_context(|| format!("reading /proc/{pid}/status"))?;
    let field = |name: &str| -> anyhow::Result<u64> {
        let line = status
            .lines()
            .find(|l| l.starts_with(name))
            .with_context(|| format!("no {name} in /proc/{pid}/status"))?;
        Ok(line
            .split_whitespace()
            .nth(1)
            .context("malformed status line")?
            .parse()?)
    };
    Ok(Memory {
        rss_kib: field("VmRSS:")?,
        hwm_kib: field("VmHWM:")?,
    })
}

/// A server child process; killed when dropped.
#[derive(Debug)]
pub(crate) struct ServerProcess {
    child: Child,
    /// `host:port`
    pub(crate) address: String,
}

impl ServerProcess {
    /// Starts `command` and waits for the line `<prefix>HOST:PORT` on its stdout.
    fn start(mut command: Command, prefix: &str, log: &Path) -> anyhow::Result<ServerProcess> {
        let log_file = std::fs::File::create(log).context("creating the server log")?;
        command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(log_file);
        let shown = format!("{command:?}");
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {shown}"))?;
        let stdout = child.stdout.take().context("no stdout")?;
        let (tx, rx) = mpsc::channel();
        let prefix = prefix.to_owned();
        // Keep draining stdout for the life of the process so it never blocks on a pipe.
        std::thread::spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !sent && let Some(address) = line.trim().strip_prefix(prefix.as_str()) {
                    let _ = tx.send(address.trim_end_matches('/').to_owned());
                    sent = true;
                }
            }
        });
        match rx.recv_timeout(Duration::from_secs(60)) {
            Ok(address) => Ok(ServerProcess { child, address }),
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                let log = std::fs::read_to_string(log).unwrap_or_default();
                bail!("{shown} did not print its address; its log:\n{log}")
            }
        }
    }

    /// `redfolder serve` on a SQLite file.
    pub(crate) fn redfolder(bin: &Path, database: &Path, dir: &Path) -> anyhow::Result<Self> {
        let web = dir.join("web");
        std::fs::create_dir_all(&web)?;
        let mut command = Command::new(bin);
        command
            .args(["serve", "--bind", "127.0.0.1:0", "--database"])
            .arg(format!("sqlite://{}", database.display()))
            .arg("--web-dir")
            .arg(&web)
            // Every simulated device connects from this one address, and S6 holds several
            // connections per sign-in: the limits meant for real tablets are lifted.
            .args([
                "--max-connections-per-address",
                "1000000",
                "--max-connections-per-user",
                "1000000",
                "--max-connections-per-device",
                "1000000",
            ]);
        ServerProcess::start(command, "listening on http://", &dir.join("server.log"))
    }

    /// The automerge-repo reference server on a storage directory.
    pub(crate) fn reference(script: &Path, storage: &Path, dir: &Path) -> anyhow::Result<Self> {
        let mut command = Command::new("node");
        command.arg(script).arg("server").arg("--dir").arg(storage);
        ServerProcess::start(command, "listening on ws://", &dir.join("reference.log"))
    }

    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(crate) fn memory(&self) -> anyhow::Result<Memory> {
        memory_of(self.pid())
    }

    pub(crate) fn http(&self) -> String {
        format!("http://{}", self.address)
    }

    pub(crate) fn ws(&self, path: &str) -> String {
        format!("ws://{}{path}", self.address)
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One organisation of a seeded store: its code, a case manager and its plans.
#[derive(Debug, Clone)]
pub(crate) struct SeededOrg {
    pub(crate) username: String,
    pub(crate) doc_ids: Vec<String>,
}

/// What the harness knows about a seeded store.
#[derive(Debug, Default)]
pub(crate) struct Seeded {
    pub(crate) orgs: Vec<SeededOrg>,
    /// Each plan's heads as seeded, to tell when a device holds the whole plan.
    pub(crate) heads: std::collections::HashMap<String, Vec<ChangeHash>>,
    pub(crate) clinician: Option<String>,
    /// The seeded documents' compacted saves, added up: the floor for a cold sync's bytes.
    pub(crate) saved_bytes: usize,
}

/// Seeds a SQLite store through the server's library.
#[derive(Debug)]
pub(crate) struct Seeder {
    store: Store,
    password_hash: String,
    pub(crate) seeded: Seeded,
}

impl Seeder {
    pub(crate) async fn open(database: &Path) -> anyhow::Result<Seeder> {
        let store = Store::connect(&format!("sqlite://{}", database.display())).await?;
        store.migrate().await?;
        // One Argon2 hash for every user: hashing is deliberately slow.
        let password_hash = hash_password(PASSWORD)?;
        Ok(Seeder {
            store,
            password_hash,
            seeded: Seeded::default(),
        })
    }

    async fn organisation(&self, code: &str, kind: OrganisationKind) -> anyhow::Result<String> {
        self.store
            .ensure_organisation(&NewOrganisation {
                code,
                name: code,
                kind,
            })
            .await
    }

    async fn user(&self, username: &str, role: Role, org: &str) -> anyhow::Result<String> {
        self.store
            .ensure_user(
                &NewUser {
                    username,
                    name: username,
                    roles: &[role],
                    organisation_id: org,
                    password_hash: &self.password_hash,
                },
                SEED_NOW_MS,
            )
            .await
    }

    /// A practice with one case manager and `plans`, registered under `id_prefix` + plan id.
    /// Documents are built on all cores and written in batches.
    pub(crate) async fn practice(
        &mut self,
        code: &str,
        plans: impl Iterator<Item = Plan>,
        id_prefix: &str,
        keep_heads: bool,
    ) -> anyhow::Result<()> {
        self.practice_with(code, plans, id_prefix, keep_heads, None)
            .await
    }

    /// Like [`Seeder::practice`], but past `derivation.distinct` plans into the caseload
    /// (counted across calls) each document is derived from a built one.
    pub(crate) async fn practice_derived(
        &mut self,
        code: &str,
        plans: impl Iterator<Item = Plan>,
        derivation: &mut Derivation,
        keep_heads: bool,
    ) -> anyhow::Result<()> {
        self.practice_with(code, plans, "", keep_heads, Some(derivation))
            .await
    }

    async fn practice_with(
        &mut self,
        code: &str,
        plans: impl Iterator<Item = Plan>,
        id_prefix: &str,
        keep_heads: bool,
        mut derivation: Option<&mut Derivation>,
    ) -> anyhow::Result<()> {
        let org = self
            .organisation(code, OrganisationKind::GpPractice)
            .await?;
        let username = format!("cm.{}", code.to_lowercase());
        let user_id = self.user(&username, Role::CaseManager, &org).await?;
        let editor = Editor {
            user_id,
            user_name: username.clone(),
        };
        let mut doc_ids = Vec::new();
        let mut batch = Vec::new();
        let mut plans = plans.peekable();
        while plans.peek().is_some() {
            batch.clear();
            batch.extend(plans.by_ref().take(2000));
            let templates = match derivation.as_deref_mut() {
                Some(d) => d.templates_for(batch.len(), &editor)?,
                None => Vec::new(),
            };
            let built = build_all(&batch, &templates, &editor, &org, id_prefix)?;
            if let Some(d) = derivation.as_deref_mut() {
                d.built(&built);
            }
            for (patient, heads) in &built {
                doc_ids.push(patient.id.clone());
                self.seeded.saved_bytes += patient.snapshot.len();
                if keep_heads {
                    self.seeded.heads.insert(patient.id.clone(), heads.clone());
                }
            }
            let patients: Vec<NewPatient> = built.into_iter().map(|(p, _)| p).collect();
            for chunk in patients.chunks(500) {
                // The store stores nothing of a chunk that holds a number already live.
                if let Some(holder) = self.store.create_patients(chunk, SEED_NOW_MS).await? {
                    anyhow::bail!(
                        "seeding stopped: a plan's NHS number is already live (plan {:?}); \
                         the caseload must not repeat a number",
                        holder.patient_id
                    );
                }
            }
        }
        self.seeded.orgs.push(SeededOrg { username, doc_ids });
        Ok(())
    }

    /// An ambulance service with one emergency clinician.
    pub(crate) async fn ambulance(&mut self) -> anyhow::Result<()> {
        let org = self
            .organisation("AMB01", OrganisationKind::AmbulanceService)
            .await?;
        self.user(CLINICIAN, Role::EmergencyClinician, &org).await?;
        self.seeded.clinician = Some(CLINICIAN.to_owned());
        Ok(())
    }

    pub(crate) async fn finish(self) -> Seeded {
        self.store.close().await;
        self.seeded
    }
}

/// Makes the documents of a large caseload: the first `distinct` plans are built through
/// the shared core's edits, every later plan `i` is derived from built plan
/// `i % distinct` (see the module's documentation). Carried across the `practice_derived`
/// calls that seed one store, so the count runs over the whole caseload.
#[derive(Debug)]
pub(crate) struct Derivation {
    pub(crate) distinct: usize,
    seed: u64,
    /// The caseload index of the next plan to seed.
    next: usize,
    /// Saved documents of the first `distinct` plans, in caseload order.
    templates: Vec<Arc<[u8]>>,
}

impl Derivation {
    pub(crate) fn new(distinct: usize, seed: u64) -> Derivation {
        Derivation {
            distinct: distinct.max(1),
            seed,
            next: 0,
            templates: Vec::new(),
        }
    }

    /// The store already holds the first `index` plans (copied from the cache).
    pub(crate) fn resume_at(&mut self, index: usize) {
        self.next = index;
    }

    /// The template of each of the next `count` plans (`None`: build that plan). Builds
    /// the templates first if a cached store holds them but this process has not.
    fn templates_for(
        &mut self,
        count: usize,
        editor: &Editor,
    ) -> anyhow::Result<Vec<Option<Arc<[u8]>>>> {
        let end = self.next + count;
        if end > self.distinct && self.templates.len() < self.distinct.min(self.next) {
            eprintln!(
                "  building the {} template plans the cached store was seeded from",
                self.distinct
            );
            let plans: Vec<Plan> = caseload::plans(self.distinct, self.seed).collect();
            let built = build_all(&plans, &[], editor, "", "")?;
            self.templates = built.into_iter().map(|(p, _)| p.snapshot.into()).collect();
        }
        Ok((self.next..end)
            .map(|i| (i >= self.distinct).then(|| self.templates[i % self.distinct].clone()))
            .collect())
    }

    /// Records the documents just made for the next plans.
    fn built(&mut self, built: &[Built]) {
        for (patient, _) in built {
            if self.next < self.distinct && self.templates.len() == self.next {
                self.templates.push(patient.snapshot.as_slice().into());
            }
            self.next += 1;
        }
    }
}

type Built = (NewPatient, Vec<ChangeHash>);

/// Makes the documents of `plans` on every core: built, or derived from `templates[i]`
/// where that is `Some` (`templates` is empty or as long as `plans`).
fn build_all(
    plans: &[Plan],
    templates: &[Option<Arc<[u8]>>],
    editor: &Editor,
    org: &str,
    id_prefix: &str,
) -> anyhow::Result<Vec<Built>> {
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let per = plans.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = plans
            .chunks(per)
            .enumerate()
            .map(|(c, chunk)| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .enumerate()
                        .map(|(i, plan)| {
                            let template = templates.get(c * per + i).and_then(Option::as_deref);
                            build_one(plan, template, editor, org, id_prefix)
                        })
                        .collect::<anyhow::Result<Vec<Built>>>()
                })
            })
            .collect();
        let mut out = Vec::with_capacity(plans.len());
        for handle in handles {
            out.extend(
                handle
                    .join()
                    .map_err(|_| anyhow::anyhow!("a build thread panicked"))??,
            );
        }
        Ok(out)
    })
}

fn build_one(
    plan: &Plan,
    template: Option<&[u8]>,
    editor: &Editor,
    org: &str,
    id_prefix: &str,
) -> anyhow::Result<Built> {
    let actor = ActorId::from(format!("loader-{}", plan.id).as_bytes());
    let mut doc = match template {
        None => plandoc::build(plan, actor, editor, SEED_NOW_MS)?,
        Some(bytes) => {
            // A later change than any of the template's (creation, setup, reviews).
            let mut doc = PlanDoc::load(bytes, actor).context("loading a template plan")?;
            let p = &plan.patient;
            doc.apply(
                &Edit::SetPatient {
                    nhs_number: p.nhs_number.clone(),
                    name: p.name.clone(),
                    date_of_birth: p.date_of_birth.clone(),
                    address: p.address.clone(),
                },
                editor,
                SEED_NOW_MS + 1_000,
            )?;
            doc
        }
    };
    let projection = project(&mut doc).context("projecting a seeded plan")?;
    let heads = plandoc::sorted_heads(&mut doc);
    Ok((
        NewPatient {
            id: format!("{id_prefix}{}", plan.id),
            organisation_id: org.to_owned(),
            snapshot: doc.save_uncompressed(),
            projection,
            created_by: Some(Committer {
                user_id: editor.user_id.clone(),
                name: editor.user_name.clone(),
                organisation: org.to_owned(),
            }),
        },
        heads,
    ))
}

/// Signs in through the real API and returns the access token.
pub(crate) async fn login(
    http: &reqwest::Client,
    base: &str,
    username: &str,
) -> anyhow::Result<String> {
    let response = http
        .post(format!("{base}/api/v1/auth/login"))
        .json(&serde_json::json!({
            "username": username,
            "password": PASSWORD,
            "device_label": "redfolder-bench",
        }))
        .send()
        .await
        .context("POST /api/v1/auth/login")?;
    let status = response.status();
    let body: serde_json::Value = response.json().await.context("login response")?;
    body["token"]
        .as_str()
        .map(str::to_owned)
        .with_context(|| format!("login as {username} failed: {status} {body}"))
}

/// A fresh directory for one server's files.
pub(crate) fn scratch(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    let dir = root.join(name);
    if dir.exists() {
        std::fs::remove_dir_all(&dir)?;
    }
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}
