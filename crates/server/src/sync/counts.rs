//! [`ConnectionCounts`]: how many sync connections are open per remote address, user and
//! device, and the permits that hold a connection's place in those counts.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::Notify;

/// Open sync connections by remote address, user and device, so that no one of them can
/// take more than its share of the server (see `Config::max_connections_per_address` and
/// its siblings).
///
/// A device over its limit is not refused: its *oldest* connection is closed instead. A
/// tablet on a flaky network leaves connections the server has not yet seen die (a
/// half-open TCP connection can linger for minutes); refusing the new one would lock the
/// device out until they time out, while the newest is the one it is actually using.
#[derive(Debug, Default)]
pub struct ConnectionCounts {
    open: Mutex<HashMap<CountKey, usize>>,
    /// Each device's open connections, oldest first: the connection id and how to tell
    /// the connection it has been superseded.
    devices: Mutex<HashMap<String, DeviceConnections>>,
}

/// One device's open connections, oldest first: each one's id and its superseded signal.
type DeviceConnections = VecDeque<(u64, Arc<Notify>)>;

/// What a connection is counted against.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum CountKey {
    Address(IpAddr),
    User(String),
}

/// One connection's place in a [`ConnectionCounts`] count, given back when dropped.
#[derive(Debug)]
pub(crate) struct CountPermit {
    counts: Arc<ConnectionCounts>,
    place: Place,
}

#[derive(Debug)]
enum Place {
    Counted(CountKey),
    Device { device_id: String, connection: u64 },
}

impl ConnectionCounts {
    /// A place for one more connection under `key`, unless `limit` are open already.
    pub(crate) fn acquire(self: &Arc<Self>, key: CountKey, limit: usize) -> Option<CountPermit> {
        let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
        let count = open.entry(key.clone()).or_default();
        if *count >= limit {
            return None;
        }
        *count += 1;
        Some(CountPermit {
            counts: Arc::clone(self),
            place: Place::Counted(key),
        })
    }

    /// Counts connection `connection` of a device; if that makes more than `limit`, the
    /// device's oldest connections are told (through their [`Notify`]) to close.
    pub(crate) fn join_device(
        self: &Arc<Self>,
        device_id: &str,
        connection: u64,
        superseded: Arc<Notify>,
        limit: usize,
    ) -> CountPermit {
        let mut devices = self.devices.lock().unwrap_or_else(PoisonError::into_inner);
        let open = devices.entry(device_id.to_owned()).or_default();
        open.push_back((connection, superseded));
        while open.len() > limit.max(1) {
            if let Some((_, oldest)) = open.pop_front() {
                // Stored if the connection is not waiting right now: never lost.
                oldest.notify_one();
            }
        }
        CountPermit {
            counts: Arc::clone(self),
            place: Place::Device {
                device_id: device_id.to_owned(),
                connection,
            },
        }
    }
}

impl Drop for CountPermit {
    fn drop(&mut self) {
        let counts = &self.counts;
        match &self.place {
            Place::Counted(key) => {
                let mut open = counts.open.lock().unwrap_or_else(PoisonError::into_inner);
                if let Some(count) = open.get_mut(key) {
                    *count -= 1;
                    if *count == 0 {
                        open.remove(key);
                    }
                }
            }
            Place::Device {
                device_id,
                connection,
            } => {
                let mut devices = counts
                    .devices
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(open) = devices.get_mut(device_id) {
                    open.retain(|(id, _)| id != connection);
                    if open.is_empty() {
                        devices.remove(device_id);
                    }
                }
            }
        }
    }
}
