//! The ring (P3, `ring.rs`): a publish racing a read of a slot that is
//! being lapped, publishers racing through one slot, and publishers racing
//! to install a bucket.

use super::model;
use crate::raw::ring::{Ring, SlotRead};
use crate::raw::version::{Payload, Version};
use crate::sync::Arc;

/// A version whose key names its revision, so a reader can tell whether a
/// slot's stamp and payload belong together.
fn version(revision: u64) -> Arc<Version<u64>> {
    Arc::new(Version::committed(
        revision,
        Arc::from(revision.to_string()),
        Payload::Live {
            value: revision,
            created: false,
        },
    ))
}

/// What a reader of `revision` may conclude, and whether it is consistent.
fn check_read(ring: &Ring<u64>, revision: u64) -> SlotState {
    match ring.read(revision) {
        SlotRead::Published(found) => {
            assert_eq!(
                found.revision(),
                revision,
                "the stamp is the revision asked for"
            );
            assert_eq!(
                *found.key,
                *revision.to_string(),
                "a stamp is never paired with another revision's payload"
            );
            assert_eq!(found.live(), Some(&revision));
            SlotState::Published
        }
        SlotRead::NotYet => SlotState::NotYet,
        SlotRead::Overwritten => SlotState::Overwritten,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum SlotState {
    NotYet,
    Published,
    Overwritten,
}

/// Revision 1 and revision 3 share slot 1 of a two-slot ring. They are
/// published concurrently while a reader reads revision 1 twice. The reader
/// sees a consistent slot each time, its view only moves forward (not yet →
/// published → overwritten), and in the end the slot holds revision 3 — a
/// publisher that finds the newer revision there reports the lap instead
/// of overwriting it.
#[test]
fn a_publish_races_a_lapped_read() {
    model(|| {
        let ring = Arc::new(Ring::<u64>::new(2));
        let early = {
            let ring = Arc::clone(&ring);
            loom::thread::spawn(move || ring.publish(1, &version(1)).is_some())
        };
        let late = {
            let ring = Arc::clone(&ring);
            loom::thread::spawn(move || ring.publish(3, &version(3)).is_some())
        };
        let first = check_read(&ring, 1);
        let second = check_read(&ring, 1);
        assert!(first <= second, "a reader's view of a slot never goes back");
        let early_published = early.join().unwrap();
        assert!(
            late.join().unwrap(),
            "the newest revision is always published"
        );
        assert!(
            ring.is_published(3),
            "an older revision never replaces a newer one"
        );
        assert_eq!(check_read(&ring, 1), SlotState::Overwritten);
        if second == SlotState::Published {
            assert!(early_published, "revision 1 was seen, so it was published");
        }
    });
}

/// Two publishers through one slot of a one-slot ring, a reader waiting for
/// the older revision: the reader delivers it or learns it was overwritten;
/// the older publisher is told exactly when it lost the slot.
#[test]
fn a_stalled_publisher_is_told_it_was_lapped() {
    model(|| {
        let ring = Arc::new(Ring::<u64>::new(1));
        let older = {
            let ring = Arc::clone(&ring);
            loom::thread::spawn(move || ring.publish(1, &version(1)).is_some())
        };
        let newer = {
            let ring = Arc::clone(&ring);
            loom::thread::spawn(move || ring.publish(2, &version(2)).is_some())
        };
        let seen = check_read(&ring, 1);
        let older_published = older.join().unwrap();
        assert!(newer.join().unwrap());
        assert!(ring.is_published(2));
        if seen == SlotState::Published {
            assert!(older_published);
        }
        // A lapped publisher must say so: its subscribers are then overflowed
        // (`RawKind::publish`), so nobody waits for revision 1 in silence.
        let lapped = !older_published;
        assert!(lapped || check_read(&ring, 1) == SlotState::Overwritten);
    });
}

/// Two publishers race to install the one bucket of a fresh two-slot ring
/// (`ring.rs`, "Lazy buckets"), each publishing into its own slot of it,
/// while a reader waits for revision 1. Neither event is lost, whichever
/// bucket each publisher built, and the reader's view of the slot never
/// goes back nor reads "overwritten": the unallocated bucket reads as the
/// vacant hole, so it sees not yet → published.
#[test]
fn publishers_race_to_install_a_bucket() {
    model(|| {
        let ring = Arc::new(Ring::<u64>::new(2));
        let publishers: Vec<_> = [1, 2]
            .into_iter()
            .map(|revision| {
                let ring = Arc::clone(&ring);
                loom::thread::spawn(move || ring.publish(revision, &version(revision)).is_some())
            })
            .collect();
        let first = check_read(&ring, 1);
        let second = check_read(&ring, 1);
        assert!(first <= second, "a reader's view of a slot never goes back");
        assert_ne!(second, SlotState::Overwritten, "nothing laps revision 1");
        for publisher in publishers {
            assert!(publisher.join().unwrap(), "neither publisher was lapped");
        }
        assert_eq!(
            check_read(&ring, 1),
            SlotState::Published,
            "revision 1 kept"
        );
        assert_eq!(
            check_read(&ring, 2),
            SlotState::Published,
            "revision 2 kept"
        );
    });
}
