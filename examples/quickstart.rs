//! The seed's "Store & Kinds" page, in Rust: kinds, a validator, a custom
//! compare function, a watch, and many writers at once.
//!
//! Run: `cargo run --release --example quickstart`

use std::thread;

use zestor::{EventType, SetResult, Store, WatchOptions};

#[derive(Debug, Clone, PartialEq)]
struct User {
    name: String,
    email: String,
    role: String,
}

fn user(name: &str, email: &str, role: &str) -> User {
    User {
        name: name.into(),
        email: email.into(),
        role: role.into(),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Store options: a compare function and per-kind validators.
    let store = Store::<User>::builder()
        // Only an email change is a real update; anything else is "unchanged".
        .compare(|old, new| old.email == new.email)
        .validate("users", |u: &User| {
            if u.email.is_empty() {
                return Err("email required");
            }
            if !u.email.contains('@') {
                return Err("invalid email format");
            }
            Ok(())
        })
        .validate("admins", |u: &User| {
            if u.role != "admin" {
                return Err("must have admin role");
            }
            Ok(())
        })
        .build();

    // Watch "users" from the start.
    let mut watch = store.watch("users", WatchOptions::new())?;

    // Keys are unique within a kind; the same key in another kind is another entry.
    println!(
        "set users/alice  -> {:?}",
        store.set(
            "users",
            "alice",
            user("Alice", "alice@example.com", "member")
        )?
    );
    println!(
        "set users/bob    -> {:?}",
        store.set("users", "bob", user("Bob", "bob@example.com", "member"))?
    );
    println!(
        "set admins/alice -> {:?}",
        store.set(
            "admins",
            "alice",
            user("Alice Admin", "alice@example.com", "admin")
        )?
    );

    // The compare function says a name change alone is not an update.
    let renamed = store.set(
        "users",
        "alice",
        user("Alicia", "alice@example.com", "member"),
    )?;
    assert_eq!(renamed, SetResult::Unchanged);
    println!("rename alice     -> {renamed:?} (the compare function only looks at emails)");

    // Validators reject before anything is written.
    match store.set("users", "mallory", user("Mallory", "mallory", "member")) {
        Err(error) => println!("set users/mallory rejected: {error}"),
        Ok(result) => unreachable!("the validator let {result:?} through"),
    }
    match store.set("admins", "bob", user("Bob", "bob@example.com", "member")) {
        Err(error) => println!("set admins/bob rejected: {error}"),
        Ok(result) => unreachable!("the validator let {result:?} through"),
    }

    // update applies a closure atomically.
    store.update("users", "bob", |u| {
        Ok::<_, zestor::Error>(User {
            email: "robert@example.com".into(),
            ..u.clone()
        })
    })?;

    // Query by kind: only users, in key order.
    for (key, u) in store.list("users")? {
        println!("users/{key}: {} <{}>", u.name, u.email);
    }
    println!("admins: {:?}", store.keys("admins")?);

    // The watch saw every change to "users", in order, each with its revision.
    while let Some(event) = watch.try_recv()? {
        let verb = match event.event_type {
            EventType::Create => "created",
            EventType::Update => "updated",
            EventType::Delete => "deleted",
        };
        println!("event r{}: users/{} {verb}", event.revision, event.key);
    }

    // Thread safety: 100 threads, no external synchronization.
    let counters = Store::<usize>::new();
    thread::scope(|scope| {
        for n in 0..100 {
            let counters = &counters;
            scope.spawn(move || counters.set("counters", &format!("counter-{n}"), n));
        }
    });
    println!("counters: {}", counters.count("counters")?); // 100

    // Closing ends every watch; later calls return Error::Closed.
    store.close();
    println!(
        "after close: {:?}",
        store.get("users", "alice").unwrap_err()
    );
    Ok(())
}
