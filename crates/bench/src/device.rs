//! A device: `redfolder_testclient::SyncDevice` (the shared core's `ClientEngine` over a
//! real WebSocket, the same engine the tablet app runs through WebAssembly), noting which
//! documents changed or were acknowledged and failing on any error the server reports.
//! The harness only moves bytes.

use std::ops::{Deref, DerefMut};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use redfolder_shared::{ActorId, ChangeHash, ClientEngine, ClientEvent, Edit};
use redfolder_testclient::SyncDevice;

pub(crate) use redfolder_testclient::{Incoming, now_ms};

/// The engine, its socket, who signed in and the caseload are the [`SyncDevice`]'s
/// (through `Deref`); this adds what the scenarios measure.
#[derive(Debug)]
pub(crate) struct Device {
    device: SyncDevice,
    /// Documents that gained remote changes since the caller last drained this.
    pub(crate) changed: Vec<String>,
    /// Documents the server acknowledged since the caller last drained this.
    pub(crate) acked: Vec<String>,
}

impl Deref for Device {
    type Target = SyncDevice;

    fn deref(&self) -> &SyncDevice {
        &self.device
    }
}

impl DerefMut for Device {
    fn deref_mut(&mut self) -> &mut SyncDevice {
        &mut self.device
    }
}

impl Device {
    pub(crate) fn new(name: &str) -> Device {
        Device {
            device: SyncDevice::new(ClientEngine::new(ActorId::from(name.as_bytes()))),
            changed: Vec::new(),
            acked: Vec::new(),
        }
    }

    /// Waits up to `wait` for frames, feeds everything that has arrived to the engine,
    /// runs the timer when due and sends the replies.
    pub(crate) async fn step(&mut self, wait: Duration) -> anyhow::Result<()> {
        let events = self.device.step(wait).await?;
        self.note(events)
    }

    /// Feeds `first` (if any) and every frame already waiting to the engine, runs the
    /// timer when due and sends the replies.
    pub(crate) async fn handle(&mut self, first: Option<Incoming>) -> anyhow::Result<()> {
        let events = self.device.handle(first).await?;
        self.note(events)
    }

    fn note(&mut self, events: Vec<ClientEvent>) -> anyhow::Result<()> {
        for event in events {
            match event {
                ClientEvent::DocChanged { doc_id } => self.changed.push(doc_id),
                ClientEvent::Acked { doc_id } => self.acked.push(doc_id),
                ClientEvent::Error {
                    code,
                    doc_id,
                    message,
                } => bail!(
                    "the server reported {} for {doc_id:?}: {message}",
                    code.name()
                ),
                ClientEvent::Welcome { .. } | ClientEvent::Caseload { .. } => {}
            }
        }
        Ok(())
    }

    /// Steps until `done` holds, failing after `patience`.
    pub(crate) async fn pump_until(
        &mut self,
        what: &str,
        patience: Duration,
        mut done: impl FnMut(&mut Device) -> bool,
    ) -> anyhow::Result<()> {
        let deadline = Instant::now() + patience;
        loop {
            if done(self) {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("timed out after {patience:?} waiting for {what}");
            }
            self.step(Duration::from_millis(100)).await?;
        }
    }

    /// Applies an edit as the signed-in user and sends it.
    pub(crate) async fn apply(&mut self, doc_id: &str, edit: &Edit) -> anyhow::Result<ChangeHash> {
        let hash = self.device.apply(doc_id, edit)?;
        self.device.flush().await.context("sending the edit")?;
        Ok(hash)
    }
}
