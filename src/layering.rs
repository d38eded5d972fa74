//! The module graph kept honest: reads `src/` as text and fails when the top-level modules form
//! an import cycle, when a leaf module imports pwreset's domain, or when anything outside the
//! command line imports it. Test-only code (`#[cfg(test)] mod`, inline or in its own file) is
//! left out: tests may reach anywhere.
//!
//! The layers, bottom up (ARCHITECTURE.md draws them):
//! - leaves: [`LEAVES`], which import nothing of pwreset but other leaves;
//! - `config` (read by all, so it imports leaves only), the store, then the domain services (`audit`, `tokens`,
//!   `delivery`, `links`, `sources`, ...), each importing only what sits below it;
//! - the edge: `settings` and `cli` (with the terminal, output and exit codes inside it);
//!   nothing but `cli` imports either.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Modules that import nothing of pwreset's domain, only one another.
const LEAVES: &[&str] = &[
    "db_url", "fsmode", "hashfmt", "input", "keys", "secret", "text", "timefmt", "user",
];

/// `config`, which every layer may read, so it imports nothing but leaves.
const CONFIG: &str = "config";

/// Modules only the command line may import: the command line itself, and `settings`, which
/// resolves its flags.
const ONLY_FOR_CLI: &[&str] = &["cli", "settings"];

/// Top-level module name -> the top-level modules its production code names.
type Graph = BTreeMap<String, BTreeSet<String>>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The module path of a file: `src/a/b.rs` and `src/a/b/mod.rs` are `["a", "b"]`; the crate
/// root `src/lib.rs` is `[]`.
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().expect("a file name");
    if !(last == "mod.rs" || parts.is_empty() && (last == "lib.rs" || last == "main.rs")) {
        parts.push(last.trim_end_matches(".rs").to_string());
    }
    parts
}

/// The index just past the attributes (`#[...]`, possibly over several lines) and whitespace
/// that start at `at`.
fn skip_attributes(text: &str, mut at: usize) -> usize {
    loop {
        let rest = &text[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        if !trimmed.starts_with("#[") {
            return at;
        }
        let mut depth = 0_usize;
        for (i, c) in trimmed.char_indices() {
            match c {
                '[' => depth += 1,
                ']' => {
                    depth -= 1;
                    if depth == 0 {
                        at += i + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
    }
}

/// What follows a `#[cfg(test)]`: `mod name;` (a test-only file) or `mod name {` (an inline
/// test module, cut from the text with everything after it).
enum TestItem {
    File(String),
    Inline,
    Other,
}

fn test_item(text: &str, after_cfg: usize) -> TestItem {
    let at = skip_attributes(text, after_cfg);
    let rest = text[at..]
        .trim_start_matches("pub(crate) ")
        .trim_start_matches("pub ");
    let Some(rest) = rest.strip_prefix("mod ") else {
        return TestItem::Other;
    };
    let name: String = rest
        .chars()
        .take_while(|c| c.is_alphanumeric() || *c == '_')
        .collect();
    match rest[name.len()..].trim_start().chars().next() {
        Some(';') => TestItem::File(name),
        Some('{') => TestItem::Inline,
        _ => TestItem::Other,
    }
}

/// The production text of a file (inline test modules cut off; they close the file by
/// convention) and the names of the test-only module files it declares.
fn production_text(text: &str) -> (String, Vec<String>) {
    let mut test_files = Vec::new();
    let mut cut = text.len();
    for (at, _) in text.match_indices("#[cfg(test)]") {
        match test_item(text, at + "#[cfg(test)]".len()) {
            TestItem::File(name) => test_files.push(name),
            TestItem::Inline => cut = cut.min(at),
            TestItem::Other => {}
        }
    }
    let code = text[..cut]
        .lines()
        .map(|line| line.split("//").next().unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n");
    (code, test_files)
}

/// The identifier at the start of `text`.
fn ident(text: &str) -> &str {
    let end = text
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(text.len());
    &text[..end]
}

/// The top-level modules `code` names, from a file at module path `here`: `crate::x`,
/// `crate::{x, y::z}`, and `super::` chains that climb to the crate root.
fn named_modules(code: &str, here: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            let group = &group[..group.find('}').unwrap_or(group.len())];
            for item in group.split(',') {
                found.insert(ident(item.trim()).to_string());
            }
        } else {
            found.insert(ident(rest).to_string());
        }
    }
    let climb = "super::".repeat(here.len());
    if !climb.is_empty() {
        for (at, _) in code.match_indices(&climb) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c == ':' || c.is_alphanumeric()) {
                continue;
            }
            found.insert(ident(&code[at + climb.len()..]).to_string());
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

/// The graph of `src`'s top-level modules, production code only.
fn graph(src: &Path) -> Graph {
    let files = rust_files(src);
    let mut test_only: BTreeSet<Vec<String>> = BTreeSet::new();
    let mut texts = Vec::new();
    for file in &files {
        let here = module_path(src, file);
        let (code, test_files) = production_text(&std::fs::read_to_string(file).expect("read"));
        for name in test_files {
            let mut path = here.clone();
            path.push(name);
            test_only.insert(path);
        }
        texts.push((here, code));
    }
    let tops: BTreeSet<String> = texts
        .iter()
        .filter_map(|(here, _)| here.first().cloned())
        .collect();
    let mut graph = Graph::new();
    for (here, code) in texts {
        let Some(top) = here.first().filter(|top| tops.contains(*top)) else {
            continue;
        };
        if test_only.iter().any(|t| here.starts_with(t)) {
            continue;
        }
        let edges = graph.entry(top.clone()).or_default();
        for named in named_modules(&code, &here) {
            if named != *top && tops.contains(&named) {
                edges.insert(named);
            }
        }
    }
    graph
}

/// A cycle through `start`, if there is one: the modules in order, `start` first and last.
fn cycle_through(graph: &Graph, start: &str) -> Option<Vec<String>> {
    let mut stack = vec![(start.to_string(), vec![start.to_string()])];
    let mut seen = BTreeSet::new();
    while let Some((node, path)) = stack.pop() {
        for next in graph.get(&node).into_iter().flatten() {
            if next == start {
                let mut cycle = path.clone();
                cycle.push(start.to_string());
                return Some(cycle);
            }
            if seen.insert(next.clone()) {
                let mut longer = path.clone();
                longer.push(next.clone());
                stack.push((next.clone(), longer));
            }
        }
    }
    None
}

/// Every rule broken by `graph`, in words.
fn violations(graph: &Graph) -> Vec<String> {
    let mut found = Vec::new();
    let mut cycles = BTreeSet::new();
    for module in graph.keys() {
        if let Some(cycle) = cycle_through(graph, module) {
            let members: BTreeSet<String> = cycle.iter().cloned().collect();
            if cycles.insert(members) {
                found.push(format!("import cycle: {}", cycle.join(" -> ")));
            }
        }
    }
    for (module, edges) in graph {
        for named in edges {
            if LEAVES.contains(&module.as_str()) && !LEAVES.contains(&named.as_str()) {
                found.push(format!("leaf module {module} imports {named}"));
            }
            if module == CONFIG && !LEAVES.contains(&named.as_str()) {
                found.push(format!("{CONFIG}, which all may read, imports {named}"));
            }
            if ONLY_FOR_CLI.contains(&named.as_str()) && module != "cli" {
                found.push(format!("{module} imports the command line ({named})"));
            }
        }
    }
    found
}

#[test]
fn the_top_level_modules_form_layers_without_cycles() {
    let graph = graph(&src_dir());
    assert!(
        graph.len() > 15,
        "the reader found too few modules: {graph:?}"
    );
    for leaf in LEAVES {
        assert!(graph.contains_key(*leaf), "{leaf} is not a module any more");
    }
    let broken = violations(&graph);
    assert!(broken.is_empty(), "{}", broken.join("\n"));
}

#[test]
fn the_reader_finds_cycles_leaf_imports_and_test_code() {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = dir.path();
    let write = |name: &str, text: &str| {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    };
    write(
        "lib.rs",
        "pub mod a;\npub mod b;\npub mod user;\npub mod cli;\n",
    );
    write("a.rs", "use crate::b::X;\n#[cfg(test)]\nmod tests;\n");
    write("a/tests.rs", "use crate::cli::Y;\n");
    write(
        "b/mod.rs",
        "use crate::{user, a::Z}; // crate::cli in a comment\n",
    );
    write("b/deep.rs", "fn f() { super::super::cli::run(); }\n");
    write(
        "user.rs",
        "pub struct U;\n#[cfg(test)]\n#[expect(clippy::x, reason = \"[y]\")]\nmod tests {\n    use crate::a::Q;\n}\n",
    );
    write("cli.rs", "use crate::{a, settings};\n");
    write("settings.rs", "use crate::cli::Flags;\n");
    let graph = graph(src);
    let edges = |m: &str| graph[m].iter().cloned().collect::<Vec<_>>();
    assert_eq!(edges("a"), ["b"], "test files are left out");
    assert_eq!(edges("b"), ["a", "cli", "user"]);
    assert!(edges("user").is_empty(), "inline tests are left out");
    let broken = violations(&graph);
    assert!(
        broken
            .iter()
            .any(|v| v.starts_with("import cycle: a -> b -> a")),
        "{broken:?}"
    );
    assert!(
        broken.contains(&"b imports the command line (cli)".to_string()),
        "{broken:?}"
    );
    let mut leafy = graph.clone();
    leafy.get_mut("user").expect("user").insert("a".into());
    assert!(violations(&leafy).contains(&"leaf module user imports a".to_string()));
    leafy.insert(
        "config".into(),
        ["user".to_string(), "b".to_string()].into(),
    );
    let broken = violations(&leafy);
    assert!(
        broken.contains(&"config, which all may read, imports b".to_string()),
        "{broken:?}"
    );
    assert!(
        !broken.iter().any(|v| v.ends_with("imports user")),
        "{broken:?}"
    );
}
