//! The floors of the crate (see `docs/architecture.md`): each floor imports only from the floors
//! below it. This test reads every `src/**/*.rs` and fails, naming each `file:line`, where
//!
//! - the ground floor, `src/sys`, names anything but itself and the vocabulary (`stats`, `wire`,
//!   `fault`): never the configuration, the engines, the policy, the front door's re-exports;
//! - the vocabulary (`stats`, `wire`, `fault`) names anything but the vocabulary.
//!
//! It reads paths as text: `crate::x`, `crate::{x, y::z}` and `super::...` chains that climb to
//! the crate root, in `use` lines, code and doc links alike.

use std::path::{Path, PathBuf};

/// The vocabulary floor: plain data every floor may use.
const VOCABULARY: [&str; 3] = ["stats", "wire", "fault"];

/// What a file's floor may name at the crate root, or `None` where the floors put no bound.
fn allowed(module: &[String]) -> Option<Vec<&'static str>> {
    match module.first().map(String::as_str) {
        Some("sys") => Some([&["sys"][..], &VOCABULARY[..]].concat()),
        Some(m) if VOCABULARY.contains(&m) => Some(VOCABULARY.to_vec()),
        _ => None,
    }
}

/// The module path of a file under `src/`: `src/sys/unix/mod.rs` is `sys::unix`,
/// `src/stats.rs` is `stats`, `src/lib.rs` the root.
fn module_of(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if let Some(last) = parts.pop() {
        let stem = last.trim_end_matches(".rs");
        if !matches!(stem, "mod" | "lib" | "main") {
            parts.push(stem.to_string());
        }
    }
    parts
}

/// One path that leaves the floors.
#[derive(Debug, PartialEq, Eq)]
struct Offence {
    line: usize,
    target: String,
    text: String,
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The first identifier of `s` (after spaces).
fn ident(s: &str) -> &str {
    let s = s.trim_start();
    let end = s.find(|c: char| !is_ident(c)).unwrap_or(s.len());
    &s[..end]
}

/// The first identifier of every top-level item of the `{...}` group `s` starts with.
fn group_heads(s: &str) -> Vec<(usize, String)> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item_start = true;
    for (i, c) in s.char_indices() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    item_start = true;
                    continue;
                }
            }
            '}' => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            ',' if depth == 1 => {
                item_start = true;
                continue;
            }
            _ => {}
        }
        if depth == 1 && item_start && is_ident(c) {
            heads.push((i, ident(&s[i..]).to_string()));
            item_start = false;
        } else if depth == 1 && item_start && !c.is_whitespace() {
            item_start = false;
        }
    }
    heads
}

/// The byte spans of the inline modules (`mod tests { ... }`) in `text`, each with its name.
/// Braces are counted as text (balanced in this crate's strings).
fn inline_mods(text: &str) -> Vec<(usize, usize, String)> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find("mod ") {
        let i = at + found;
        at = i + 4;
        if text[..i].ends_with(is_ident) {
            continue;
        }
        let name = ident(&text[i + 4..]);
        let after = text[i + 4..].trim_start()[name.len()..].trim_start();
        if name.is_empty() || !after.starts_with('{') {
            continue;
        }
        let open = text.len() - after.len();
        let mut depth = 0;
        let mut close = text.len();
        for (k, c) in text[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        close = open + k;
                        break;
                    }
                }
                _ => {}
            }
        }
        spans.push((open, close, name.to_string()));
    }
    spans
}

/// Every crate-root module `text` (the file of module `module`) names, with its byte offset.
fn root_names(module: &[String], text: &str) -> Vec<(usize, String)> {
    let mods = inline_mods(text);
    let mut out = Vec::new();
    let mut at = 0;
    while let Some(found) = text[at..].find(['c', 's']) {
        let i = at + found;
        at = i + 1;
        // Only where a path starts: not inside a name, `$crate`, or the middle of a path.
        let before = &text[..i];
        if before.ends_with(is_ident) || before.ends_with('$') || before.ends_with("::") {
            continue;
        }
        let rest = &text[i..];
        // How far up the path climbs: `crate` to the root, each `super` one module.
        let (mut base, mut tail) = if let Some(t) = rest.strip_prefix("crate::") {
            (Some(Vec::new()), t)
        } else if rest.starts_with("super::") {
            // The module the path is written in: the file's, and the inline ones around it.
            let mut here = module.to_vec();
            here.extend(
                mods.iter()
                    .filter(|(open, close, _)| *open < i && i < *close)
                    .map(|(_, _, name)| name.clone()),
            );
            (Some(here), rest)
        } else {
            (None, rest)
        };
        let Some(ref mut base) = base else { continue };
        while let Some(t) = tail.strip_prefix("super::") {
            base.pop();
            tail = t;
        }
        if !base.is_empty() {
            continue; // still inside the file's own top-level module
        }
        let tail_at = text.len() - tail.len();
        if tail.starts_with('{') {
            for (off, head) in group_heads(tail) {
                out.push((tail_at + off, head));
            }
        } else {
            let head = ident(tail);
            if !head.is_empty() {
                out.push((tail_at, head.to_string()));
            }
        }
    }
    out
}

/// The paths in `text` (the file at `rel`, relative to `src/`) its floor may not name.
fn offences(rel: &Path, text: &str) -> Vec<Offence> {
    let module = module_of(rel);
    let Some(allowed) = allowed(&module) else {
        return Vec::new();
    };
    root_names(&module, text)
        .into_iter()
        .filter(|(_, head)| head != "self" && !allowed.contains(&head.as_str()))
        .map(|(offset, target)| {
            let line = text[..offset].matches('\n').count() + 1;
            let text = text.lines().nth(line - 1).unwrap_or("").trim().to_string();
            Offence { line, target, text }
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("dir entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn each_floor_imports_only_from_the_floors_below() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut report = Vec::new();
    let mut checked = 0;
    for path in &files {
        let rel = path.strip_prefix(&src).unwrap();
        if allowed(&module_of(rel)).is_some() {
            checked += 1;
        }
        let text = std::fs::read_to_string(path).expect("read source");
        for o in offences(rel, &text) {
            report.push(format!(
                "src/{}:{}: names `{}` ({})",
                rel.display(),
                o.line,
                o.target,
                o.text
            ));
        }
    }
    // The floors under check exist: a moved tree must not pass by finding nothing to read.
    assert!(
        checked >= 20,
        "only {checked} files of sys and the vocabulary found"
    );
    assert!(
        report.is_empty(),
        "imports that run up the floors:\n{}",
        report.join("\n")
    );
}

#[test]
fn the_scanner_catches_each_way_of_naming_an_upper_floor() {
    let sys = Path::new("sys/unix/seam.rs");
    let bad = "use crate::config::TxFaults;\n\
               use crate::{stats::TxMetrics, engine::Sender};\n\
               use crate::{\n    fault::FaultPlan,\n    recv::seq::SeqTracker,\n};\n\
               fn f(c: &crate::SenderConfig) {}\n\
               use super::super::super::pacing::Rate;\n\
               //! see [`crate::flow`]\n";
    let found: Vec<(usize, String)> = offences(sys, bad)
        .into_iter()
        .map(|o| (o.line, o.target))
        .collect();
    assert_eq!(
        found,
        [
            (1, "config".to_string()),
            (2, "engine".to_string()),
            (5, "recv".to_string()),
            (7, "SenderConfig".to_string()),
            (8, "pacing".to_string()),
            (9, "flow".to_string()),
        ]
    );

    // The same paths are fine where they stay inside sys or the vocabulary.
    let good = "use crate::stats::TxMetrics;\nuse crate::sys::{Slab, TxDesc};\n\
                use crate::{fault::FaultPlan, wire::header};\nuse super::seam::RealSys;\n\
                use super::super::rx::RxBackend;\nuse self::inner::X;\n\
                let recrate::config = 1; // not a path\n";
    assert_eq!(offences(sys, good), []);

    // The vocabulary names no floor above it, sys included.
    let stats = Path::new("stats.rs");
    let found = offences(
        stats,
        "pub injected: crate::fault::InjectedFaults,\nuse crate::sys::errno_name;\n",
    );
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].line, found[0].target.as_str()), (2, "sys"));
    let wire = Path::new("wire/ack.rs");
    assert_eq!(
        offences(wire, "use super::super::config::X;")[0].target,
        "config"
    );
    assert_eq!(offences(wire, "use super::crc32c;"), []);
    // `super` inside an inline module climbs to the file's module first.
    let inline =
        "mod tests {\n    use super::WireError;\n    use super::super::super::sys::X;\n}\n";
    let found = offences(Path::new("wire/mod.rs"), inline);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!((found[0].line, found[0].target.as_str()), (3, "sys"));

    // Floors above are not bounded by this test.
    assert_eq!(
        offences(Path::new("engine/mod.rs"), "use crate::config::X;"),
        []
    );
    assert_eq!(module_of(Path::new("sys/unix/mod.rs")), ["sys", "unix"]);
    assert_eq!(module_of(Path::new("lib.rs")), Vec::<String>::new());
}
