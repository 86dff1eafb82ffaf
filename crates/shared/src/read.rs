//! A faster way for autosurgeon to read a whole plan.
//!
//! autosurgeon hydrates a struct with one `get` per field and a list with one `get` per
//! element. In Automerge 0.12 each `get` seeks through the columnar op set, which for a plan
//! with a few thousand operations costs microseconds per field and made reading a plan take
//! milliseconds. [`Cached`] answers those `get`s from one `map_range` / `list_range` pass per
//! object instead, and forwards everything else to the document.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ops::RangeBounds;
use std::rc::Rc;

use automerge::{AutoCommit, AutomergeError, ChangeHash, ObjId, ObjType, Prop, Value};

type Entry = (Value<'static>, ObjId);

/// A read-only view of a document that reads each object once. Build one per read: it
/// does not see changes made after it was built.
pub(crate) struct Cached<'a> {
    doc: &'a AutoCommit,
    maps: RefCell<HashMap<ObjId, Rc<HashMap<String, Entry>>>>,
    lists: RefCell<HashMap<ObjId, Rc<Vec<Entry>>>>,
}

impl<'a> Cached<'a> {
    pub(crate) fn new(doc: &'a AutoCommit) -> Cached<'a> {
        Cached {
            doc,
            maps: RefCell::default(),
            lists: RefCell::default(),
        }
    }

    pub(crate) fn doc(&self) -> &'a AutoCommit {
        self.doc
    }

    fn map(&self, obj: &ObjId) -> Rc<HashMap<String, Entry>> {
        if let Some(m) = self.maps.borrow().get(obj) {
            return Rc::clone(m);
        }
        let entries: HashMap<String, Entry> = automerge::ReadDoc::map_range(self.doc, obj, ..)
            .map(|item| {
                let id = item.id();
                (item.key.into_owned(), (Value::from(item.value), id))
            })
            .collect();
        let entries = Rc::new(entries);
        self.maps
            .borrow_mut()
            .insert(obj.clone(), Rc::clone(&entries));
        entries
    }

    fn list(&self, obj: &ObjId) -> Rc<Vec<Entry>> {
        if let Some(l) = self.lists.borrow().get(obj) {
            return Rc::clone(l);
        }
        let entries: Vec<Entry> = automerge::ReadDoc::list_range(self.doc, obj, ..)
            .map(|item| {
                let id = item.id();
                (Value::from(item.value), id)
            })
            .collect();
        let entries = Rc::new(entries);
        self.lists
            .borrow_mut()
            .insert(obj.clone(), Rc::clone(&entries));
        entries
    }

    fn kind(&self, obj: &ObjId) -> Option<ObjType> {
        automerge::ReadDoc::object_type(self.doc, obj).ok()
    }
}

impl autosurgeon::ReadDoc for Cached<'_> {
    type Parents<'b>
        = automerge::Parents<'b>
    where
        Self: 'b;

    fn get_heads(&self) -> Vec<ChangeHash> {
        autosurgeon::ReadDoc::get_heads(self.doc)
    }

    fn get<P: Into<Prop>>(
        &self,
        obj: &ObjId,
        prop: P,
    ) -> Result<Option<(Value<'_>, ObjId)>, AutomergeError> {
        let prop = prop.into();
        match &prop {
            Prop::Map(key) => {
                if let Some(m) = self.maps.borrow().get(obj) {
                    return Ok(m.get(key.as_str()).cloned());
                }
            }
            Prop::Seq(i) => {
                if let Some(l) = self.lists.borrow().get(obj) {
                    return Ok(l.get(*i).cloned());
                }
            }
        }
        match (&prop, self.kind(obj)) {
            (Prop::Map(key), Some(ObjType::Map | ObjType::Table)) => {
                Ok(self.map(obj).get(key.as_str()).cloned())
            }
            (Prop::Seq(i), Some(ObjType::List)) => Ok(self.list(obj).get(*i).cloned()),
            _ => automerge::ReadDoc::get(self.doc, obj, prop),
        }
    }

    fn object_type<O: AsRef<ObjId>>(&self, obj: O) -> Option<ObjType> {
        self.kind(obj.as_ref())
    }

    fn map_range<'b, O, R>(&'b self, obj: O, range: R) -> automerge::iter::MapRange<'b>
    where
        R: RangeBounds<String> + 'b,
        O: AsRef<ObjId>,
        R: RangeBounds<String>,
    {
        automerge::ReadDoc::map_range(self.doc, obj, range)
    }

    fn list_range<O: AsRef<ObjId>, R: RangeBounds<usize>>(
        &self,
        obj: O,
        range: R,
    ) -> automerge::iter::ListRange<'_> {
        automerge::ReadDoc::list_range(self.doc, obj, range)
    }

    fn length<O: AsRef<ObjId>>(&self, obj: O) -> usize {
        let obj = obj.as_ref();
        match self.kind(obj) {
            Some(ObjType::List) => self.list(obj).len(),
            _ => automerge::ReadDoc::length(self.doc, obj),
        }
    }

    fn text<O: AsRef<ObjId>>(&self, obj: O) -> Result<String, AutomergeError> {
        automerge::ReadDoc::text(self.doc, obj)
    }

    fn parents<O: AsRef<ObjId>>(&self, obj: O) -> Result<Self::Parents<'_>, AutomergeError> {
        automerge::ReadDoc::parents(self.doc, obj)
    }

    fn is_empty(&self) -> bool {
        autosurgeon::ReadDoc::is_empty(self.doc)
    }
}
