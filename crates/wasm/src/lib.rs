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

mod idb;
mod registration;
mod vault;
mod view;

use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::{Rc, Weak};

use js_sys::{ArrayBuffer, Function, Promise, Uint8Array};
use redfolder_shared::protocol::ErrorCode;
use redfolder_shared::{
    ActorId, ClientEngine, ClientEvent, Date, DocError, Edit, Editor, EmergencySummary, NhsNumber,
    StoredDoc, emergency_summary, render_html,
};
use serde_json::{Value, json};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, Event, MessageEvent, WebSocket, Window};

use crate::idb::{CASELOAD_KEY, SESSION_KEY, Store, js_error};
use crate::registration::{Interval, Timeout, WindowListener};
use crate::vault::{DataKey, Keyring, MAX_PIN_ATTEMPTS, MIN_PIN_DIGITS};

/// How often the engine's timer runs: it re-sends what a flaky link may have lost.
const TICK_MS: i32 = 3_000;
/// Reconnect backoff: 1 s, 2 s, 4 s … capped here.
const MAX_BACKOFF_MS: f64 = 30_000.0;

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
    session: RefCell<Option<Session>>,
    status: RefCell<Status>,
    listener: RefCell<Option<Function>>,
    before_remote: RefCell<Option<Function>>,
    // Declared before `callbacks` and `store` so the socket, timers and listeners are
    // unregistered before the closures they call are freed.
    link: RefCell<Link>,
    callbacks: SocketCallbacks,
    store: Store,
    /// Plans whose downloaded content is in IndexedDB. The progress of a first sync counts
    /// these, not what is only in memory: a reload (or a closed tab) keeps exactly what
    /// was counted.
    saved: RefCell<HashSet<String>>,
    /// This value, for writes that report back when they have committed.
    me: Weak<Inner>,
}

struct Session {
    token: String,
    editor: Editor,
    url: String,
    /// The server refused the token: stop reconnecting until the user signs in again.
    refused: bool,
}

#[derive(Default)]
struct Status {
    last_synced_ms: Option<f64>,
    error: Option<String>,
    /// The protocol's name for the error (`unauthorized`, `refused` …), or `storage`,
    /// `sync` for errors found on the device.
    error_code: Option<&'static str>,
}

#[derive(Default)]
struct Link {
    socket: Option<Socket>,
    retry: Option<Timeout>,
    attempts: u32,
    registrations: Vec<Registration>,
}

#[allow(dead_code)] // Held only for their `Drop`.
enum Registration {
    Interval(Interval),
    Listener(WindowListener),
}

/// The open WebSocket. Dropping it detaches our handlers and closes it, so a socket
/// being replaced can no longer call into the engine.
struct Socket {
    ws: WebSocket,
}

impl Drop for Socket {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        self.ws.set_onerror(None);
        let _ = self.ws.close();
    }
}

/// Handlers shared by every socket this instance opens, and the retry timer's callback.
/// They hold a `Weak` so they never keep the instance alive.
struct SocketCallbacks {
    open: Closure<dyn FnMut(Event)>,
    message: Closure<dyn FnMut(MessageEvent)>,
    close: Closure<dyn FnMut(Event)>,
    retry: Closure<dyn FnMut()>,
}

impl SocketCallbacks {
    fn new(weak: &Weak<Inner>) -> SocketCallbacks {
        let w = weak.clone();
        let open = Closure::new(move |_: Event| with(&w, Inner::on_open));
        let w = weak.clone();
        let message = Closure::new(move |e: MessageEvent| with(&w, |inner| inner.on_message(&e)));
        let w = weak.clone();
        let close = Closure::new(move |_: Event| with(&w, Inner::on_close));
        let w = weak.clone();
        let retry = Closure::new(move || {
            with(&w, |inner| {
                inner.link.borrow_mut().retry = None;
                inner.connect();
            })
        });
        SocketCallbacks {
            open,
            message,
            close,
            retry,
        }
    }
}

fn with(weak: &Weak<Inner>, f: impl FnOnce(&Inner)) {
    if let Some(inner) = weak.upgrade() {
        f(&inner);
    }
}

#[wasm_bindgen]
impl RedFolder {
    /// Opens (or creates) the device database. It starts locked: stored plans are read
    /// by [`RedFolder::unlock`], or none exist yet and [`RedFolder::set_pin`] comes first.
    pub async fn open(db_name: String) -> Result<RedFolder, JsValue> {
        let store = Store::open(&db_name).await?;
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
        let weak = Rc::downgrade(&inner);
        let w = weak.clone();
        let tick = Interval::new(
            &window,
            TICK_MS,
            Closure::new(move || with(&w, Inner::on_tick)),
        )?;
        let w = weak.clone();
        let online = WindowListener::new(
            &window,
            "online",
            Closure::new(move |_: Event| with(&w, Inner::on_online)),
        )?;
        let w = weak;
        let offline = WindowListener::new(
            &window,
            "offline",
            Closure::new(move |_: Event| with(&w, Inner::on_offline)),
        )?;
        inner.link.borrow_mut().registrations = vec![
            Registration::Interval(tick),
            Registration::Listener(online),
            Registration::Listener(offline),
        ];
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
        to_js(&json!({
            "has_pin": keyring.is_some(),
            "unlocked": self.inner.key.borrow().is_some(),
            "failed_attempts": keyring.as_ref().map_or(0, |k| k.failed_attempts),
            "attempts_left": keyring.as_ref().map_or(MAX_PIN_ATTEMPTS, Keyring::attempts_left),
            "max_attempts": MAX_PIN_ATTEMPTS,
            "min_pin_digits": MIN_PIN_DIGITS,
            "pbkdf2_iterations": keyring.as_ref().map(|k| k.iterations),
        }))
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
        to_js(&json!({"digits": nhs.digits(), "display": nhs.display_form()}))
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
        *self.inner.session.borrow_mut() = Some(Session {
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
                let mut entry = view::caseload_entry(&id, &plan, pending);
                entry["refused"] = refused.into();
                entry["review"] = view::review_due(&plan, today);
                entries.push(entry);
            }
        }
        to_js(&Value::Array(entries))
    }

    /// The whole plan as JSON, or `null` while it has not been downloaded yet.
    pub fn plan(&self, id: &str) -> Result<JsValue, JsValue> {
        let mut engine = self.inner.engine.borrow_mut();
        let pending = engine.pending(id);
        let refused = engine.refused(id).len();
        match engine.doc(id).map(|d| d.plan()) {
            None | Some(Err(DocError::Empty)) => Ok(JsValue::NULL),
            Some(Err(e)) => Err(js_error(&e.to_string())),
            Some(Ok(plan)) => {
                let mut json = view::plan(&plan, pending);
                json["refused"] = refused.into();
                to_js(&json)
            }
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
            Some(Ok(plan)) => {
                to_js(&serde_json::to_value(emergency_summary(&plan)).map_err(json_error)?)
            }
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
            Ok(json!({
                "qr_svg": view::qr_svg(&code.to_ascii_uppercase())
                    .map_err(|e| js_error(&format!("the print code does not fit a QR code: {e}")))?,
                "code": code,
                "fingerprint": fingerprint.whole,
                "plan_version": plan.plan_version,
            }))
        })
    }

    /// Whether the paper copy recorded for plan `id`'s home says what the plan says now:
    /// `{state: "not_printed" | "current" | "out_of_date", printed: {user_id, user_name,
    /// at_ms} | null, changed_sections: [..], label}`, or `null` if the plan is not here
    /// yet. Answered from this device's copy, so it works offline.
    #[wasm_bindgen(js_name = paperCopyReading)]
    pub fn paper_copy_reading(&self, id: &str) -> Result<JsValue, JsValue> {
        self.with_plan(id, |plan| {
            serde_json::to_value(plan.paper_copy_reading()).map_err(json_error)
        })
    }

    /// Whether a paper copy carrying `code` (scanned from its QR code or typed) says what
    /// plan `id` says now, in the shape of [`RedFolder::paper_copy_reading`]; `null` if the
    /// plan is not here yet. Throws with the core's reason when `code` is not a Red Folder
    /// print code.
    #[wasm_bindgen(js_name = checkPaperCode)]
    pub fn check_paper_code(&self, id: &str, code: &str) -> Result<JsValue, JsValue> {
        self.with_plan(id, |plan| {
            let reading = plan
                .check_paper_code(code)
                .map_err(|e| js_error(&e.to_string()))?;
            serde_json::to_value(reading).map_err(json_error)
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
        to_js(&self.inner.status_json())
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
            for refused in engine.refused(&id) {
                let mut json = serde_json::to_value(refused).map_err(json_error)?;
                json["doc_id"] = id.clone().into();
                all.push(json);
            }
        }
        to_js(&Value::Array(all))
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
    fn with_plan(
        &self,
        id: &str,
        f: impl FnOnce(&redfolder_shared::CarePlan) -> Result<Value, JsValue>,
    ) -> Result<JsValue, JsValue> {
        let engine = self.inner.engine.borrow();
        match engine.doc(id).map(|d| d.plan()) {
            None | Some(Err(DocError::Empty)) => Ok(JsValue::NULL),
            Some(Err(e)) => Err(js_error(&e.to_string())),
            Some(Ok(plan)) => to_js(&f(&plan)?),
        }
    }
}

impl Inner {
    async fn set_pin(&self, pin: &str) -> Result<(), JsValue> {
        if self.keyring.borrow().is_some() {
            return Err(js_error("a PIN is already set on this device"));
        }
        if self.busy.replace(true) {
            return Err(js_error("a PIN is already being set"));
        }
        let outcome = self.create_keyring(pin).await;
        self.busy.set(false);
        outcome
    }

    async fn create_keyring(&self, pin: &str) -> Result<(), JsValue> {
        let (keyring, key) = vault::create(pin).await?;
        self.store.put_keyring(&keyring).await?;
        *self.keyring.borrow_mut() = Some(keyring);
        *self.key.borrow_mut() = Some(key);
        *self.engine.borrow_mut() = new_engine(self.actor.clone());
        self.emit_status();
        Ok(())
    }

    async fn unlock(&self, pin: &str) -> Result<JsValue, JsValue> {
        if self.key.borrow().is_some() {
            return Err(js_error("the app is already unlocked"));
        }
        if self.busy.replace(true) {
            return Err(js_error("an unlock is already in progress"));
        }
        let outcome = self.try_unlock(pin).await;
        self.busy.set(false);
        outcome
    }

    async fn try_unlock(&self, pin: &str) -> Result<JsValue, JsValue> {
        let Some(mut keyring) = self.keyring.borrow().clone() else {
            return Err(js_error("no PIN is set on this device"));
        };
        // Count the attempt before making it: closing the app mid-attempt must not
        // earn a free guess.
        keyring.failed_attempts += 1;
        self.store.put_keyring(&keyring).await?;
        *self.keyring.borrow_mut() = Some(keyring.clone());
        let key = match vault::check_pin(pin) {
            Ok(()) => vault::open_keyring(&keyring, pin).await?,
            Err(_) => None,
        };
        let Some(key) = key else {
            if keyring.attempts_left() == 0 {
                self.erase().await?;
                return to_js(&json!({"ok": false, "attempts_left": 0, "erased": true}));
            }
            self.emit_status();
            return to_js(&json!({
                "ok": false,
                "attempts_left": keyring.attempts_left(),
                "erased": false,
            }));
        };
        keyring.failed_attempts = 0;
        self.store.put_keyring(&keyring).await?;
        *self.keyring.borrow_mut() = Some(keyring);

        let (docs, unreadable) = self.store.load_docs(&key).await?;
        // A caseload or session that cannot be opened is treated as missing: the
        // caseload comes again with the next sync, the session with the next sign-in.
        let caseload: Vec<String> = self
            .store
            .get_secret(&key, CASELOAD_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        let session = self
            .store
            .get_secret(&key, SESSION_KEY)
            .await
            .ok()
            .flatten()
            .and_then(|bytes| String::from_utf8(bytes).ok());

        let mut engine = new_engine(self.actor.clone());
        let mut load_error = (!unreadable.is_empty()).then(|| {
            format!(
                "{} stored plans could not be decrypted; they download again when online",
                unreadable.len()
            )
        });
        let mut saved = HashSet::new();
        for (id, stored) in &docs {
            match engine.load(id, stored) {
                Ok(()) if !stored.doc.is_empty() => {
                    saved.insert(id.clone());
                }
                Ok(()) => {}
                Err(e) => load_error = Some(format!("a stored plan could not be read: {e}")),
            }
        }
        *self.saved.borrow_mut() = saved;
        // Plans listed by the server but not downloaded yet: holding them empty makes a
        // first sync interrupted by a reload resume with the right progress.
        let held: std::collections::BTreeSet<String> = engine.doc_ids().cloned().collect();
        for id in caseload.iter().filter(|id| !held.contains(*id)) {
            engine
                .load(id, &StoredDoc::default())
                .map_err(|e| js_error(&e.to_string()))?;
        }
        *self.engine.borrow_mut() = engine;
        *self.key.borrow_mut() = Some(key);
        *self.status.borrow_mut() = Status {
            last_synced_ms: None,
            error_code: load_error.as_ref().map(|_| "storage"),
            error: load_error,
        };
        self.emit_status();
        to_js(&json!({"ok": true, "session": session}))
    }

    fn lock(&self) {
        *self.session.borrow_mut() = None;
        self.drop_socket();
        self.link.borrow_mut().retry = None;
        *self.key.borrow_mut() = None;
        *self.engine.borrow_mut() = new_engine(self.actor.clone());
        self.saved.borrow_mut().clear();
        *self.status.borrow_mut() = Status::default();
        self.emit_status();
    }

    async fn erase(&self) -> Result<(), JsValue> {
        self.lock();
        *self.keyring.borrow_mut() = None;
        self.store.erase().await?;
        self.emit_status();
        Ok(())
    }

    fn clear_error(&self) {
        let mut status = self.status.borrow_mut();
        status.error = None;
        status.error_code = None;
    }

    fn set_error(&self, code: &'static str, message: String) {
        let mut status = self.status.borrow_mut();
        status.error = Some(message);
        status.error_code = Some(code);
    }

    fn apply(&self, id: &str, edit_json: &str, now_ms: f64) -> Result<Promise, JsValue> {
        let edit: Edit = serde_json::from_str(edit_json)
            .map_err(|e| js_error(&format!("not a valid edit: {e}")))?;
        let key = self
            .key
            .borrow()
            .clone()
            .ok_or_else(|| js_error("unlock the app before editing"))?;
        let editor = match self.session.borrow().as_ref() {
            Some(s) => s.editor.clone(),
            None => return Err(js_error("sign in before editing")),
        };
        let (hash, stored) = {
            let mut engine = self.engine.borrow_mut();
            let hash = engine
                .apply(id, &edit, &editor, now_ms as i64)
                .map_err(|e| js_error(&e.to_string()))?;
            (hash, engine.export(id))
        };
        let saved = self
            .store
            .put_docs(&key, &[(id.to_owned(), stored.unwrap_or_default())]);
        self.pump();
        let hash = hash.to_string();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            saved.await?;
            Ok(JsValue::from(hash))
        }))
    }

    fn connect(&self) {
        let url = match self.session.borrow().as_ref() {
            Some(s) if !s.refused => s.url.clone(),
            _ => return,
        };
        {
            let link = self.link.borrow();
            if link.socket.is_some() || link.retry.is_some() {
                return;
            }
        }
        if !self.window.navigator().on_line() {
            // The `online` event (or the tick) will try again.
            self.emit_status();
            return;
        }
        let ws = match WebSocket::new(&url) {
            Ok(ws) => ws,
            Err(_) => {
                self.schedule_retry();
                return;
            }
        };
        ws.set_binary_type(BinaryType::Arraybuffer);
        ws.set_onopen(Some(self.callbacks.open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(self.callbacks.message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(self.callbacks.close.as_ref().unchecked_ref()));
        self.link.borrow_mut().socket = Some(Socket { ws });
        self.emit_status();
    }

    fn drop_socket(&self) {
        let socket = self.link.borrow_mut().socket.take();
        if socket.is_some() {
            drop(socket);
            self.engine.borrow_mut().disconnected();
        }
    }

    fn schedule_retry(&self) {
        let mut link = self.link.borrow_mut();
        let delay = (1_000.0 * 2f64.powi(link.attempts.min(10) as i32)).min(MAX_BACKOFF_MS);
        let jitter = js_sys::Math::random() * 500.0;
        link.attempts += 1;
        link.retry = Timeout::new(
            &self.window,
            (delay + jitter) as i32,
            self.callbacks.retry.as_ref().unchecked_ref(),
        )
        .ok();
    }

    fn on_open(&self) {
        let token = match self.session.borrow().as_ref() {
            Some(s) => s.token.clone(),
            None => return,
        };
        self.engine.borrow_mut().connected(&token);
        self.pump();
    }

    fn on_message(&self, event: &MessageEvent) {
        let Ok(buffer) = event.data().dyn_into::<ArrayBuffer>() else {
            return;
        };
        let bytes = Uint8Array::new(&buffer).to_vec();
        // Let the app save typing in progress first: text applied after a remote merge
        // would be diffed against the merged text and undo the colleague's insertions.
        let hook = self.before_remote.borrow().clone();
        if let Some(hook) = hook {
            let _ = hook.call0(&JsValue::NULL);
        }
        let received = self.engine.borrow_mut().receive(&bytes);
        match received {
            Ok(()) => {
                if self.engine.borrow().is_connected() {
                    self.status.borrow_mut().last_synced_ms = Some(js_sys::Date::now());
                }
            }
            Err(e) => self.set_error("sync", format!("sync: {e}")),
        }
        self.pump();
    }

    fn on_close(&self) {
        self.drop_socket();
        self.schedule_retry();
        self.emit_status();
    }

    fn on_tick(&self) {
        {
            let mut engine = self.engine.borrow_mut();
            engine.tick();
            // While the connection is live and nothing waits to upload, the device is in
            // step with the server (which pushes new changes), so "last synced" is now.
            if engine.is_connected() && engine.pending_total() == 0 {
                self.status.borrow_mut().last_synced_ms = Some(js_sys::Date::now());
            }
        }
        self.pump();
        // Covers an `online` event missed while a retry was not yet due.
        self.connect();
    }

    fn on_online(&self) {
        self.reset_backoff();
        self.connect();
    }

    /// Forgets failed attempts and any pending retry, so the next connect is immediate.
    fn reset_backoff(&self) {
        let mut link = self.link.borrow_mut();
        link.attempts = 0;
        link.retry = None;
    }

    fn on_offline(&self) {
        // A socket can linger half-open after the network goes; close it so the status
        // bar tells the truth and the reconnect starts cleanly when the network returns.
        self.drop_socket();
        self.link.borrow_mut().retry = None;
        self.emit_status();
    }

    /// Sends queued frames, persists and reports what the engine says happened.
    fn pump(&self) {
        let frames = self.engine.borrow_mut().take_outgoing();
        if !frames.is_empty() {
            let link = self.link.borrow();
            if let Some(socket) = link
                .socket
                .as_ref()
                .filter(|s| s.ws.ready_state() == WebSocket::OPEN)
            {
                for frame in &frames {
                    // A failed send surfaces as a close event, which reconnects; the
                    // engine re-derives what was lost on the next connection.
                    let _ = socket.ws.send_with_u8_array(frame);
                }
            }
        }
        let events = self.engine.borrow_mut().take_events();
        let mut to_store: Vec<String> = Vec::new();
        let mut caseload: Option<Vec<String>> = None;
        let mut notices: Vec<Value> = Vec::new();
        for event in events {
            match event {
                ClientEvent::Welcome {
                    user_id,
                    user_name,
                    role,
                } => {
                    self.link.borrow_mut().attempts = 0;
                    self.clear_error();
                    self.status.borrow_mut().last_synced_ms = Some(js_sys::Date::now());
                    notices.push(json!({"type": "welcome", "user_id": user_id, "user_name": user_name, "role": role}));
                }
                ClientEvent::Caseload { doc_ids } => {
                    notices.push(json!({"type": "caseload", "doc_ids": doc_ids}));
                    caseload = Some(doc_ids);
                }
                ClientEvent::DocChanged { doc_id } => {
                    notices.push(json!({"type": "doc_changed", "id": doc_id}));
                    to_store.push(doc_id);
                }
                ClientEvent::Acked { doc_id } => to_store.push(doc_id),
                ClientEvent::Error {
                    code,
                    doc_id,
                    message,
                } => {
                    if code == ErrorCode::Unauthorized
                        && let Some(s) = self.session.borrow_mut().as_mut()
                    {
                        s.refused = true;
                    }
                    self.set_error(code.name(), message.clone());
                    notices.push(json!({"type": "error", "code": code.name(), "doc_id": doc_id, "message": message}));
                    if let (ErrorCode::Refused, Some(id)) = (code, doc_id) {
                        // The core has put the plan back to the server's state and kept
                        // the refused edits: both must be stored.
                        let count = self.engine.borrow().refused(&id).len();
                        notices.push(json!({"type": "refused", "id": id, "count": count}));
                        to_store.push(id);
                    }
                }
            }
        }
        // The socket is closed when the key goes, so a key is here whenever events are.
        let key = self.key.borrow().clone();
        if let (Some(ids), Some(key)) = (caseload, &key) {
            let bytes = serde_json::to_vec(&ids).map_err(json_error);
            if let Ok(bytes) = bytes {
                self.report_storage_failure(self.store.put_secret(key, CASELOAD_KEY, bytes));
            }
        }
        if let (false, Some(key)) = (to_store.is_empty(), &key) {
            to_store.sort();
            to_store.dedup();
            let docs: Vec<_> = {
                let mut engine = self.engine.borrow_mut();
                let mut docs = Vec::with_capacity(to_store.len());
                for id in to_store {
                    // A plan not downloaded yet holds nothing worth keeping (unless it has
                    // refused edits to show); storing it empty would also make a stored
                    // copy look like a received plan.
                    let received = engine.doc_mut(&id).is_some_and(|d| !d.is_empty());
                    if !received && engine.refused(&id).is_empty() {
                        continue;
                    }
                    if let Some(stored) = engine.export(&id) {
                        docs.push((id, stored));
                    }
                }
                docs
            };
            let ids: Vec<String> = docs
                .iter()
                .filter(|(_, stored)| !stored.doc.is_empty())
                .map(|(id, _)| id.clone())
                .collect();
            let written = self.store.put_docs(key, &docs);
            let me = self.me.clone();
            self.report_storage_failure(async move {
                written.await?;
                with(&me, |inner| {
                    let mut saved = inner.saved.borrow_mut();
                    let before = saved.len();
                    saved.extend(ids);
                    let grew = saved.len() != before;
                    drop(saved);
                    if grew {
                        inner.emit_status();
                    }
                });
                Ok(())
            });
        }
        if self.session.borrow().as_ref().is_some_and(|s| s.refused) {
            self.drop_socket();
        }
        for notice in notices {
            self.emit(&notice);
        }
        self.emit_status();
    }

    /// Tells the app if a background write fails: the plan is then only in memory.
    fn report_storage_failure(
        &self,
        saved: impl std::future::Future<Output = Result<(), JsValue>> + 'static,
    ) {
        let listener = self.listener.borrow().clone();
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = saved.await
                && let Some(listener) = listener
            {
                let message = js_sys::Reflect::get(&e, &"message".into())
                    .ok()
                    .and_then(|m| m.as_string())
                    .unwrap_or_else(|| "could not save on this device".into());
                let notice =
                    json!({"type": "error", "code": "storage", "doc_id": null, "message": message});
                let _ = to_js(&notice).map(|n| listener.call1(&JsValue::NULL, &n));
            }
        });
    }

    fn status_json(&self) -> Value {
        let (pending, docs_total, docs_waiting, connected, refused) = {
            let mut engine = self.engine.borrow_mut();
            let ids: Vec<String> = engine.doc_ids().cloned().collect();
            // A plan is received once its content is saved on the device, not before.
            let saved = self.saved.borrow();
            let waiting = ids.iter().filter(|id| !saved.contains(*id)).count();
            let refused: usize = ids.iter().map(|id| engine.refused(id).len()).sum();
            (
                engine.pending_total(),
                ids.len(),
                waiting,
                engine.is_connected(),
                refused,
            )
        };
        let has_socket = self.link.borrow().socket.is_some();
        let state = match (has_socket, connected) {
            (true, true) => "online",
            (true, false) => "connecting",
            (false, _) => "offline",
        };
        let session = self.session.borrow();
        let status = self.status.borrow();
        json!({
            "state": state,
            "online": state == "online",
            "network": self.window.navigator().on_line(),
            "pending": pending,
            "last_synced_ms": status.last_synced_ms,
            "error": status.error,
            "error_code": status.error_code,
            "signed_in": session.is_some(),
            "sign_in_refused": session.as_ref().is_some_and(|s| s.refused),
            "locked": self.key.borrow().is_none(),
            "docs_total": docs_total,
            "docs_waiting": docs_waiting,
            "docs_received": docs_total - docs_waiting,
            "refused": refused,
        })
    }

    fn emit_status(&self) {
        let mut status = self.status_json();
        status["type"] = "status".into();
        self.emit(&status);
    }

    /// Calls the app's listener. No `RefCell` borrow is held here: the listener may call
    /// straight back into [`RedFolder`].
    fn emit(&self, notice: &Value) {
        let listener = self.listener.borrow().clone();
        if let (Some(listener), Ok(value)) = (listener, to_js(notice))
            && let Err(e) = listener.call1(&JsValue::NULL, &value)
        {
            web_sys::console::error_2(&"Red Folder listener failed".into(), &e);
        }
    }
}

fn default_sync_url(window: &Window) -> String {
    let location = window.location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss:",
        _ => "ws:",
    };
    let host = location.host().unwrap_or_default();
    format!("{scheme}//{host}/api/v1/sync")
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

fn to_js(value: &Value) -> Result<JsValue, JsValue> {
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
