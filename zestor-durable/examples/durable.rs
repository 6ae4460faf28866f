//! Writes to a durable store, "crashes" (drops it without `close`, as a
//! panic or an early return would), reopens the file and prints what
//! survived: every acknowledged write, with its revision.
//!
//! Run it with `cargo run -p zestor-durable --example durable`.

use serde::{Deserialize, Serialize};
use zestor_durable::{Durability, Options};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Account {
    owner: String,
    balance: i64,
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("zestor-durable-example-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let path = dir.join("accounts.db");

    {
        // Immediate (the default): each write returns once it is on disk.
        let store = zestor_durable::open::<Account>(&path, Options::new())?;
        let account = |owner: &str, balance| Account {
            owner: owner.into(),
            balance,
        };
        store.set("accounts", "alice", account("Alice", 100))?;
        store.set("accounts", "bob", account("Bob", 50))?;
        // A transfer: one atomic write, one revision, one durable record.
        store.transaction("accounts", |tx| {
            let mut alice = tx.get("alice").map(|v| (*v).clone()).ok_or("no alice")?;
            let mut bob = tx.get("bob").map(|v| (*v).clone()).ok_or("no bob")?;
            alice.balance -= 30;
            bob.balance += 30;
            tx.set("alice", alice);
            tx.set("bob", bob);
            Ok::<_, &str>(())
        })?;
        store.set("accounts", "carol", account("Carol", 7))?;
        store.delete("accounts", "carol")?;
        println!("before the crash: revision {}", store.revision("accounts")?);
        // No close(): the store is dropped here, as a crashing scope would.
    }

    let store = zestor_durable::open::<Account>(
        &path,
        Options::new().durability(Durability::Interval(std::time::Duration::from_millis(5))),
    )?;
    println!("after reopening: revision {}", store.revision("accounts")?);
    for (key, value) in store.list("accounts")? {
        println!(
            "  {key}: {value:?} (written at revision {})",
            value.revision()
        );
    }
    store.close();
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
