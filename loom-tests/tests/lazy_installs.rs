//! What a kind allocates when first needed (`src/raw/lazy.rs`; the ring's
//! "Lazy buckets", `src/raw/ring.rs`): its key-order list, CASed in by the
//! creator of its first key, and each ring bucket, CASed in by its first
//! publisher. A creator or publisher that loses the race uses the winner's
//! list or bucket, so no key and no event is lost to it. (The other models
//! start their kinds with both in place: `src/sync.rs`, `LAZY_INSTALLS`.)
#![cfg(zestor_loom)]

use loom_tests::{drain, model_lazy_installs, snapshot, Setters};
use zestor::WatchOptions;

/// Two writers create the first two keys of a fresh kind, racing to
/// install its list and its ring's bucket, under a watch and while a
/// reader lists the kind. A key whose `set` returned before the listing
/// began (the writer's flag, stored after its `set` returned, read before
/// the listing) is listed; after the joins both keys are listed and the
/// watch has both creates, in revision order, with no overflow. (The
/// listing settles a pending write as any reader does, so the writer's own
/// revision may become a hole: four revisions of room.)
#[test]
fn first_keys_race_to_install_the_list_and_the_bucket() {
    model_lazy_installs(|| {
        let store = zestor::Store::<u32>::builder().ring_capacity(4).build();
        let kind = store.kind("k").unwrap();
        let mut watch = kind.watch(WatchOptions::new().buffer_size(4)).unwrap();
        let writers = Setters::spawn(&kind, &[("a", 1), ("b", 2)]);
        let returned = [0, 1].map(|i| writers.returned(i));
        let listed = snapshot(&store, "k");
        for (i, key) in ["a", "b"].into_iter().enumerate() {
            if returned[i] {
                assert!(listed.contains_key(key), "{key}: set returned, not listed");
            }
        }
        writers.join();
        let listed = snapshot(&store, "k");
        assert_eq!(
            listed.into_iter().collect::<Vec<_>>(),
            [("a".to_string(), 1), ("b".to_string(), 2)]
        );
        let drained = drain(&mut watch);
        assert_eq!(drained.ended, None, "no overflow");
        let creates: Vec<(String, u32)> = drained
            .events
            .iter()
            .map(|event| (event.key.to_string(), *event.value))
            .collect();
        assert_eq!(creates.len(), 2, "both creates: {creates:?}");
        assert!(creates.contains(&("a".to_string(), 1)), "{creates:?}");
        assert!(creates.contains(&("b".to_string(), 2)), "{creates:?}");
        assert!(drained.events[0].revision < drained.events[1].revision);
    });
}
