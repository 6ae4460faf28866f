//! Opening: what each kind of bad file or misuse reports, and that open_with
//! keeps validators and compare functions.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use zestor_durable::{open, open_with, Error, Options};

fn fresh(name: &str) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("zd-open-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("store.db");
    (dir, path)
}

#[test]
fn a_path_held_by_an_open_store_is_locked_until_it_closes() {
    let (dir, path) = fresh("locked");
    let store = open::<u32>(&path, Options::new()).unwrap();
    store.set("k", "a", 1).unwrap();
    let error = open::<u32>(&path, Options::new()).unwrap_err();
    assert!(matches!(error, Error::Locked { .. }), "{error:?}");
    assert!(error.to_string().contains("close it first"), "{error}");
    store.close();
    // Closed, and this handle still alive: the file is free.
    let again = open::<u32>(&path, Options::new()).unwrap();
    assert_eq!(again.get("k", "a").unwrap().as_deref(), Some(&1));
    drop(store);
    drop(again);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_value_that_no_longer_deserializes_names_its_kind_and_key() {
    #[derive(Serialize, Deserialize, PartialEq)]
    struct V1 {
        name: String,
    }
    #[derive(Serialize, Deserialize, PartialEq, Debug)]
    struct V2 {
        name: String,
        age: u32,
    }
    let (dir, path) = fresh("decode");
    let store = open::<V1>(&path, Options::new()).unwrap();
    store.set("users", "u1", V1 { name: "Ada".into() }).unwrap();
    drop(store);
    let error = open::<V2>(&path, Options::new()).unwrap_err();
    match &error {
        Error::Decode { kind, key, .. } => assert_eq!((&**kind, &**key), ("users", "u1")),
        other => panic!("expected Decode, got {other:?}"),
    }
    assert!(error.to_string().contains("serde(default)"), "{error}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_file_of_a_newer_format_is_refused_unchanged() {
    let (dir, path) = fresh("newer");
    drop(open::<u32>(&path, Options::new()).unwrap());
    {
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut meta = txn
                .open_table(redb::TableDefinition::<&str, u64>::new("zestor_meta"))
                .unwrap();
            meta.insert("format", 99).unwrap();
        }
        txn.commit().unwrap();
    }
    let error = open::<u32>(&path, Options::new()).unwrap_err();
    assert!(matches!(error, Error::NewerFormat { .. }), "{error:?}");
    assert!(error.to_string().contains("upgrade"), "{error}");
    // Its contents were left alone: the format still reads 99.
    let db = redb::Database::open(&path).unwrap();
    use redb::ReadableTable;
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let meta = txn
        .open_table(redb::TableDefinition::<&str, u64>::new("zestor_meta"))
        .unwrap();
    assert_eq!(meta.get("format").unwrap().unwrap().value(), 99);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_file_that_is_not_a_store_is_an_error_not_a_panic() {
    let (dir, path) = fresh("garbage");
    std::fs::write(
        &path,
        b"this is not a database at all, just some text\n".repeat(100),
    )
    .unwrap();
    let error = open::<u32>(&path, Options::new()).unwrap_err();
    assert!(!error.to_string().is_empty());
    // And a missing directory is an I/O error naming what failed.
    let error = open::<u32>(dir.join("missing/store.db"), Options::new()).unwrap_err();
    assert!(matches!(error, Error::Io { .. }), "{error:?}");
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_file_left_all_zeros_by_an_interrupted_creation_is_created_again() {
    let (dir, path) = fresh("zeros");
    std::fs::write(&path, vec![0u8; 8192]).unwrap();
    let store = open::<u32>(&path, Options::new()).unwrap();
    store.set("k", "a", 1).unwrap();
    drop(store);
    let store = open::<u32>(&path, Options::new()).unwrap();
    assert_eq!(store.count("k").unwrap(), 1);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn open_with_keeps_validators_and_compare_and_needs_its_builder() {
    let (dir, path) = fresh("with");
    let build = |builder: zestor::StoreBuilder<i64>| {
        builder
            .validate(
                "prices",
                |price: &i64| if *price >= 0 { Ok(()) } else { Err("negative") },
            )
            .compare(|old, new| old / 10 == new / 10)
            .build()
    };
    let store = open_with(&path, Options::new(), build).unwrap();
    assert!(matches!(
        store.set("prices", "eur", -1),
        Err(zestor::Error::Validation { .. })
    ));
    store.set("prices", "eur", 11).unwrap();
    assert_eq!(
        store.set("prices", "eur", 12).unwrap(),
        zestor::SetResult::Unchanged
    );
    drop(store);
    let store = open_with(&path, Options::new(), build).unwrap();
    assert_eq!(store.get("prices", "eur").unwrap().as_deref(), Some(&11));
    assert_eq!(store.revision("prices").unwrap(), 1);
    drop(store);
    // A closure that ignores its builder would give a store nothing keeps.
    let error =
        open_with::<i64>(&path, Options::new(), |_builder| zestor::Store::new()).unwrap_err();
    assert!(matches!(error, Error::NotJournaled), "{error:?}");
    // ... and the file is free again afterwards.
    drop(open_with(&path, Options::new(), build).unwrap());
    std::fs::remove_dir_all(dir).unwrap();
}

#[test]
fn a_value_json_cannot_hold_is_not_durable_and_later_writes_are_refused() {
    use std::collections::HashMap;
    let (dir, path) = fresh("encode");
    let store = open::<HashMap<(u8, u8), u8>>(&path, Options::new()).unwrap();
    store.set("k", "ok", HashMap::new()).unwrap();
    let error = store
        .set("k", "bad", HashMap::from([((1, 2), 3)]))
        .unwrap_err();
    assert!(matches!(error, zestor::Error::NotDurable(_)), "{error:?}");
    let source = std::error::Error::source(&error).unwrap().to_string();
    assert!(source.contains("\"bad\""), "{source}");
    let error = store.set("k", "later", HashMap::new()).unwrap_err();
    assert!(matches!(error, zestor::Error::Refused(_)), "{error:?}");
    // Reads keep working; what was acknowledged survives.
    assert_eq!(store.count("k").unwrap(), 2);
    drop(store);
    let store = open::<HashMap<(u8, u8), u8>>(&path, Options::new()).unwrap();
    assert_eq!(store.keys("k").unwrap().len(), 1);
    drop(store);
    std::fs::remove_dir_all(dir).unwrap();
}
