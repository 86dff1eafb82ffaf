//! Red Folder in the browser: thin bindings from JavaScript to the shared core.
//!
//! [`RedFolder`] owns a [`ClientEngine`] and glues it to IndexedDB (documents survive a
//! reload with no network), to WebCrypto (everything stored is encrypted under a data
//! key that a PIN unlocks, see [`vault`]) and to a WebSocket on `/api/v1/sync`
//! (reconnecting with backoff). It converts and persists; every rule about plans lives
//! in `redfolder-shared`.
//!
//! ```js
//! import init, { RedFolder } from './pkg/redfolder_wasm.js';
//! await init();
//! const rf = await RedFolder.open('redfolder');
//! rf.setListener((event) => console.log(event.type));
//! if (!rf.lockState().has_pin) await rf.setPin('204816');        // after the first sign-in
//! else if (!(await rf.unlock('204816')).ok) throw new Error('wrong PIN');
//! await rf.saveSession(JSON.stringify({ token, user }));
//! rf.signIn(token, user.id, user.name);
//! await rf.apply(docId, JSON.stringify({ op: 'set_dnacpr', status: 'do_not_attempt_cpr' }), Date.now());
//! rf.lock();                                                       // after five idle minutes
//! ```

mod edit;
mod events;
mod idb;
mod link;
mod pin_lock;
mod registration;
mod vault;
mod view;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::{Rc, Weak};

use js_sys::{Function, Promise};
use redfolder_shared::{
    ActorId, ClientEngine, Date, DocError, Editor, EmergencySummary, NhsNumber, emergency_summary,
    render_html,
};
use serde::Serialize;
use wasm_bindgen::prelude::*;
use web_sys::Window;

use crate::events::Status;
use crate::idb::{DeviceDb, SESSION_KEY, js_error};
use crate::link::{Link, SocketCallbacks, default_sync_url};
use crate::vault::{DataKey, Keyring, MAX_PIN_ATTEMPTS, MIN_PIN_DIGITS};

/// The app's handle on local plans and their sync.
#[wasm_bindgen]
pub struct RedFolder {
    inner: Rc<Inner>,
}

impl std::fmt::Debug for RedFolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedFolder").finish_non_exhaustive()
    }
}

/// The instance's state, shared by the exported API (here) and the modules that each add
/// one concern's methods: [`pin_lock`], [`link`], [`events`] and [`edit`].
struct Inner {
    window: Window,
    actor: ActorId,
    engine: RefCell<ClientEngine>,
    /// The stored keyring, or `None` before a PIN is set (and after an erase).
    keyring: RefCell<Option<Keyring>>,
    /// The data key while unlocked. Locking drops it, and with it every plan in memory.
    key: RefCell<Option<DataKey>>,
    /// A PIN is being set or tried: one at a time, so wrong PINs cannot be raced past
    /// the count and a double tap cannot make two keyrings.
    busy: Cell<bool>,
    session: RefCell<Option<SignIn>>,
    status: RefCell<Status>,
    listener: RefCell<Option<Function>>,
    before_remote: RefCell<Option<Function>>,
    // Declared before `callbacks` and `store` so the socket, timers and listeners are
    // unregistered before the closures they call are freed.
    link: RefCell<Link>,
    callbacks: SocketCallbacks,
    store: DeviceDb,
    /// Plans whose downloaded content is in IndexedDB. The progress of a first sync counts
    /// these, not what is only in memory: a reload (or a closed tab) keeps exactly what
    /// was counted.
    saved: RefCell<HashSet<String>>,
    /// This value, weakly: for the timer and network listeners, and for writes that report
    /// back when they have committed.
    me: Weak<Inner>,
}

/// Who is signed in on this device and where its link connects: what `saveSession` stores.
/// (The sync state of one connection is the core's `Session`, a different thing.)
struct SignIn {
    token: String,
    editor: Editor,
    url: String,
    /// The server refused the token: stop reconnecting until the user signs in again.
    refused: bool,
}

#[wasm_bindgen]
impl RedFolder {
    /// Opens (or creates) the device database. It starts locked: stored plans are read
    /// by [`RedFolder::unlock`], or none exist yet and [`RedFolder::set_pin`] comes first.
    pub async fn open(db_name: String) -> Result<RedFolder, JsValue> {
        let store = DeviceDb::open(&db_name).await?;
        let actor = ActorId::from(store.actor().await?);
        let keyring = store.keyring().await?;
        let window = web_sys::window().ok_or_else(|| js_error("no window"))?;
        let inner = Rc::new_cyclic(|weak| Inner {
            window: window.clone(),
            engine: RefCell::new(new_engine(actor.clone())),
            actor,
            keyring: RefCell::new(keyring),
            key: RefCell::new(None),
            busy: Cell::new(false),
            session: RefCell::new(None),
            status: RefCell::new(Status::default()),
            listener: RefCell::new(None),
            before_remote: RefCell::new(None),
            link: RefCell::new(Link::default()),
            callbacks: SocketCallbacks::new(weak),
            store,
            saved: RefCell::new(HashSet::new()),
            me: weak.clone(),
        });
        inner.watch(&window)?;
        Ok(RedFolder { inner })
    }

    /// `listener(event)` is called with `{type: "status" | "doc_changed" | "caseload" |
    /// "welcome" | "error" | "refused", ...}` whenever something the app shows may have
    /// changed. `{type: "refused", id, count}` follows the `error` event of a refused
    /// change: plan `id` was put back to the server's state and now has `count` refused
    /// changes to show (see [`RedFolder::refused`]).
    #[wasm_bindgen(js_name = setListener)]
    pub fn set_listener(&self, listener: Option<Function>) {
        *self.inner.listener.borrow_mut() = listener;
    }

    /// `hook()` is called just before remote changes are merged, so the app can first
    /// apply text the user has typed but not yet saved (a debounced textarea).
    #[wasm_bindgen(js_name = setBeforeRemote)]
    pub fn set_before_remote(&self, hook: Option<Function>) {
        *self.inner.before_remote.borrow_mut() = hook;
    }

    /// `{has_pin, unlocked, failed_attempts, attempts_left, max_attempts, min_pin_digits,
    /// pbkdf2_iterations}`.
    #[wasm_bindgen(js_name = lockState)]
    pub fn lock_state(&self) -> Result<JsValue, JsValue> {
        let keyring = self.inner.keyring.borrow();
        to_js(&view::LockState {
            has_pin: keyring.is_some(),
            unlocked: self.inner.key.borrow().is_some(),
            failed_attempts: keyring.as_ref().map_or(0, |k| k.failed_attempts),
            attempts_left: keyring
                .as_ref()
                .map_or(MAX_PIN_ATTEMPTS, Keyring::attempts_left),
            max_attempts: MAX_PIN_ATTEMPTS,
            min_pin_digits: MIN_PIN_DIGITS,
            pbkdf2_iterations: keyring.as_ref().map(|k| k.iterations),
        })
    }

    /// Protects this device with `pin` (6 to 12 digits): makes a new random data key and
    /// stores it wrapped under the PIN. Only when no PIN is set; the device is then
    /// unlocked and empty. Rejects with the reason if the PIN is not acceptable.
    #[wasm_bindgen(js_name = setPin)]
    pub fn set_pin(&self, pin: String) -> Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            inner.set_pin(&pin).await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Tries `pin`. Resolves with `{ok: true, session}` (the string last given to
    /// [`RedFolder::save_session`], or `null`) once every stored plan is loaded, or with
    /// `{ok: false, attempts_left, erased}`: after the fifth wrong PIN in a row every
    /// plan, the key and the session are erased and `erased` is `true`.
    pub fn unlock(&self, pin: String) -> Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move { inner.unlock(&pin).await })
    }

    /// Forgets the data key and every plan held in memory, and stops syncing. Stored
    /// data stays on the device, encrypted, until [`RedFolder::unlock`].
    pub fn lock(&self) {
        self.inner.lock();
    }

    /// Stores the app's session (its access token and user, as a string) encrypted with
    /// the plans, so nothing needs to be kept in `localStorage`.
    #[wasm_bindgen(js_name = saveSession)]
    pub fn save_session(&self, session: String) -> Promise {
        let Some(key) = self.inner.key.borrow().clone() else {
            return Promise::reject(&js_error("unlock the app first"));
        };
        let saved = self
            .inner
            .store
            .put_secret(&key, SESSION_KEY, session.into_bytes());
        wasm_bindgen_futures::future_to_promise(async move {
            saved.await?;
            Ok(JsValue::UNDEFINED)
        })
    }

    /// Parses an NHS number with the core's check: `{digits, display}`, or throws the
    /// reason it is not one.
    #[wasm_bindgen(js_name = checkNhsNumber)]
    pub fn check_nhs_number(input: &str) -> Result<JsValue, JsValue> {
        let nhs = NhsNumber::parse(input).map_err(|e| js_error(&e.to_string()))?;
        to_js(&view::NhsNumberCheck {
            digits: nhs.digits(),
            display: nhs.display_form(),
        })
    }

    /// Sets who is editing and starts syncing with the server at `sync_url` (by default
    /// `/api/v1/sync` on the page's host). The app must be unlocked: what arrives is
    /// stored encrypted.
    #[wasm_bindgen(js_name = signIn)]
    pub fn sign_in(
        &self,
        token: String,
        user_id: String,
        user_name: String,
        sync_url: Option<String>,
    ) -> Result<(), JsValue> {
        if self.inner.key.borrow().is_none() {
            return Err(js_error("unlock the app before signing in"));
        }
        let url = sync_url.unwrap_or_else(|| default_sync_url(&self.inner.window));
        *self.inner.session.borrow_mut() = Some(SignIn {
            token,
            editor: Editor { user_id, user_name },
            url,
            refused: false,
        });
        self.inner.drop_socket();
        self.inner.reset_backoff();
        self.inner.clear_error();
        self.inner.connect();
        self.inner.emit_status();
        Ok(())
    }

    /// Replaces the access token (after the app renewed it with its refresh token)
    /// without dropping a live connection: the new token is used from the next
    /// connection on. A session the server had refused reconnects at once.
    #[wasm_bindgen(js_name = setToken)]
    pub fn set_token(&self, token: String) -> Result<(), JsValue> {
        let was_refused = {
            let mut session = self.inner.session.borrow_mut();
            let Some(s) = session.as_mut() else {
                return Err(js_error("not signed in"));
            };
            s.token = token;
            std::mem::replace(&mut s.refused, false)
        };
        if was_refused {
            self.inner.clear_error();
            self.inner.reset_backoff();
            self.inner.connect();
        }
        self.inner.emit_status();
        Ok(())
    }

    /// Stops syncing and forgets the session. Local plans stay on the device.
    #[wasm_bindgen(js_name = signOut)]
    pub fn sign_out(&self) {
        *self.inner.session.borrow_mut() = None;
        self.inner.drop_socket();
        self.inner.link.borrow_mut().retry = None;
        self.inner.emit_status();
    }

    /// Reconnects now instead of waiting for the backoff.
    #[wasm_bindgen(js_name = syncNow)]
    pub fn sync_now(&self) {
        self.inner.reset_backoff();
        self.inner.connect();
    }

    /// This device's actor id in hex.
    #[wasm_bindgen(js_name = actorId)]
    pub fn actor_id(&self) -> String {
        self.inner.engine.borrow().actor().to_hex_string()
    }

    /// Plans held on the device: `[{id, nhs_number, name, dob, dnacpr, share_with_mdt,
    /// share_with_emergency_services, pending, refused, review, ...}]`, where `review` is
    /// what [`RedFolder::review_due`] says for the plan on `today` (`YYYY-MM-DD`, by
    /// default the device's local date). Plans not yet downloaded are left out.
    pub fn caseload(&self, today: Option<String>) -> Result<JsValue, JsValue> {
        let today = parse_today(today)?;
        let mut engine = self.inner.engine.borrow_mut();
        let ids: Vec<String> = engine.doc_ids().cloned().collect();
        let mut entries = Vec::with_capacity(ids.len());
        for id in ids {
            let pending = engine.pending(&id);
            let refused = engine.refused(&id).len();
            if let Some(Ok(plan)) = engine.doc(&id).map(|d| d.plan()) {
                entries.push(view::CaseloadEntry::new(
                    &id, &plan, pending, refused, today,
                ));
            }
        }
        to_js(&entries)
    }

    /// The whole plan as JSON, or `null` while it has not been downloaded yet.
    pub fn plan(&self, id: &str) -> Result<JsValue, JsValue> {
        let mut engine = self.inner.engine.borrow_mut();
        let pending = engine.pending(id);
        let refused = engine.refused(id).len();
        match engine.doc(id).map(|d| d.plan()) {
            None | Some(Err(DocError::Empty)) => Ok(JsValue::NULL),
            Some(Err(e)) => Err(js_error(&e.to_string())),
            Some(Ok(plan)) => to_js(&view::plan(&plan, pending, refused)),
        }
    }

    /// When plan `id`'s next review falls due, as the core reckons it on `today`
    /// (`YYYY-MM-DD`, by default the device's local date): `{due: "YYYY-MM-DD", state:
    /// "overdue" | "due_soon" | "not_yet_due", days_left, due_this_month, interval_months,
    /// annual, set_earlier}`, or `null` for a draft or ended plan or one not here yet.
    /// "Due soon" means within 28 days.
    #[wasm_bindgen(js_name = reviewDue)]
    pub fn review_due(&self, id: &str, today: Option<String>) -> Result<JsValue, JsValue> {
        let today = parse_today(today)?;
        let engine = self.inner.engine.borrow();
        match engine.doc(id).map(|d| d.plan()) {
            None | Some(Err(DocError::Empty)) => Ok(JsValue::NULL),
            Some(Err(e)) => Err(js_error(&e.to_string())),
            Some(Ok(plan)) => to_js(&view::review_due(&plan, today)),
        }
    }

    /// The emergency summary projected by the core, or `null` if the plan is not here yet.
    pub fn summary(&self, id: &str) -> Result<JsValue, JsValue> {
        let engine = self.inner.engine.borrow();
        match engine.doc(id).map(|d| d.plan()) {
            None | Some(Err(DocError::Empty)) => Ok(JsValue::NULL),
            Some(Err(e)) => Err(js_error(&e.to_string())),
            Some(Ok(plan)) => to_js(&emergency_summary(&plan)),
        }
    }

    /// The emergency summary as the core prints it (a self-contained, escaped HTML page
    /// for the two yellow A4 pages), or `null` if the plan is not here yet.
    #[wasm_bindgen(js_name = summaryHtml)]
    pub fn summary_html(&self, id: &str) -> Result<JsValue, JsValue> {
        let engine = self.inner.engine.borrow();
        match engine.doc(id).map(|d| d.plan()) {
            None | Some(Err(DocError::Empty)) => Ok(JsValue::NULL),
            Some(Err(e)) => Err(js_error(&e.to_string())),
            Some(Ok(plan)) => Ok(render_html(&emergency_summary(&plan)).into()),
        }
    }

    /// Plan `id`'s yellow pages as they would print now: `{code, fingerprint, plan_version,
    /// qr_svg}`, or `null` if the plan is not here yet. `code` is the `RF1-…` print code
    /// printed on the pages, `qr_svg` an SVG image of the QR code holding it (in capitals,
    /// which QR codes store more compactly; a check ignores case), `fingerprint` what
    /// `{op: "record_paper_copy"}` takes to record this print for the home.
    #[wasm_bindgen(js_name = printCode)]
    pub fn print_code(&self, id: &str) -> Result<JsValue, JsValue> {
        self.with_plan(id, |plan| {
            let fingerprint = plan.summary_fingerprint();
            let code = fingerprint.code();
            Ok(view::PrintCode {
                qr_svg: view::qr_svg(&code.to_ascii_uppercase()).map_err(|e| {
                    js_error(&format!("the print code does not fit a QR code: {e}"))
                })?,
                code,
                fingerprint: fingerprint.whole,
                plan_version: plan.plan_version.clone(),
            })
        })
    }

    /// Whether the paper copy recorded for plan `id`'s home says what the plan says now:
    /// `{state: "not_printed" | "current" | "out_of_date", printed: {user_id, user_name,
    /// at_ms} | null, changed_sections: [..], label}`, or `null` if the plan is not here
    /// yet. Answered from this device's copy, so it works offline.
    #[wasm_bindgen(js_name = paperCopyReading)]
    pub fn paper_copy_reading(&self, id: &str) -> Result<JsValue, JsValue> {
        self.with_plan(id, |plan| Ok(plan.paper_copy_reading()))
    }

    /// Whether a paper copy carrying `code` (scanned from its QR code or typed) says what
    /// plan `id` says now, in the shape of [`RedFolder::paper_copy_reading`]; `null` if the
    /// plan is not here yet. Throws with the core's reason when `code` is not a Red Folder
    /// print code.
    #[wasm_bindgen(js_name = checkPaperCode)]
    pub fn check_paper_code(&self, id: &str, code: &str) -> Result<JsValue, JsValue> {
        self.with_plan(id, |plan| {
            plan.check_paper_code(code)
                .map_err(|e| js_error(&e.to_string()))
        })
    }

    /// The core's printable HTML for a summary received as JSON (from
    /// `GET /api/v1/emergency/summary/{nhs}`). Throws if the JSON is not a summary this
    /// build understands.
    #[wasm_bindgen(js_name = renderSummaryHtml)]
    pub fn render_summary_html(summary_json: &str) -> Result<String, JsValue> {
        let summary: EmergencySummary = serde_json::from_str(summary_json)
            .map_err(|e| js_error(&format!("not an emergency summary: {e}")))?;
        Ok(render_html(&summary))
    }

    /// Applies one edit (JSON with an `op` tag). Resolves with the change hash once the
    /// plan is stored on the device; rejects with the reason if the edit is invalid (the
    /// plan is then unchanged) or could not be stored.
    pub fn apply(&self, id: &str, edit_json: &str, now_ms: f64) -> Promise {
        match self.inner.apply(id, edit_json, now_ms) {
            Ok(promise) => promise,
            Err(e) => Promise::reject(&e),
        }
    }

    /// `{state: "offline" | "connecting" | "online", online, network, pending,
    /// last_synced_ms, error, error_code, signed_in, sign_in_refused, locked, docs_total,
    /// docs_waiting, docs_received, refused}` where `refused` counts the changes the server
    /// refused that are not dismissed yet, over every plan.
    pub fn status(&self) -> Result<JsValue, JsValue> {
        to_js(&self.inner.status())
    }

    /// Changes the server refused, for plan `id` or (without it) every plan, oldest first:
    /// `[{doc_id, hash, reason, by: {user_id, user_name, at_ms} | null, fields: [..],
    /// edits: [edit JSON as given to apply]}]`. The device dropped each (and whatever was
    /// built on it) to get back in step with the server; the clinician can make the
    /// `edits` again with [`RedFolder::apply`] and then dismiss the record.
    pub fn refused(&self, id: Option<String>) -> Result<JsValue, JsValue> {
        let engine = self.inner.engine.borrow();
        let ids: Vec<String> = match id {
            Some(id) => vec![id],
            None => engine.doc_ids().cloned().collect(),
        };
        let mut all = Vec::new();
        for id in ids {
            for change in engine.refused(&id) {
                all.push(view::RefusedView {
                    doc_id: id.clone(),
                    change: change.clone(),
                });
            }
        }
        to_js(&all)
    }

    /// Forgets the refused change `hash` of plan `id` (seen, or made again). Resolves
    /// with whether there was one, once the device has stored that.
    #[wasm_bindgen(js_name = dismissRefused)]
    pub fn dismiss_refused(&self, id: &str, hash: &str) -> Promise {
        let Some(key) = self.inner.key.borrow().clone() else {
            return Promise::reject(&js_error("unlock the app first"));
        };
        let (found, stored) = {
            let mut engine = self.inner.engine.borrow_mut();
            let found = engine.dismiss_refused(id, hash);
            (found, engine.export(id).filter(|_| found))
        };
        let saved = stored.map(|s| self.inner.store.put_docs(&key, &[(id.to_owned(), s)]));
        self.inner.emit_status();
        wasm_bindgen_futures::future_to_promise(async move {
            if let Some(saved) = saved {
                saved.await?;
            }
            Ok(JsValue::from(found))
        })
    }

    /// Erases everything this device holds for its user: every plan, the data key, the
    /// session and the caseload (for a revoked device, a sign-out, or too many wrong
    /// PINs), and disconnects. The app then starts again from sign-in. Resolves when
    /// storage is cleared.
    pub fn wipe(&self) -> Promise {
        let inner = Rc::clone(&self.inner);
        wasm_bindgen_futures::future_to_promise(async move {
            inner.erase().await?;
            Ok(JsValue::UNDEFINED)
        })
    }
}

impl RedFolder {
    /// Runs `f` on plan `id` as this device holds it: `null` while it is not here yet.
    fn with_plan<T: Serialize>(
        &self,
        id: &str,
        f: impl FnOnce(&redfolder_shared::CarePlan) -> Result<T, JsValue>,
    ) -> Result<JsValue, JsValue> {
        let engine = self.inner.engine.borrow();
        match engine.doc(id).map(|d| d.plan()) {
            None | Some(Err(DocError::Empty)) => Ok(JsValue::NULL),
            Some(Err(e)) => Err(js_error(&e.to_string())),
            Some(Ok(plan)) => to_js(&f(&plan)?),
        }
    }
}

/// `today` as the app gave it (`YYYY-MM-DD`), or the device's local date.
fn parse_today(today: Option<String>) -> Result<Date, JsValue> {
    match today {
        Some(s) => {
            Date::parse(&s).ok_or_else(|| js_error(&format!("{s:?} is not a YYYY-MM-DD date")))
        }
        None => {
            let now = js_sys::Date::new_0();
            Ok(Date {
                year: now.get_full_year() as i32,
                month: now.get_month() + 1,
                day: now.get_date(),
            })
        }
    }
}

fn to_js<T: Serialize + ?Sized>(value: &T) -> Result<JsValue, JsValue> {
    let text = serde_json::to_string(value).map_err(json_error)?;
    js_sys::JSON::parse(&text)
}

fn json_error(e: serde_json::Error) -> JsValue {
    js_error(&format!("json: {e}"))
}

/// The tablet's sync engine: it offers compressed batches and snapshots, so a first sync
/// fetches plans whole. (Snapshots were held back while a browser test found plans
/// "lost" across a reload mid-sync; the cause was the progress counting plans received in
/// memory before their IndexedDB write committed, and the test's wait for storage passing
/// at once. Progress now counts saved plans.)
fn new_engine(actor: ActorId) -> ClientEngine {
    let mut engine = ClientEngine::new(actor);
    engine.offer_features(redfolder_shared::protocol::features::ALL);
    engine
}
