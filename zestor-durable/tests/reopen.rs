use zestor_durable::{open, Options};

#[test]
fn smoke() {
    let dir = std::env::temp_dir().join(format!("zd-smoke-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.db");
    let store = open::<String>(&path, Options::new()).unwrap();
    store.set("k", "a", "1".into()).unwrap();
    store
        .set_many("k", [("b", "2".to_string()), ("c", "3".to_string())])
        .unwrap();
    store.delete("k", "a").unwrap();
    let t0 = std::time::Instant::now();
    std::thread::scope(|s| {
        for t in 0..8 {
            let store = &store;
            s.spawn(move || {
                for i in 0..200 {
                    store.set("m", &format!("{t}-{i}"), format!("{i}")).unwrap();
                }
            });
        }
    });
    eprintln!("1600 writes from 8 threads in {:?}", t0.elapsed());
    assert!(open::<String>(&path, Options::new()).is_err());
    drop(store);
    let store = open::<String>(&path, Options::new()).unwrap();
    assert_eq!(store.revision("k").unwrap(), 3);
    assert_eq!(store.count("k").unwrap(), 2);
    assert_eq!(store.count("m").unwrap(), 1600);
    assert_eq!(store.get("k", "b").unwrap().unwrap().revision(), 2);
    store.set("k", "d", "4".into()).unwrap();
    assert_eq!(store.revision("k").unwrap(), 4);
    store.close();
    let store = open::<String>(&path, Options::new()).unwrap();
    assert_eq!(store.revision("k").unwrap(), 4);
}
