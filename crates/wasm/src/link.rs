//! The link to the server: one WebSocket on `/api/v1/sync` that only moves bytes between
//! the browser and the engine, reconnecting with exponential backoff; the engine's tick
//! timer; and the browser's `online` / `offline` events. Every closure the browser holds
//! lives in an owned value whose `Drop` unregisters it.

use std::rc::Weak;

use js_sys::{ArrayBuffer, Uint8Array};
use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{BinaryType, Event, MessageEvent, WebSocket, Window};

use crate::Inner;
use crate::registration::{Interval, Timeout, WindowListener};

/// How often the engine's timer runs: it re-sends what a flaky link may have lost.
const TICK_MS: i32 = 3_000;
/// Reconnect backoff: 1 s, 2 s, 4 s … capped here.
const MAX_BACKOFF_MS: f64 = 30_000.0;

#[derive(Default)]
pub(crate) struct Link {
    pub(crate) socket: Option<Socket>,
    pub(crate) retry: Option<Timeout>,
    pub(crate) attempts: u32,
    registrations: Vec<Registration>,
}

#[allow(dead_code)] // Held only for their `Drop`.
pub(crate) enum Registration {
    Interval(Interval),
    Listener(WindowListener),
}

/// The open WebSocket. Dropping it detaches our handlers and closes it, so a socket
/// being replaced can no longer call into the engine.
pub(crate) struct Socket {
    pub(crate) ws: WebSocket,
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
pub(crate) struct SocketCallbacks {
    open: Closure<dyn FnMut(Event)>,
    message: Closure<dyn FnMut(MessageEvent)>,
    close: Closure<dyn FnMut(Event)>,
    retry: Closure<dyn FnMut()>,
}

impl SocketCallbacks {
    pub(crate) fn new(weak: &Weak<Inner>) -> SocketCallbacks {
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

pub(crate) fn with(weak: &Weak<Inner>, f: impl FnOnce(&Inner)) {
    if let Some(inner) = weak.upgrade() {
        f(&inner);
    }
}
impl Inner {
    /// Starts the engine's tick timer and listens for the network coming and going. The
    /// registrations are held in `link`, so they end with the instance.
    pub(crate) fn watch(&self, window: &Window) -> Result<(), JsValue> {
        let w = self.me.clone();
        let tick = Interval::new(
            window,
            TICK_MS,
            Closure::new(move || with(&w, Inner::on_tick)),
        )?;
        let w = self.me.clone();
        let online = WindowListener::new(
            window,
            "online",
            Closure::new(move |_: Event| with(&w, Inner::on_online)),
        )?;
        let w = self.me.clone();
        let offline = WindowListener::new(
            window,
            "offline",
            Closure::new(move |_: Event| with(&w, Inner::on_offline)),
        )?;
        self.link.borrow_mut().registrations = vec![
            Registration::Interval(tick),
            Registration::Listener(online),
            Registration::Listener(offline),
        ];
        Ok(())
    }

    pub(crate) fn connect(&self) {
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

    pub(crate) fn drop_socket(&self) {
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
        self.relay();
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
        self.relay();
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
        self.relay();
        // Covers an `online` event missed while a retry was not yet due.
        self.connect();
    }

    fn on_online(&self) {
        self.reset_backoff();
        self.connect();
    }

    /// Forgets failed attempts and any pending retry, so the next connect is immediate.
    pub(crate) fn reset_backoff(&self) {
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
}

pub(crate) fn default_sync_url(window: &Window) -> String {
    let location = window.location();
    let scheme = match location.protocol().as_deref() {
        Ok("https:") => "wss:",
        _ => "ws:",
    };
    let host = location.host().unwrap_or_default();
    format!("{scheme}//{host}/api/v1/sync")
}
