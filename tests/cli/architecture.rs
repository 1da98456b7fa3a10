//! The module structure of `src/` (issue 11, "one seam per concern"), checked by reading the
//! sources: no import cycle at any level, lower layers never import higher ones, and no code
//! outside `src/engine/` names SQLite or PostgreSQL.
//!
//! How the graph is built: every `src/**/*.rs` file is a module (`lib.rs` the crate root,
//! `x/mod.rs` the folder module `x`; `main.rs`, a crate of its own, is left out). Its source is
//! tokenized (comments, strings and character literals dropped) and every path into the crate is
//! an edge to the module file it names: `use` trees (`crate::…`, `super::…`, `self::…`, with
//! `{a, b::c}` groups), inline paths (`crate::a::b::f()`, `super::x::Y`), and paths through a name
//! a `use` brought in (`use crate::catalog; … catalog::format::x`). A path names the longest
//! module prefix it has; an item a folder re-exports (`pub use child::Item`) is followed to the
//! child that defines it. `super::` counts from the inline module it is written in (`mod tests`).
//!
//! The rules, for every edge from module A to module B:
//! - an ancestor may use its descendants and a module its own ancestors (a folder's `mod.rs`
//!   holds what its files share); every other edge is between the two siblings below the nearest
//!   folder holding both, and the sibling graph of every folder (the crate root included) must be
//!   acyclic;
//! - between top-level modules, the layer of A is at least the layer of B (`LAYERS`).
//!
//! No exception remains: the engines take engine-layer requests (`engine::BackupRef`, …) that
//! the core builds, so `src/engine/` never uses `core::`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Top-level modules by layer (design §Layering): a module may use modules of its own layer or
/// below, never above.
const LAYERS: &[(&str, u8)] = &[
    ("value", 1),
    ("rows", 1),
    ("time", 1),
    ("output", 1),
    ("error", 1),
    ("exit", 1),
    ("redact", 1),
    ("interrupt", 1),
    ("sort", 1),
    ("util", 1),
    ("repo", 2),
    ("engine", 3),
    ("core", 4),
    ("cmd", 5),
];

/// Names that only the engines may use (the registry included).
const ENGINE_NAMES: &[&str] = &["is_postgres", "Location::Sqlite", "Location::Postgres", "rusqlite::", "postgres::"];

#[test]
fn no_import_cycle_at_any_level() {
    let crate_src = Crate::read(&src_dir());
    let edges: Vec<Edge> = crate_src.edges();
    let cycles = cycles(&edges);
    assert!(cycles.is_empty(), "import cycles in src/ (fix by moving the shared item down a layer):\n{}", cycles);
}

#[test]
fn lower_layers_never_import_higher_ones() {
    let crate_src = Crate::read(&src_dir());
    let mut wrong = BTreeSet::new();
    for e in crate_src.edges() {
        let (Some(a), Some(b)) = (e.from.first(), e.to.first()) else { continue };
        if a == b {
            continue;
        }
        match (layer(a), layer(b)) {
            (Some(la), Some(lb)) if la < lb => {
                wrong.insert(format!("  {}:{}: {a} (layer {la}) uses {} (layer {lb})", e.file, e.line, join(&e.to)))
            }
            (None, _) => wrong.insert(format!("  top-level module `{a}` has no layer: add it to LAYERS")),
            (_, None) => wrong.insert(format!("  top-level module `{b}` has no layer: add it to LAYERS")),
            _ => false,
        };
    }
    let wrong: Vec<String> = wrong.into_iter().collect();
    assert!(wrong.is_empty(), "layering broken (design: util < repo < engine < core < cmd):\n{}", wrong.join("\n"));
}

#[test]
fn engine_names_only_inside_src_engine() {
    let crate_src = Crate::read(&src_dir());
    let mut hits = Vec::new();
    for f in &crate_src.files {
        if f.path.starts_with("src/engine/") {
            continue;
        }
        for (line, name) in engine_names(&f.tokens) {
            hits.push(format!("  {}:{line}: {name}", f.path));
        }
    }
    let mut per_file: BTreeMap<&str, usize> = BTreeMap::new();
    for h in &hits {
        *per_file.entry(h.trim().split(':').next().unwrap_or("")).or_default() += 1;
    }
    let summary: Vec<String> = per_file.iter().map(|(f, n)| format!("  {f}: {n}")).collect();
    assert!(
        hits.is_empty(),
        "{} use(s) of engine names outside src/engine/:\n{}\nper file:\n{}",
        hits.len(),
        hits.join("\n"),
        summary.join("\n")
    );
}

/// The checker itself: a cycle between siblings is found and reported with its evidence, a child
/// using its parent is not a cycle, and the parser reads `use` groups, `super::` and aliases.
#[test]
fn the_checker_finds_a_synthetic_cycle() {
    let files = [
        ("src/lib.rs", "pub mod a; pub mod b; pub mod c;"),
        ("src/a/mod.rs", "pub mod x; pub mod y; pub use y::Thing; use crate::b::f;"),
        // x → its parent (allowed), x → y through the parent's re-export.
        ("src/a/x.rs", "use super::{Thing, helpers::{self as h}};\nfn g() { let _ = super::Thing; }"),
        ("src/a/y.rs", "// crate::c in a comment is no edge\nconst S: &str = \"crate::c::z\";\npub struct Thing;"),
        ("src/b.rs", "use crate::{c::{self, D}};\npub fn f() { c::deep(); }"),
        ("src/c.rs", "pub struct D;\nfn f() { crate::a::x::g(); }\n#[cfg(test)]\nmod tests { use super::*; }"),
    ];
    let crate_src = Crate::from_sources(files.iter().map(|(p, s)| (PathBuf::from(p), s.to_string())));
    let edges = crate_src.edges();
    let shown: BTreeSet<String> = edges.iter().map(|e| format!("{} → {}", join(&e.from), join(&e.to))).collect();
    let want: BTreeSet<String> =
        ["a → a::y", "a → b", "a::x → a", "a::x → a::y", "b → c", "c → a::x"].iter().map(|s| s.to_string()).collect();
    assert_eq!(shown, want, "edges parsed");
    let report = cycles(&edges);
    // Top level: a → b → c → a. Inside a: x → y only, no cycle.
    assert!(report.contains("top level: a → b") && report.contains("src/c.rs:2"), "{report}");
    assert!(!report.contains("inside a"), "{report}");
    // Breaking the cycle clears the report.
    let acyclic: Vec<Edge> = edges.into_iter().filter(|e| e.file != "src/c.rs").collect();
    assert_eq!(cycles(&acyclic), "");
    // The engine-name rule sees code, not comments or strings.
    let toks =
        tokenize("// rusqlite::x\nlet s = \"postgres::\"; rusqlite::Connection; is_postgres(); Location :: Sqlite");
    let names: Vec<(usize, &str)> = engine_names(&toks);
    assert_eq!(names, vec![(2, "rusqlite::"), (2, "is_postgres"), (2, "Location::Sqlite")]);
}

// ---- the crate's sources -------------------------------------------------------------------

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn layer(top: &str) -> Option<u8> {
    LAYERS.iter().find(|(m, _)| *m == top).map(|(_, l)| *l)
}

fn join(path: &[String]) -> String {
    if path.is_empty() { "crate".to_string() } else { path.join("::") }
}

/// One source file: its path as `src/…`, its module path, its tokens.
struct File {
    path: String,
    module: Vec<String>,
    tokens: Vec<Tok>,
}

struct Crate {
    files: Vec<File>,
}

/// A use of module `to` by the file of module `from`, at `file:line`.
#[derive(Debug, Clone)]
struct Edge {
    from: Vec<String>,
    to: Vec<String>,
    file: String,
    line: usize,
}

impl Crate {
    fn read(src: &Path) -> Crate {
        let mut found = Vec::new();
        let mut stack = vec![src.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).expect("src/ readable") {
                let p = entry.expect("src/ readable").path();
                if p.is_dir() {
                    stack.push(p);
                } else if p.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&p).expect("source readable");
                    let rel = Path::new("src").join(p.strip_prefix(src).expect("under src"));
                    found.push((rel, text));
                }
            }
        }
        Crate::from_sources(found.into_iter())
    }

    fn from_sources(sources: impl Iterator<Item = (PathBuf, String)>) -> Crate {
        let mut files: Vec<File> = sources
            .filter(|(p, _)| p != Path::new("src/main.rs"))
            .map(|(p, text)| File {
                module: module_of(&p),
                path: p.to_string_lossy().into_owned(),
                tokens: tokenize(&text),
            })
            .collect();
        files.sort_by(|a, b| a.path.cmp(&b.path));
        Crate { files }
    }

    fn modules(&self) -> BTreeSet<Vec<String>> {
        self.files.iter().map(|f| f.module.clone()).collect()
    }

    /// Every edge of every file, in file order.
    fn edges(&self) -> Vec<Edge> {
        let modules = self.modules();
        let mut reexports: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
        let parsed: Vec<Vec<PathUse>> = self.files.iter().map(|f| paths_in(&f.tokens, &f.module)).collect();
        for (f, uses) in self.files.iter().zip(&parsed) {
            for u in uses.iter().filter(|u| u.reexport) {
                if let Some(name) = &u.bound {
                    reexports.insert((f.module.clone(), name.clone()), u.path.clone());
                }
            }
        }
        let mut edges = Vec::new();
        for (f, uses) in self.files.iter().zip(&parsed) {
            let mut seen = BTreeSet::new();
            for u in uses {
                let Some(to) = resolve(&u.path, &modules, &reexports) else { continue };
                if to == f.module || !seen.insert((to.clone(), u.line)) {
                    continue;
                }
                edges.push(Edge { from: f.module.clone(), to, file: f.path.clone(), line: u.line });
            }
        }
        edges
    }
}

/// `src/a/b.rs` → `a::b`, `src/a/mod.rs` → `a`, `src/lib.rs` → the crate root.
fn module_of(path: &Path) -> Vec<String> {
    let rel = path.strip_prefix("src").unwrap_or(path);
    let mut parts: Vec<String> = rel.iter().map(|s| s.to_string_lossy().into_owned()).collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !(stem == "mod" || (parts.is_empty() && stem == "lib")) {
        parts.push(stem.to_string());
    }
    parts
}

/// The module an absolute path names: its longest module prefix, following re-exports.
fn resolve(
    path: &[String],
    modules: &BTreeSet<Vec<String>>,
    reexports: &BTreeMap<(Vec<String>, String), Vec<String>>,
) -> Option<Vec<String>> {
    let mut path = path.to_vec();
    for _ in 0..8 {
        let n = (0..=path.len()).rev().find(|&n| modules.contains(&path[..n]))?;
        let module = path[..n].to_vec();
        match path.get(n).and_then(|item| reexports.get(&(module.clone(), item.clone()))) {
            Some(target) if *target != path[..=n] => {
                let mut next = target.clone();
                next.extend_from_slice(&path[n + 1..]);
                path = next;
            }
            _ => return Some(module),
        }
    }
    None
}

// ---- cycles --------------------------------------------------------------------------------

/// The edges that lie on a cycle, per folder, as a printable report (empty when none).
fn cycles(edges: &[Edge]) -> String {
    // folder → (sibling → sibling) → evidence
    type Graph = BTreeMap<String, BTreeMap<String, Vec<String>>>;
    let mut levels: BTreeMap<Vec<String>, Graph> = BTreeMap::new();
    for e in edges {
        let common = e.from.iter().zip(&e.to).take_while(|(a, b)| a == b).count();
        if common == e.from.len() || common == e.to.len() {
            continue; // an ancestor and its descendant
        }
        let (a, b) = (e.from[common].clone(), e.to[common].clone());
        let evidence = levels.entry(e.from[..common].to_vec()).or_default().entry(a).or_default().entry(b).or_default();
        let at = format!("{}:{}", e.file, e.line);
        if evidence.last() != Some(&at) {
            evidence.push(at);
        }
    }
    let mut report = String::new();
    for (folder, graph) in &levels {
        let reaches = |from: &str, to: &str| -> bool {
            let (mut stack, mut seen) = (vec![from.to_string()], BTreeSet::new());
            while let Some(n) = stack.pop() {
                if n == to {
                    return true;
                }
                if seen.insert(n.clone()) {
                    stack.extend(graph.get(&n).into_iter().flat_map(|m| m.keys().cloned()));
                }
            }
            false
        };
        for (a, targets) in graph {
            for (b, evidence) in targets {
                if reaches(b, a) {
                    let place =
                        if folder.is_empty() { "top level".to_string() } else { format!("inside {}", join(folder)) };
                    let shown: Vec<&str> = evidence.iter().take(4).map(String::as_str).collect();
                    let more =
                        if evidence.len() > 4 { format!(" (+{} more)", evidence.len() - 4) } else { String::new() };
                    report.push_str(&format!("  {place}: {a} → {b} at {}{more}\n", shown.join(", ")));
                }
            }
        }
    }
    report
}

// ---- engine names --------------------------------------------------------------------------

/// Where `tokens` name an engine (`ENGINE_NAMES`), as (line, name).
fn engine_names(tokens: &[Tok]) -> Vec<(usize, &'static str)> {
    let mut out = Vec::new();
    for (i, t) in tokens.iter().enumerate() {
        let Tok::Ident(id, line) = t else { continue };
        let next_is_path = matches!(tokens.get(i + 1), Some(Tok::Punct("::", _)));
        let then = match tokens.get(i + 2) {
            Some(Tok::Ident(n, _)) if next_is_path => Some(n.as_str()),
            _ => None,
        };
        let name = match id.as_str() {
            "is_postgres" => Some("is_postgres"),
            "Location" if then == Some("Sqlite") => Some("Location::Sqlite"),
            "Location" if then == Some("Postgres") => Some("Location::Postgres"),
            "rusqlite" if next_is_path => Some("rusqlite::"),
            "postgres" | "tokio_postgres" if next_is_path => Some("postgres::"),
            _ => None,
        };
        if let Some(n) = name {
            debug_assert!(ENGINE_NAMES.contains(&n));
            out.push((*line, n));
        }
    }
    out
}

// ---- paths in a file -----------------------------------------------------------------------

/// A path into the crate, made absolute, where it is written; `bound` is the name a `use` binds
/// it to, `reexport` whether that `use` is `pub`.
#[derive(Debug)]
struct PathUse {
    path: Vec<String>,
    line: usize,
    bound: Option<String>,
    reexport: bool,
}

/// Every crate path in a file of module `module`: `use` trees and inline paths.
fn paths_in(tokens: &[Tok], module: &[String]) -> Vec<PathUse> {
    let mut out = Vec::new();
    // The modules a file declares (`mod x;`) are names in its scope, like what it imports.
    let mut aliases: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for w in tokens.windows(3) {
        if let [Tok::Ident(m, _), Tok::Ident(name, _), Tok::Punct(";", _)] = w
            && m == "mod"
        {
            aliases.insert(name.clone(), module.iter().cloned().chain([name.clone()]).collect());
        }
    }
    // Inline modules open at each brace depth: `super::` counts from the innermost.
    let mut frames: Vec<Option<String>> = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let here: Vec<String> = module.iter().cloned().chain(frames.iter().flatten().cloned()).collect();
        match &tokens[i] {
            Tok::Punct("{", _) => {
                let inline = match (i.checked_sub(2).map(|k| &tokens[k]), i.checked_sub(1).map(|k| &tokens[k])) {
                    (Some(Tok::Ident(m, _)), Some(Tok::Ident(name, _))) if m == "mod" => Some(name.clone()),
                    _ => None,
                };
                frames.push(inline);
                i += 1;
            }
            Tok::Punct("}", _) => {
                frames.pop();
                i += 1;
            }
            Tok::Ident(kw, line) if kw == "use" => {
                let reexport = is_pub_before(tokens, i);
                let mut leaves = Vec::new();
                i = use_tree(tokens, i + 1, Vec::new(), &mut leaves);
                for (rel, bound) in leaves {
                    if let Some(abs) = absolute(&rel, &here, &aliases) {
                        if let Some(name) = &bound {
                            aliases.insert(name.clone(), abs.clone());
                        }
                        out.push(PathUse { path: abs, line: *line, bound, reexport });
                    }
                }
            }
            Tok::Ident(first, line) if !matches!(i.checked_sub(1).map(|k| &tokens[k]), Some(Tok::Punct("::", _))) => {
                let mut path = vec![first.clone()];
                let mut j = i + 1;
                while let (Some(Tok::Punct("::", _)), Some(Tok::Ident(seg, _))) = (tokens.get(j), tokens.get(j + 1)) {
                    path.push(seg.clone());
                    j += 2;
                }
                if path.len() > 1
                    && let Some(abs) = absolute(&path, &here, &aliases)
                {
                    out.push(PathUse { path: abs, line: *line, bound: None, reexport: false });
                }
                i = j.max(i + 1);
            }
            _ => i += 1,
        }
    }
    out
}

/// Whether the `use` at `i` is preceded by `pub` or `pub(…)`.
fn is_pub_before(tokens: &[Tok], i: usize) -> bool {
    match i.checked_sub(1).map(|k| &tokens[k]) {
        Some(Tok::Ident(p, _)) => p == "pub",
        Some(Tok::Punct(")", _)) => {
            let open = tokens[..i].iter().rposition(|t| matches!(t, Tok::Punct("(", _)));
            matches!(open.and_then(|o| o.checked_sub(1)).map(|k| &tokens[k]), Some(Tok::Ident(p, _)) if p == "pub")
        }
        _ => false,
    }
}

/// Reads a use tree from `i` with `prefix` before it; pushes its leaves (path, bound name) and
/// returns the index after it.
fn use_tree(
    tokens: &[Tok],
    mut i: usize,
    mut prefix: Vec<String>,
    leaves: &mut Vec<(Vec<String>, Option<String>)>,
) -> usize {
    if matches!(tokens.get(i), Some(Tok::Punct("::", _))) {
        i += 1; // a leading `::`
    }
    loop {
        match tokens.get(i) {
            Some(Tok::Ident(seg, _)) => {
                prefix.push(seg.clone());
                i += 1;
                if matches!(tokens.get(i), Some(Tok::Punct("::", _))) {
                    i += 1;
                    continue;
                }
                let mut bound = Some(seg.clone());
                if matches!(tokens.get(i), Some(Tok::Ident(a, _)) if a == "as") {
                    bound = match tokens.get(i + 1) {
                        Some(Tok::Ident(alias, _)) if alias != "_" => Some(alias.clone()),
                        _ => None,
                    };
                    i += 2;
                }
                if prefix.last().is_some_and(|s| s == "self") {
                    prefix.pop();
                    if bound.as_deref() == Some("self") {
                        bound = prefix.last().cloned();
                    }
                }
                leaves.push((prefix, bound));
                return i;
            }
            Some(Tok::Punct("*", _)) => {
                leaves.push((prefix, None));
                return i + 1;
            }
            Some(Tok::Punct("{", _)) => {
                i += 1;
                loop {
                    match tokens.get(i) {
                        Some(Tok::Punct("}", _)) => return i + 1,
                        Some(Tok::Punct(",", _)) => i += 1,
                        None => return i,
                        _ => i = use_tree(tokens, i, prefix.clone(), leaves).max(i + 1),
                    }
                }
            }
            _ => return i,
        }
    }
}

/// `path` written in module `here` as an absolute module path; `None` when it leaves the crate
/// (std, another crate, a local name).
fn absolute(path: &[String], here: &[String], aliases: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    let first = path.first()?;
    let (mut base, rest): (Vec<String>, &[String]) = match first.as_str() {
        "crate" => (Vec::new(), &path[1..]),
        "self" => (here.to_vec(), &path[1..]),
        "super" => {
            let mut base = here.to_vec();
            let mut k = 0;
            while path.get(k).is_some_and(|s| s == "super") {
                base.pop()?;
                k += 1;
            }
            (base, &path[k..])
        }
        name => (aliases.get(name)?.clone(), &path[1..]),
    };
    base.extend(rest.iter().cloned());
    Some(base)
}

// ---- tokens --------------------------------------------------------------------------------

/// A token of Rust source, with its line: identifiers and the punctuation paths are made of.
/// Comments, string and character literals, numbers, lifetimes and other punctuation are
/// dropped (`Punct("?")` stands for the rest, so `a::b` never joins across them).
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String, usize),
    Punct(&'static str, usize),
}

fn tokenize(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    let ident_start = |ch: char| ch.is_alphabetic() || ch == '_';
    let ident_char = |ch: char| ch.is_alphanumeric() || ch == '_';
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if ch == '"' {
            i = skip_string(&c, i + 1, false, 0, &mut line);
        } else if ch == '\'' {
            // A character literal ('x', '\n', '\u{..}') or a lifetime ('a).
            if next == Some('\\') {
                i += 3;
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                i += 1;
            } else if c.get(i + 2) == Some(&'\'') {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
            }
        } else if ident_start(ch) {
            let start = i;
            while i < c.len() && ident_char(c[i]) {
                i += 1;
            }
            let word: String = c[start..i].iter().collect();
            // Raw and byte strings, byte characters, raw identifiers.
            let hashes = c[i..].iter().take_while(|&&h| h == '#').count();
            if matches!(word.as_str(), "r" | "br" | "b" | "cr" | "c") && c.get(i + hashes) == Some(&'"') {
                let raw = word.contains('r');
                i = skip_string(&c, i + hashes + 1, raw, hashes, &mut line);
            } else if word == "b" && c.get(i) == Some(&'\'') {
                i += 1;
                while i < c.len() && c[i] != '\'' {
                    i += if c[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            } else if word == "r" && hashes == 1 && c.get(i + 1).is_some_and(|&n| ident_start(n)) {
                let start = i + 1;
                i = start;
                while i < c.len() && ident_char(c[i]) {
                    i += 1;
                }
                out.push(Tok::Ident(c[start..i].iter().collect(), line));
            } else {
                out.push(Tok::Ident(word, line));
            }
        } else if ch.is_ascii_digit() {
            while i < c.len() && (ident_char(c[i]) || (c[i] == '.' && c.get(i + 1).is_some_and(|d| d.is_ascii_digit())))
            {
                i += 1;
            }
            out.push(Tok::Punct("?", line));
        } else if ch == ':' && next == Some(':') {
            out.push(Tok::Punct("::", line));
            i += 2;
        } else {
            let p = match ch {
                '{' => "{",
                '}' => "}",
                '(' => "(",
                ')' => ")",
                ',' => ",",
                ';' => ";",
                '*' => "*",
                _ => "?",
            };
            out.push(Tok::Punct(p, line));
            i += 1;
        }
    }
    out
}

/// Skips a string body from `i` (after the opening quote) to after its closing quote followed by
/// `hashes` `#` (a `raw` string takes no escapes); counts the lines it spans.
fn skip_string(c: &[char], mut i: usize, raw: bool, hashes: usize, line: &mut usize) -> usize {
    while i < c.len() {
        match c[i] {
            '\\' if !raw => {
                *line += usize::from(c.get(i + 1) == Some(&'\n'));
                i += 2;
            }
            '"' if c[i + 1..].iter().take(hashes).filter(|&&h| h == '#').count() == hashes => {
                return i + 1 + hashes;
            }
            ch => {
                *line += usize::from(ch == '\n');
                i += 1;
            }
        }
    }
    i
}
