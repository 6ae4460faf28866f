//! A simulated disk for the crash tests: a redb [`StorageBackend`] that
//! tracks what the OS sees (`current`) apart from what survived the last
//! `sync_data` (`durable`), can lose power at any operation, and can fail
//! any write, `set_len` or `sync_data` with an I/O error.
//!
//! * Every `write` and `set_len` updates `current` at once (reads see it)
//!   and is logged as unsynced; `sync_data` applies the log to `durable`
//!   and clears it.
//! * A power cut (at the N-th mutating call, or now) freezes a [`Crash`]:
//!   `durable` and the unsynced log as they were at that instant. The disk
//!   keeps working afterwards — the process does not notice — but nothing
//!   it does from then on can survive: a reboot starts from an image made
//!   from the frozen crash ([`Crash::plain`], [`Crash::torn`],
//!   [`Crash::scrambled`], [`Crash::everything`]).
//! * A [`Fault`] fails the N-th call of one kind with an `io::Error`
//!   (`StorageFull`, "No space left on device", for writes and `set_len`;
//!   an `Other` "Input/output error" for `sync_data`) — only that call, or
//!   that call and every later mutating one (a dead disk). A failed call
//!   changes nothing.

#![allow(dead_code)]

use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use redb::{BackendError, StorageBackend};

/// Sector size: a torn write keeps whole sectors (a disk writes a sector
/// atomically).
pub const SECTOR: usize = 512;

/// Which backend call a fault hits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Point {
    /// `StorageBackend::write`: fails with "No space left on device".
    Write,
    /// `StorageBackend::set_len`: fails with "No space left on device".
    SetLen,
    /// `StorageBackend::sync_data`: fails with "Input/output error".
    Sync,
}

impl Point {
    /// The error this point fails with.
    pub fn error(self) -> io::Error {
        match self {
            Point::Write | Point::SetLen => io::Error::new(
                io::ErrorKind::StorageFull,
                "No space left on device (simulated ENOSPC)",
            ),
            Point::Sync => io::Error::other("Input/output error (simulated EIO)"),
        }
    }

    /// The words every error report of this fault must carry.
    pub fn cause(self) -> &'static str {
        match self {
            Point::Write | Point::SetLen => "No space left on device",
            Point::Sync => "Input/output error",
        }
    }
}

/// Fail the `nth` (1-based) call of `point`; with `sticky`, every later
/// write, `set_len` and `sync_data` too.
#[derive(Clone, Copy, Debug)]
pub struct Fault {
    /// Which call.
    pub point: Point,
    /// Its number, from 1, counted from the disk's creation.
    pub nth: u64,
    /// A dead disk from then on, rather than a single failed call.
    pub sticky: bool,
}

/// One unsynced change.
#[derive(Clone, Debug)]
pub enum Op {
    /// `write(offset, data)`.
    Write {
        /// Where.
        offset: u64,
        /// What.
        data: Vec<u8>,
    },
    /// `set_len(len)`.
    SetLen(u64),
}

fn apply(image: &mut Vec<u8>, op: &Op) {
    match op {
        Op::Write { offset, data } => write_at(image, *offset as usize, data),
        Op::SetLen(len) => image.resize(*len as usize, 0),
    }
}

fn write_at(image: &mut Vec<u8>, offset: usize, data: &[u8]) {
    if image.len() < offset + data.len() {
        image.resize(offset + data.len(), 0);
    }
    image[offset..offset + data.len()].copy_from_slice(data);
}

/// What a power cut leaves: the synced image and the writes the disk may
/// or may not have kept.
#[derive(Clone, Debug, Default)]
pub struct Crash {
    /// `durable` at the cut.
    pub durable: Vec<u8>,
    /// Every change since the last completed `sync_data`, in order.
    pub unsynced: Vec<Op>,
}

impl Crash {
    /// Everything not synced is lost.
    pub fn plain(&self) -> Vec<u8> {
        self.durable.clone()
    }

    /// The first `ops` unsynced changes reached the disk, and the first
    /// `bytes` bytes (rounded down to whole sectors) of the next one.
    pub fn torn(&self, ops: usize, bytes: usize) -> Vec<u8> {
        let mut image = self.durable.clone();
        for op in self.unsynced.iter().take(ops) {
            apply(&mut image, op);
        }
        if let Some(Op::Write { offset, data }) = self.unsynced.get(ops) {
            let keep = (bytes.min(data.len()) / SECTOR) * SECTOR;
            write_at(&mut image, *offset as usize, &data[..keep]);
        }
        image
    }

    /// Every unsynced change but the last reached the disk, and the first
    /// half (whole sectors) of the last: a write torn by the cut.
    pub fn torn_last(&self) -> Vec<u8> {
        match self.unsynced.len() {
            0 => self.plain(),
            n => {
                let half = match &self.unsynced[n - 1] {
                    Op::Write { data, .. } => data.len() / 2,
                    Op::SetLen(_) => 0,
                };
                self.torn(n - 1, half)
            }
        }
    }

    /// A disk with a volatile cache that reorders: every sector of every
    /// unsynced write independently reached the disk or not (`set_len`s
    /// are applied, in order).
    pub fn scrambled(&self, rng: &mut Rng) -> Vec<u8> {
        let mut image = self.durable.clone();
        for op in &self.unsynced {
            match op {
                Op::SetLen(_) => apply(&mut image, op),
                Op::Write { offset, data } => {
                    for (i, sector) in data.chunks(SECTOR).enumerate() {
                        if rng.below(2) == 1 {
                            write_at(&mut image, *offset as usize + i * SECTOR, sector);
                        }
                    }
                }
            }
        }
        image
    }

    /// Every unsynced change reached the disk: the process died, the OS did
    /// not (or the device kept its cache).
    pub fn everything(&self) -> Vec<u8> {
        self.torn(self.unsynced.len(), 0)
    }

    /// The images a reboot is checked on, each with a name: plain, torn at
    /// the last write, torn at a random point, scrambled, everything.
    pub fn images(&self, rng: &mut Rng) -> Vec<(String, Vec<u8>)> {
        let n = self.unsynced.len();
        let k = rng.below(n as u64 + 1) as usize;
        let bytes = match self.unsynced.get(k) {
            Some(Op::Write { data, .. }) => rng.below(data.len() as u64 + 1) as usize,
            _ => 0,
        };
        vec![
            ("plain".to_owned(), self.plain()),
            ("torn-last".to_owned(), self.torn_last()),
            (format!("torn-at-{k}/{n}+{bytes}B"), self.torn(k, bytes)),
            ("scrambled".to_owned(), self.scrambled(rng)),
            ("everything".to_owned(), self.everything()),
        ]
    }
}

#[derive(Default)]
struct State {
    current: Vec<u8>,
    durable: Vec<u8>,
    unsynced: Vec<Op>,
    /// Calls so far: writes, `set_len`s, syncs, and all three together.
    writes: u64,
    set_lens: u64,
    syncs: u64,
    mutations: u64,
    fault: Option<Fault>,
    /// The first failed call: its point and number.
    fired: Option<(Point, u64)>,
    /// Set once a sticky fault fired: every mutating call fails.
    dead: Option<Point>,
    cut_at: Option<u64>,
    cut: Option<(Crash, Instant)>,
    closed: bool,
}

impl State {
    /// Counts a mutating call, cuts the power if it is the chosen one, and
    /// says whether it fails.
    fn enter(&mut self, point: Point) -> Result<(), BackendError> {
        self.mutations += 1;
        let nth = match point {
            Point::Write => {
                self.writes += 1;
                self.writes
            }
            Point::SetLen => {
                self.set_lens += 1;
                self.set_lens
            }
            Point::Sync => {
                self.syncs += 1;
                self.syncs
            }
        };
        if self.cut.is_none() && self.cut_at.is_some_and(|at| self.mutations >= at) {
            self.cut_now();
        }
        if let Some(dead) = self.dead {
            return Err(BackendError::Io(dead.error()));
        }
        if let Some(fault) = self.fault {
            if fault.point == point && fault.nth == nth {
                self.fired.get_or_insert((point, nth));
                if fault.sticky {
                    self.dead = Some(point);
                }
                return Err(BackendError::Io(point.error()));
            }
        }
        Ok(())
    }

    fn cut_now(&mut self) {
        if self.cut.is_none() {
            let crash = Crash {
                durable: self.durable.clone(),
                unsynced: self.unsynced.clone(),
            };
            self.cut = Some((crash, Instant::now()));
        }
    }
}

/// The disk: clone it freely; [`SimDisk::backend`] is what redb gets.
#[derive(Clone, Default)]
pub struct SimDisk(Arc<Mutex<State>>);

/// Set by the first poisoned lock: the disk state is still usable (every
/// update is a few plain assignments).
static POISONED: AtomicBool = AtomicBool::new(false);

impl SimDisk {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// A disk holding `image`, all of it synced (a reboot).
    pub fn from_image(image: Vec<u8>) -> Self {
        let disk = Self::default();
        {
            let mut state = disk.lock();
            state.current = image.clone();
            state.durable = image;
        }
        disk
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|poisoned| {
            POISONED.store(true, Ordering::Relaxed);
            poisoned.into_inner()
        })
    }

    /// The backend to open a database on.
    pub fn backend(&self) -> SimBackend {
        SimBackend(self.clone())
    }

    /// Fails a call as `fault` says.
    pub fn inject(&self, fault: Fault) {
        self.lock().fault = Some(fault);
    }

    /// The first failed call, if any.
    pub fn fired(&self) -> Option<(Point, u64)> {
        self.lock().fired
    }

    /// Cuts the power at the `n`-th mutating call (counted from the disk's
    /// creation, the cut happening just before that call).
    pub fn cut_power_at(&self, n: u64) {
        self.lock().cut_at = Some(n);
    }

    /// Cuts the power now (if it was not cut yet); returns when it was cut.
    pub fn cut_power_now(&self) -> Instant {
        let mut state = self.lock();
        state.cut_now();
        state.cut.as_ref().expect("cut").1
    }

    /// Whether the power is still on. A write whose call returned before
    /// this said `true` was acknowledged before any cut.
    pub fn powered(&self) -> bool {
        self.lock().cut.is_none()
    }

    /// What the cut left, and when it happened: the frozen crash if the
    /// power was cut, else a cut now.
    pub fn crash(&self) -> (Crash, Instant) {
        let mut state = self.lock();
        state.cut_now();
        state.cut.clone().expect("cut")
    }

    /// What a power loss right now would leave (does not cut the power).
    pub fn crash_now(&self) -> Crash {
        let state = self.lock();
        Crash {
            durable: state.durable.clone(),
            unsynced: state.unsynced.clone(),
        }
    }

    /// Calls so far: (writes, set_lens, syncs, all mutating calls).
    pub fn counts(&self) -> (u64, u64, u64, u64) {
        let state = self.lock();
        (state.writes, state.set_lens, state.syncs, state.mutations)
    }

    /// Whether redb closed the backend.
    pub fn closed(&self) -> bool {
        self.lock().closed
    }

    /// Whether any call found the lock poisoned (a panic while holding it).
    pub fn poisoned() -> bool {
        POISONED.load(Ordering::Relaxed)
    }
}

/// The [`StorageBackend`] over a [`SimDisk`].
pub struct SimBackend(SimDisk);

impl std::fmt::Debug for SimBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimBackend").finish_non_exhaustive()
    }
}

fn out_of_range() -> BackendError {
    BackendError::Io(io::Error::new(
        io::ErrorKind::InvalidInput,
        "read or write past the end of the simulated disk",
    ))
}

impl StorageBackend for SimBackend {
    fn len(&self) -> Result<u64, BackendError> {
        Ok(self.0.lock().current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), BackendError> {
        let state = self.0.lock();
        let offset = offset as usize;
        let source = state
            .current
            .get(offset..offset + out.len())
            .ok_or_else(out_of_range)?;
        out.copy_from_slice(source);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), BackendError> {
        let mut state = self.0.lock();
        state.enter(Point::SetLen)?;
        state.current.resize(len as usize, 0);
        state.unsynced.push(Op::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> Result<(), BackendError> {
        let mut state = self.0.lock();
        state.enter(Point::Sync)?;
        let State {
            durable, unsynced, ..
        } = &mut *state;
        for op in unsynced.drain(..) {
            apply(durable, &op);
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), BackendError> {
        let mut state = self.0.lock();
        if offset as usize + data.len() > state.current.len() {
            return Err(out_of_range());
        }
        state.enter(Point::Write)?;
        write_at(&mut state.current, offset as usize, data);
        state.unsynced.push(Op::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }

    fn close(&self) -> Result<(), BackendError> {
        self.0.lock().closed = true;
        Ok(())
    }
}

/// xorshift64*: reproducible choices from a printed seed.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}
