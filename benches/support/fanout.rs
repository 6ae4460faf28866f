//! Watch fan-out designs, shared by the `watch` group (writer cost, replay)
//! and the `latency` binary (write → receive latency):
//!
//! * zestor: a `Kind` handle and its `Watch` streams;
//! * the locked design: a bounded channel per watcher, pushed to under the
//!   write lock;
//! * papaya + `tokio::sync::broadcast`: what one might assemble from parts —
//!   a map and a broadcast channel, with no ordering between them and no
//!   replay.

use std::sync::Arc;

use tokio::sync::broadcast;
use zestor::{Kind, WatchError, WatchOptions};

use super::locked::{self, LockedDesign};
use super::{consume, Record, KIND};

/// Each watcher's buffer: zestor's `buffer_size` (its ring holds as many),
/// the locked design's channel bound, the broadcast channel's capacity.
pub const BUFFER: usize = 1024;

/// One fan-out design: a keyed write that notifies subscribers.
pub trait Fanout: Sync {
    type Sub: Send;
    fn name(&self) -> &'static str;
    fn subscribe(&self) -> Self::Sub;
    fn write(&self, key: &str, value: Record);
    /// Receives everything ready without blocking; how many. Panics on an
    /// overflow: the benches size their batches so none happens.
    fn drain(sub: &mut Self::Sub) -> u64;
    /// Blocks for the next event's value; `None` once the stream ended.
    fn recv(sub: &mut Self::Sub) -> Option<Record>;
    /// Ends every subscriber's stream.
    fn close(&self);
}

pub struct Zestor(pub Kind<Record>, pub zestor::Store<Record>);

impl Zestor {
    pub fn new() -> Self {
        let store = zestor::Store::new();
        Zestor(store.kind(KIND).expect("open store"), store)
    }
}

impl Fanout for Zestor {
    type Sub = zestor::Watch<Record>;
    fn name(&self) -> &'static str {
        "zestor"
    }
    fn subscribe(&self) -> Self::Sub {
        let options = WatchOptions::new().buffer_size(BUFFER);
        self.0.watch(options).expect("open store")
    }
    fn write(&self, key: &str, value: Record) {
        self.0.set(key, value).expect("valid write");
    }
    fn drain(sub: &mut Self::Sub) -> u64 {
        let mut received = 0;
        while let Some(event) = sub.try_recv().expect("no overflow") {
            consume(event);
            received += 1;
        }
        received
    }
    fn recv(sub: &mut Self::Sub) -> Option<Record> {
        match sub.recv() {
            Ok(event) => Some(*event.value),
            Err(WatchError::Closed) => None,
            Err(WatchError::Overflow) => panic!("a zestor watcher overflowed"),
        }
    }
    fn close(&self) {
        self.1.close();
    }
}

pub struct Locked(pub LockedDesign<Record>);

impl Fanout for Locked {
    type Sub = std::sync::mpsc::Receiver<locked::Event<Record>>;
    fn name(&self) -> &'static str {
        "locked"
    }
    fn subscribe(&self) -> Self::Sub {
        self.0.watch(KIND, BUFFER, false).events
    }
    fn write(&self, key: &str, value: Record) {
        self.0.set(KIND, key, value);
    }
    fn drain(sub: &mut Self::Sub) -> u64 {
        sub.try_iter().map(consume).count() as u64
    }
    fn recv(sub: &mut Self::Sub) -> Option<Record> {
        sub.recv().ok().map(|event| *event.value)
    }
    fn close(&self) {
        self.0.close();
    }
}

type BroadcastEvent = (Arc<str>, Arc<Record>);

pub struct PapayaBroadcast {
    map: papaya::HashMap<String, Arc<Record>>,
    sender: broadcast::Sender<BroadcastEvent>,
}

impl PapayaBroadcast {
    pub fn new() -> Self {
        let (sender, _) = broadcast::channel(BUFFER);
        PapayaBroadcast {
            map: papaya::HashMap::new(),
            sender,
        }
    }
}

impl Fanout for PapayaBroadcast {
    type Sub = broadcast::Receiver<BroadcastEvent>;
    fn name(&self) -> &'static str {
        "papaya_broadcast"
    }
    fn subscribe(&self) -> Self::Sub {
        self.sender.subscribe()
    }
    fn write(&self, key: &str, value: Record) {
        let value = Arc::new(value);
        self.map.pin().insert(key.to_owned(), Arc::clone(&value));
        // An error only means nobody is subscribed.
        let _ = self.sender.send((Arc::from(key), value));
    }
    fn drain(sub: &mut Self::Sub) -> u64 {
        let mut received = 0;
        loop {
            match sub.try_recv() {
                Ok(event) => consume(event),
                Err(broadcast::error::TryRecvError::Empty) => return received,
                Err(error) => panic!("broadcast receiver: {error}"),
            }
            received += 1;
        }
    }
    fn recv(sub: &mut Self::Sub) -> Option<Record> {
        match sub.blocking_recv() {
            Ok((_, value)) if *value == CLOSE_SENTINEL => None,
            Ok((_, value)) => Some(*value),
            Err(broadcast::error::RecvError::Closed) => None,
            Err(error) => panic!("broadcast receiver: {error}"),
        }
    }
    /// A broadcast channel ends when its last sender drops, and this one
    /// keeps its sender for writes: consumers are told to stop by a sentinel.
    fn close(&self) {
        let _ = self.sender.send((Arc::from(""), Arc::new(CLOSE_SENTINEL)));
    }
}

/// The value `PapayaBroadcast::close` sends; its `recv` ends on it.
const CLOSE_SENTINEL: Record = Record {
    id: u64::MAX,
    payload: [u64::MAX; 3],
};
