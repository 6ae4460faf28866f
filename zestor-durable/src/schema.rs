//! The file's tables. A store's file holds three:
//!
//! * `zestor_meta`: `"format"` → the format version (`FORMAT`), written
//!   when the file is created and checked at every open;
//! * `zestor_kinds`: kind → its revision (the last revision kept; a kind
//!   whose keys were all deleted keeps its row, so revisions never go back);
//! * `zestor_entries`: (kind, key) → (the revision that wrote the value,
//!   the value as JSON).
//!
//! One commit writes a group of revisions' entries and the new revisions of
//! their kinds together (`committer.rs`).

use redb::TableDefinition;

/// The format this version writes and reads.
pub(crate) const FORMAT: u64 = 1;
/// The key of the format version in `META`.
pub(crate) const FORMAT_KEY: &str = "format";

pub(crate) const META: TableDefinition<'static, &'static str, u64> =
    TableDefinition::new("zestor_meta");
pub(crate) const KINDS: TableDefinition<'static, &'static str, u64> =
    TableDefinition::new("zestor_kinds");
pub(crate) const ENTRIES: TableDefinition<
    'static,
    (&'static str, &'static str),
    (u64, &'static [u8]),
> = TableDefinition::new("zestor_entries");
