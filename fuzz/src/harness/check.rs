//! Comparing the store with the model.

use std::fmt::Debug;

use zestor::Store;

use super::model::{entries_of, outcome, KindName, Model, Outcome, Stored};

/// Panics, naming `step`, if the store's outcome differs from the model's.
#[track_caller]
pub fn check<R: PartialEq + Debug>(step: &dyn Debug, expected: &Outcome<R>, actual: &Outcome<R>) {
    assert_eq!(
        actual, expected,
        "the store (left) and the model (right) disagree on {step:?}"
    );
}

/// Checks every read of the whole store against the model: each kind's
/// entries (values and their revisions), count and revision, the kinds
/// holding entries, and `get_all`.
pub fn check_state(store: &Store<u8>, model: &Model, step: &dyn Debug) {
    for kind in KindName::ALL {
        let name = kind.as_str();
        let expected = model.read_kind(name).map(|entries| {
            entries
                .iter()
                .map(|(key, stored)| (key.clone(), *stored))
                .collect::<Vec<(String, Stored)>>()
        });
        check(step, &expected, &outcome(Ok(store.list(name)), entries_of));
        let count = expected.clone().map(|entries| entries.len());
        check(step, &count, &outcome(Ok(store.count(name)), |n| n));
        let revision = model.read_kind(name).map(|_| model.revision(name));
        check(step, &revision, &outcome(Ok(store.revision(name)), |r| r));
    }
    let kinds = outcome(Ok(store.kinds()), |kinds| {
        kinds.iter().map(|kind| kind.to_string()).collect()
    });
    check(step, &model.kinds(), &kinds);
    let all = outcome(Ok(store.get_all()), |all| {
        all.into_iter()
            .map(|(kind, entries)| (kind.to_string(), entries_of(entries)))
            .collect()
    });
    check(step, &model.get_all(), &all);
}
