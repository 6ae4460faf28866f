//! A controller: a reconciler that follows a kind through a [`Mirror`] in a
//! tokio task, while writers storm the kind from other threads and the
//! reconciler takes a millisecond or two over every event it handles.
//!
//! Run: `cargo run --release --example controller` (about 3 seconds)
//!
//! The reconciler is far slower than the writers, and its mirror's buffer
//! is small, so it falls behind within the first millisecond and keeps
//! falling behind for as long as the storm lasts. It never has to notice:
//! the mirror re-syncs itself from a snapshot each time and yields only the
//! keys that differ from what the reconciler was shown, one event per key
//! however often the key changed meanwhile. The reconciler keeps its own
//! copy of the kind built from nothing but the events, and checks each
//! event against it as it goes (a create is for a key it does not hold, an
//! update's or delete's `previous` is the value it holds). At the end it
//! prints the proof that it converged: its copy, the mirror's `list()` and
//! the store's `list` are the same, with nothing pending.
//!
//! By hand, with a plain `Watch` (in a task, its `into_stream()`), the same
//! job is: on overflow, take a snapshot, diff it against the replica, watch
//! again from its revision + 1 — and under a storm like this one, do it
//! before the next overflow.

use std::collections::BTreeMap;
use std::thread;
use std::time::{Duration, Instant};

use futures::StreamExt;
use tokio::sync::oneshot;
use zestor::{Error, Event, EventType, Kind, Mirror, MirrorStream, Store, WatchOptions};

/// How many keys the kind holds (about; the storm deletes and re-creates).
const KEYS: u64 = 200;
/// Writer threads, and how long they write flat out.
const WRITERS: u64 = 2;
const STORM: Duration = Duration::from_millis(1_500);
/// What handling one event costs the reconciler: a call to the outside
/// world, say. Far slower than the writers on purpose.
/// (tokio's timer rounds a sleep up to its next millisecond tick, so it
/// is one to two.)
const HANDLE: Duration = Duration::from_millis(1);

fn job(i: u64) -> String {
    format!("job-{i:03}")
}

/// The reconciler's own view of the kind, built from its events only.
#[derive(Debug, Default)]
struct Reconciler {
    state: BTreeMap<String, u64>,
    creates: u64,
    updates: u64,
    deletes: u64,
}

impl Reconciler {
    /// Handles one event. The checks are the mirror's promise: applying its
    /// events in order gives its `list()`, and `previous` is always what
    /// the reconciler was last shown for the key, even when the changes in
    /// between were coalesced or found by a resync.
    async fn handle(&mut self, event: Event<u64>) {
        let key = event.key.to_string();
        match event.event_type {
            EventType::Create => {
                assert!(event.previous.is_none(), "a create replaces nothing");
                let held = self.state.insert(key, *event.value);
                assert_eq!(held, None, "a create is for a key not held");
                self.creates += 1;
            }
            EventType::Update => {
                let previous = event.previous.as_deref().copied();
                let held = self.state.insert(key, *event.value);
                assert_eq!(previous, held, "an update replaces the value held");
                self.updates += 1;
            }
            EventType::Delete => {
                let held = self.state.remove(&key);
                assert_eq!(held, Some(*event.value), "a delete removes the value held");
                self.deletes += 1;
            }
        }
        tokio::time::sleep(HANDLE).await;
    }

    fn handled(&self) -> u64 {
        self.creates + self.updates + self.deletes
    }
}

/// True once the reconciler has been shown every write to the kind.
fn caught_up(mirror: &Mirror<u64>, jobs: &Kind<u64>) -> Result<bool, Error> {
    Ok(mirror.pending() == 0 && mirror.revision() == jobs.revision()?)
}

/// The reconciler task: handles events until `shutdown` fires and it has
/// caught up, reporting on a ticker. Returns its stream (for the mirror
/// inside) and its state.
async fn reconcile(
    mut events: MirrorStream<u64>,
    jobs: Kind<u64>,
    mut shutdown: oneshot::Receiver<()>,
) -> Result<(MirrorStream<u64>, Reconciler), Error> {
    let mut reconciler = Reconciler::default();
    let mut ticker = tokio::time::interval(Duration::from_millis(250));
    let started = Instant::now();
    let mut stopping = false;
    loop {
        // Checked here, not only after an event: the kind's last revisions
        // may be ones no event carries (a write that lost a race takes a
        // revision), which the mirror passes without yielding anything; the
        // ticker then brings the loop back here.
        if stopping && caught_up(events.get_ref(), &jobs)? {
            break;
        }
        tokio::select! {
            event = events.next() => match event {
                Some(event) => reconciler.handle(event).await,
                None => return Err(Error::Closed),
            },
            _ = ticker.tick() => {
                let mirror = events.get_ref();
                println!(
                    "{:>5} ms  handled {:>5}  pending {:>3}  resyncs {:>4}  behind by {:>7} revisions",
                    started.elapsed().as_millis(),
                    reconciler.handled(),
                    mirror.pending(),
                    mirror.resyncs(),
                    jobs.revision()? - mirror.revision(),
                );
            }
            _ = &mut shutdown, if !stopping => stopping = true,
        }
    }
    Ok((events, reconciler))
}

/// The writers: sets, increments and deletes over the kind's keys, flat out
/// for `STORM`. Returns how many writes changed something.
fn storm(jobs: &Kind<u64>) -> u64 {
    let deadline = Instant::now() + STORM;
    thread::scope(|scope| {
        let writers: Vec<_> = (0..WRITERS)
            .map(|writer| {
                scope.spawn(move || {
                    let mut writes = 0u64;
                    let mut i = 0u64;
                    // The clock is read once per 1,024 writes.
                    while i % 1_024 != 0 || Instant::now() < deadline {
                        let key = job((i * 7 + writer * 13) % KEYS);
                        let changed = if i % 50 == 0 {
                            jobs.delete(&key).expect("open store").is_some()
                        } else if i % 3 == 0 {
                            jobs.set(&key, i).expect("open store");
                            true
                        } else {
                            // A deleted key stays deleted until a set.
                            jobs.update(&key, |n| Ok::<_, Error>(n + 1))
                                .unwrap_or(false)
                        };
                        writes += u64::from(changed);
                        i += 1;
                    }
                    writes
                })
            })
            .collect();
        writers
            .into_iter()
            .map(|writer| writer.join().expect("writer"))
            .sum()
    })
}

fn as_map<V: std::ops::Deref<Target = u64>>(
    entries: impl IntoIterator<Item = (impl AsRef<str>, V)>,
) -> BTreeMap<String, u64> {
    entries
        .into_iter()
        .map(|(key, value)| (key.as_ref().to_owned(), *value))
        .collect()
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let store = Store::<u64>::new();
    let jobs = store.kind("jobs")?;
    for i in 0..KEYS {
        jobs.set(&job(i), 0)?;
    }

    // A buffer of 64 revisions: at the storm's rate the mirror falls that
    // far behind during one slow event, and re-syncs.
    let mirror = jobs.mirror_with(WatchOptions::new().buffer_size(64))?;
    let (stop, shutdown) = oneshot::channel();
    let reconciler = tokio::spawn(reconcile(mirror.into_stream(), jobs.clone(), shutdown));

    let started = Instant::now();
    let writes = tokio::task::spawn_blocking({
        let jobs = jobs.clone();
        move || storm(&jobs)
    })
    .await?;
    let stormed = started.elapsed();
    let _ = stop.send(());
    let (events, reconciler) = reconciler.await??;
    let mirror = events.into_inner();

    let store_state = as_map(jobs.list()?);
    let mirror_state = as_map(mirror.list());
    println!();
    println!(
        "writers:    {writes} writes in {stormed:.2?}, kind at revision {}",
        jobs.revision()?
    );
    println!(
        "reconciler: {} events handled ({} creates, {} updates, {} deletes) in {:.2?}, \
         each taking {HANDLE:?}",
        reconciler.handled(),
        reconciler.creates,
        reconciler.updates,
        reconciler.deletes,
        started.elapsed()
    );
    println!(
        "mirror:     {} resyncs, {} pending, at revision {}",
        mirror.resyncs(),
        mirror.pending(),
        mirror.revision()
    );
    assert!(
        mirror.resyncs() > 0,
        "the reconciler fell behind and the mirror healed"
    );
    assert_eq!(mirror.pending(), 0);
    assert_eq!(mirror.revision(), jobs.revision()?);
    assert_eq!(
        mirror_state, store_state,
        "the mirror's list() is the store's"
    );
    assert_eq!(
        reconciler.state, mirror_state,
        "the events add up to the mirror"
    );
    println!(
        "converged:  {} keys; the reconciler's state == mirror.list() == store.list(\"jobs\")",
        store_state.len()
    );
    Ok(())
}
