//! Owned registrations of Rust closures with the browser. Each value unregisters on
//! `Drop`, so nothing the browser can call outlives the Rust state it points at.

use wasm_bindgen::JsCast;
use wasm_bindgen::prelude::*;
use web_sys::{Event, Window};

/// A repeating timer owning its callback.
pub(crate) struct Interval {
    id: i32,
    _callback: Closure<dyn FnMut()>,
}

impl Interval {
    pub(crate) fn new(
        window: &Window,
        every_ms: i32,
        callback: Closure<dyn FnMut()>,
    ) -> Result<Interval, JsValue> {
        let id = window.set_interval_with_callback_and_timeout_and_arguments_0(
            callback.as_ref().unchecked_ref(),
            every_ms,
        )?;
        Ok(Interval {
            id,
            _callback: callback,
        })
    }
}

impl Drop for Interval {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_interval_with_handle(self.id);
        }
    }
}

impl std::fmt::Debug for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interval").field("id", &self.id).finish()
    }
}

/// A pending one-shot timer. The callback belongs to someone else (it is reused for
/// every retry); dropping this cancels the timer.
#[derive(Debug)]
pub(crate) struct Timeout {
    id: i32,
}

impl Timeout {
    pub(crate) fn new(
        window: &Window,
        after_ms: i32,
        callback: &js_sys::Function,
    ) -> Result<Timeout, JsValue> {
        let id =
            window.set_timeout_with_callback_and_timeout_and_arguments_0(callback, after_ms)?;
        Ok(Timeout { id })
    }
}

impl Drop for Timeout {
    fn drop(&mut self) {
        if let Some(window) = web_sys::window() {
            window.clear_timeout_with_handle(self.id);
        }
    }
}

/// A `window` event listener owning its callback.
pub(crate) struct WindowListener {
    window: Window,
    event: &'static str,
    callback: Closure<dyn FnMut(Event)>,
}

impl WindowListener {
    pub(crate) fn new(
        window: &Window,
        event: &'static str,
        callback: Closure<dyn FnMut(Event)>,
    ) -> Result<WindowListener, JsValue> {
        window.add_event_listener_with_callback(event, callback.as_ref().unchecked_ref())?;
        Ok(WindowListener {
            window: window.clone(),
            event,
            callback,
        })
    }
}

impl Drop for WindowListener {
    fn drop(&mut self) {
        let _ = self.window.remove_event_listener_with_callback(
            self.event,
            self.callback.as_ref().unchecked_ref(),
        );
    }
}

impl std::fmt::Debug for WindowListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowListener")
            .field("event", &self.event)
            .finish()
    }
}
