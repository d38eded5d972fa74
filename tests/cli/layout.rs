//! The guard that no test module runs on one backend only without saying why (jj keeps such a
//! guard: `test_no_forgotten_test_files`). Every module of `tests/cli` is declared in `main.rs`,
//! either in `on_both_backends!` (SQLite and PostgreSQL) or alone under a `// Once...: why`
//! line; and `tests/` holds no other test binary that could re-include modules by hand.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

/// The modules `tests/cli` holds: `name.rs` files (not `main.rs`) and `name/mod.rs` folders.
fn module_files() -> BTreeSet<String> {
    let entries = std::fs::read_dir(tests_dir().join("cli")).expect("read tests/cli");
    entries
        .map(|entry| entry.expect("an entry").path())
        .filter_map(|path| {
            let name = path.file_name()?.to_str()?.to_string();
            if path.join("mod.rs").is_file() {
                Some(name)
            } else {
                let module = name.strip_suffix(".rs")?;
                (module != "main").then(|| module.to_string())
            }
        })
        .collect()
}

/// The modules listed in `on_both_backends!(...)`.
fn both_backends(main: &str) -> BTreeSet<String> {
    let start = main
        .find("\non_both_backends!(")
        .expect("the on_both_backends! list");
    let list = &main[start..];
    let list = &list[list.find('(').expect("(") + 1..list.find(");").expect(");")];
    list.split(',')
        .map(str::trim)
        .filter(|name| !name.is_empty())
        .map(str::to_string)
        .collect()
}

/// The modules declared alone (`mod name;` at the start of a line), each with the `// Once`
/// line above it (empty when there is none).
fn once(main: &str) -> BTreeMap<String, String> {
    let lines: Vec<&str> = main.lines().collect();
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let name = line.strip_prefix("mod ")?.strip_suffix(';')?;
            let above = i.checked_sub(1).map_or("", |j| lines[j]);
            let why = if above.starts_with("// Once") {
                above
            } else {
                ""
            };
            Some((name.to_string(), why.to_string()))
        })
        .collect()
}

#[test]
fn every_test_module_runs_on_both_backends_or_says_why() {
    let main = std::fs::read_to_string(tests_dir().join("cli/main.rs")).expect("read main.rs");
    let both = both_backends(&main);
    let once = once(&main);
    assert!(both.len() > 20, "the list was read: {both:?}");
    let silent: Vec<&String> = once
        .iter()
        .filter(|(_, why)| why.is_empty())
        .map(|(m, _)| m)
        .collect();
    assert!(
        silent.is_empty(),
        "run once without a `// Once...: why` line above their `mod` in tests/cli/main.rs: {silent:?}"
    );
    let twice: Vec<&String> = both.iter().filter(|m| once.contains_key(*m)).collect();
    assert!(twice.is_empty(), "declared both ways: {twice:?}");
    let declared: BTreeSet<String> = both.iter().chain(once.keys()).cloned().collect();
    let forgotten: Vec<String> = module_files().difference(&declared).cloned().collect();
    assert!(
        forgotten.is_empty(),
        "test modules tests/cli/main.rs does not declare: {forgotten:?}; add each to \
         on_both_backends!, or declare it under a `// Once...: why` line"
    );
}

#[test]
fn tests_holds_one_test_binary() {
    let entries: Vec<String> = std::fs::read_dir(tests_dir())
        .expect("read tests/")
        .map(|entry| {
            entry
                .expect("an entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(
        entries,
        ["cli"],
        "one CLI test binary: a second one would compile and link every module again, and a \
         module re-included by hand there is one nobody checks"
    );
}
