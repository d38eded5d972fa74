//! The docs keep up with the code: every requirement ID the code cites is defined in
//! `docs/security.md`, and every relative link in the Markdown docs leads somewhere.
//!
//! A requirement ID is one of [`PREFIXES`], a dash and a number (`TOK-6`), standing alone: the
//! characters around it are not letters, digits or `_`. Ranges count for every ID in them
//! (`TOK-1..5`, `WEB-1..WEB-8`). Made-up IDs of test fixtures (`TICKET-42`) and other names with
//! a dash and a number (`SHA-256`, `UTF-8`, `CWE-150`) have other prefixes, so they are not
//! requirements. The code is every `.rs` and `.sql` file under `src/` and `tests/`; in Rust a
//! dash cannot be part of a name, so an ID there is always in a comment or a string.
//! An ID is defined when a heading or a table row of `docs/security.md` starts with it.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The prefixes of requirement IDs, as `docs/security.md` groups them.
const PREFIXES: &[&str] = &[
    "TOK", "WEB", "DB", "MAIL", "SMTP", "PW", "LOG", "LOC", "BULK", "SRC", "LDAP",
];

/// The Markdown files whose links must lead somewhere (besides every `docs/*.md`).
const LINKED_DOCS: &[&str] = &["README.md", "ARCHITECTURE.md", "bench/README.md"];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every file under `dir` whose name ends in one of `extensions`, sorted.
fn files_under(dir: &Path, extensions: &[&str]) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut dirs = vec![dir.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.is_dir() {
                dirs.push(path);
            } else if path
                .extension()
                .is_some_and(|ext| extensions.iter().any(|want| ext == *want))
            {
                found.push(path);
            }
        }
    }
    found.sort();
    found
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The number that starts `text`, and the rest.
fn number(text: &str) -> Option<(u32, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    Some((text[..end].parse().ok()?, &text[end..]))
}

/// The end of a range after `PREFIX-N`: `..M` or `..PREFIX-M`, with optional spaces.
fn range_end(prefix: &str, rest: &str) -> Option<u32> {
    let rest = rest.trim_start_matches(' ').strip_prefix("..")?;
    let rest = rest.trim_start_matches(' ');
    let rest = rest
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('-'))
        .unwrap_or(rest);
    let (end, after) = number(rest)?;
    (!after.starts_with(is_word)).then_some(end)
}

/// The requirement IDs `line` cites, ranges expanded, each once.
fn cited_ids(line: &str) -> Vec<String> {
    let mut ids = Vec::new();
    for (at, _) in line.match_indices('-') {
        let before = &line[..at];
        let Some(prefix) = PREFIXES
            .iter()
            .find(|p| before.ends_with(*p) && !before[..before.len() - p.len()].ends_with(is_word))
        else {
            continue;
        };
        let Some((first, rest)) = number(&line[at + 1..]) else {
            continue;
        };
        if rest.starts_with(is_word) {
            continue;
        }
        let last = range_end(prefix, rest)
            .filter(|&end| end > first)
            .unwrap_or(first);
        for id in (first..=last).map(|n| format!("{prefix}-{n}")) {
            if !ids.contains(&id) {
                ids.push(id);
            }
        }
    }
    ids
}

/// The lines of a Markdown text that are not inside a fenced code block.
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for line in text.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            lines.push(line);
        }
    }
    lines
}

/// The IDs that a heading or a table row of `security` starts with.
fn defined_ids(security: &str) -> BTreeSet<String> {
    prose_lines(security)
        .into_iter()
        .filter_map(|line| {
            let line = line.trim();
            let start = if line.starts_with('#') {
                line.trim_start_matches('#')
            } else {
                line.strip_prefix('|')?
            };
            cited_ids(start.trim_start())
                .into_iter()
                .next()
                .filter(|id| {
                    let start = start.trim_start();
                    start.starts_with(id.as_str()) && !start[id.len()..].starts_with(is_word)
                })
        })
        .collect()
}

#[test]
fn requirement_ids_are_recognised_with_their_ranges_and_nothing_else() {
    assert_eq!(cited_ids("(TOK-6, PW-6)"), ["TOK-6", "PW-6"]);
    assert_eq!(
        cited_ids("pending (TOK-1..5)"),
        ["TOK-1", "TOK-2", "TOK-3", "TOK-4", "TOK-5"]
    );
    assert_eq!(cited_ids("WEB-1 .. WEB-3"), ["WEB-1", "WEB-2", "WEB-3"]);
    assert!(cited_ids("SHA-256, UTF-8, CWE-150, TICKET-42, CH-1996, XTOK-1, TOK-1x").is_empty());
    let security =
        "# Security\n### TOK-1: tokens\n| DB-2 | TLS |\nTOK-3 in prose\n```\n# WEB-1\n```";
    assert_eq!(
        defined_ids(security),
        BTreeSet::from(["TOK-1".into(), "DB-2".into()])
    );
}

#[test]
fn every_requirement_id_the_code_cites_is_defined_in_docs_security() {
    let root = root();
    let defined = defined_ids(&read(&root.join("docs/security.md")));
    let mut cited: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for dir in ["src", "tests"] {
        for path in files_under(&root.join(dir), &["rs", "sql"]) {
            let place = path
                .strip_prefix(&root)
                .unwrap_or(&path)
                .display()
                .to_string();
            for (n, line) in read(&path).lines().enumerate() {
                for id in cited_ids(line) {
                    cited
                        .entry(id)
                        .or_default()
                        .push(format!("{place}:{}", n + 1));
                }
            }
        }
    }
    assert!(
        cited.len() > 30,
        "the scan found only {cited:?}: is it still reading the code?"
    );
    let undefined: Vec<String> = cited
        .iter()
        .filter(|(id, _)| !defined.contains(*id))
        .map(|(id, places)| format!("{id} (cited at {})", places.join(", ")))
        .collect();
    assert!(
        undefined.is_empty(),
        "requirement IDs cited in the code but not defined in docs/security.md (as a heading or \
         table row starting with the ID):\n{}",
        undefined.join("\n")
    );
}

/// `text` without its inline code spans (a span ends at the next run of as many backticks).
fn without_code_spans(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('`') {
        out.push_str(&rest[..start]);
        let ticks = rest[start..].len() - rest[start..].trim_start_matches('`').len();
        let fence = &rest[start..start + ticks];
        let after = &rest[start + ticks..];
        if let Some(end) = after.find(fence) {
            rest = &after[end + ticks..];
        } else {
            out.push_str(fence);
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// The targets of the inline links and images of a Markdown text, outside code.
fn link_targets(markdown: &str) -> Vec<String> {
    let prose = without_code_spans(&prose_lines(markdown).join("\n"));
    prose
        .match_indices("](")
        .filter_map(|(at, _)| {
            let target = &prose[at + 2..];
            let end = target.find(')')?;
            let target = target[..end].split_whitespace().next()?;
            Some(target.trim_matches(|c| c == '<' || c == '>').to_string())
        })
        .collect()
}

/// GitHub's anchor for a heading: lowercase, spaces to dashes, punctuation other than `-` and
/// `_` dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown text's headings, a repeated one numbered as GitHub does.
fn anchors(markdown: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut anchors = BTreeSet::new();
    for line in prose_lines(markdown) {
        let Some(heading) = line.strip_prefix('#') else {
            continue;
        };
        let heading = heading.trim_start_matches('#');
        if !heading.starts_with(' ') {
            continue;
        }
        let base = slug(&without_code_spans_keeping_text(heading));
        let count = seen.entry(base.clone()).or_insert(0);
        anchors.insert(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    anchors
}

/// A heading's text as GitHub shows it: code spans keep their text, links their label.
fn without_code_spans_keeping_text(heading: &str) -> String {
    let text = heading.replace('`', "");
    match (text.find('['), text.find("](")) {
        (Some(open), Some(mid)) if open < mid => {
            let close = text[mid..].find(')').map_or(text.len(), |c| mid + c + 1);
            format!(
                "{}{}{}",
                &text[..open],
                &text[open + 1..mid],
                &text[close..]
            )
        }
        _ => text,
    }
}

/// Why the link `target` in `file` leads nowhere, if it does.
fn broken(root: &Path, file: &Path, target: &str) -> Option<String> {
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    let dest = if path.is_empty() {
        file.to_path_buf()
    } else {
        file.parent().unwrap_or(root).join(path)
    };
    if !dest.exists() {
        return Some(format!("{} does not exist", dest.display()));
    }
    let markdown = dest.extension().is_some_and(|ext| ext == "md");
    if anchor.is_empty() || !markdown {
        return None;
    }
    let found = anchors(&read(&dest));
    (!found.contains(anchor))
        .then(|| format!("no heading of {} has the anchor #{anchor}", dest.display()))
}

#[test]
fn headings_give_githubs_anchors() {
    let markdown = "# The reset page (`pwreset serve`)\n## TLS (DB-2)\n## `temp_passwords` (schema 7)\n\
                    ## The audit log: what it proves, and against whom\n## Notes\n## Notes\n```\n# not a heading\n```";
    let expected = [
        "the-reset-page-pwreset-serve",
        "tls-db-2",
        "temp_passwords-schema-7",
        "the-audit-log-what-it-proves-and-against-whom",
        "notes",
        "notes-1",
    ];
    assert_eq!(
        anchors(markdown),
        expected.iter().map(ToString::to_string).collect()
    );
    assert_eq!(
        link_targets("see [a](b.md#c), `[no](link)`, ![img](d.png)\n```\n[e](f)\n```"),
        ["b.md#c", "d.png"]
    );
}

#[test]
fn every_relative_link_in_the_docs_points_at_something_that_exists() {
    let root = root();
    let mut files: Vec<PathBuf> = LINKED_DOCS.iter().map(|f| root.join(f)).collect();
    files.extend(files_under(&root.join("docs"), &["md"]));
    let mut problems = Vec::new();
    let mut links = 0;
    for file in &files {
        for target in link_targets(&read(file)) {
            links += 1;
            if let Some(why) = broken(&root, file, &target) {
                let place = file
                    .strip_prefix(&root)
                    .unwrap_or(file)
                    .display()
                    .to_string();
                problems.push(format!("{place}: ({target}): {why}"));
            }
        }
    }
    assert!(
        links > 50,
        "only {links} links found: is the parser still reading them?"
    );
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}
