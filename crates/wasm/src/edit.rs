//! The edit path: one edit from the app, validated and applied by the core, stored on the
//! device, then offered to the server.

use js_sys::Promise;
use redfolder_shared::Edit;
use wasm_bindgen::prelude::*;

use crate::Inner;
use crate::idb::js_error;

impl Inner {
    pub(crate) fn apply(&self, id: &str, edit_json: &str, now_ms: f64) -> Result<Promise, JsValue> {
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
        self.relay();
        let hash = hash.to_string();
        Ok(wasm_bindgen_futures::future_to_promise(async move {
            saved.await?;
            Ok(JsValue::from(hash))
        }))
    }
}
