//! Layout checker: module layers, import cycles between files, file size.
//!
//! The layer table, [`LAYERS`], is right below this header; keep it in sync with
//! docs/architecture.md (`layers_table_matches_docs` fails when the two differ).
//!
//! A top-level module is the first path component under `src/` (`src/x.rs` or `src/x/`). A
//! file may import only from its own layer or a lower one; `src/lib.rs` and `src/main.rs` may
//! declare and re-export anything. New top-level modules must be added to the table.
//!
//! The checks, one `#[test]` each:
//! 1. `file_size`: at most [`MAX_CODE_LINES`] lines of non-test code per `src/**/*.rs` (the
//!    lines before the first line starting with `#[cfg(test)]`, the whole file if there is none).
//! 2. `import_cycles`: no cycle in the import graph between the files of `src/`.
//! 3. `layers_every_module_placed`, `layers_no_upward_imports`: the [`LAYERS`] table.
//! 4. `no_too_many_arguments_allow`: no `allow` (or `expect`) of clippy's
//!    `too_many_arguments` lint in `src/`, `benches/` or `tests/`.
//! 5. `layers_table_matches_docs`: the layer lines of docs/architecture.md match [`LAYERS`].
//!
//! `cargo test --test layout -- --ignored --nocapture print_import_graph` prints every edge.
//!
//! How an edge (file A imports file B) is counted, from A's non-test code only:
//! * paths in `use` declarations starting with `crate::`, `super::` or `self::`, including
//!   multi-line `use crate::{ .. }` groups with nested braces and `self`;
//! * paths in code starting with `crate::`, `super::` or `self::`, and paths starting with the
//!   name of a child module that A declares with `mod x;` (`wstack::run(..)` in `pipeline.rs`);
//! * `super`/`self` resolve against A's module path (`src/x/mod.rs` and `src/lib.rs` are the
//!   module of their directory, `src/x/y.rs` is `x::y`), and a path resolves to the deepest
//!   file that exists: `crate::grid::gpu::GpuGridder` -> `src/grid/gpu/mod.rs`;
//! * not counted: comments and string literals; `mod x;` declarations; self-edges (paths into
//!   A's own inline `mod tests {}`); code after A's first `#[cfg(test)]` line; files that are
//!   declared only in a parent's test code (`#[cfg(test)] mod tests;`); and facades: a
//!   `pub use` / `pub(crate) use` whose target lies below A's own module (`pub use
//!   self::fits::write_fits_image;` in `output/mod.rs`).
//!
//! Runs under cargo (`cargo test --test layout`) or alone, from the crate root:
//! `rustc --edition 2021 --test tests/layout.rs -o /tmp/layout_test && /tmp/layout_test`.
//! Only std is used.

// =============================================================================================
// LAYERS: every top-level module of src/ and its layer. Keep in sync with docs/architecture.md.
// A file may import from its own layer or below. A new top-level module must be placed here.
// =============================================================================================
/// (layer, name, top-level modules), lowest layer first. See the file header.
#[rustfmt::skip]
const LAYERS: &[(u32, &str, &[&str])] = &[
    (0, "leaves/data",        &["constants", "real", "progress", "plot", "resources", "image", "vis", "config"]),
    (1, "maths",              &["kernel", "wstack", "weighting", "dft", "simulate"]),
    (2, "engines",            &["dist", "fft", "grid"]),
    (3, "output and metrics", &["output", "metrics", "energy"]),
    (4, "driver",             &["imaging"]),
    (5, "commands",           &["cmd", "scaling"]),
    (6, "cli",                &["cli", "lib"]),
];

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Files that may import from any layer (they declare and re-export the modules).
const LAYER_EXEMPT: &[&str] = &["src/lib.rs", "src/main.rs"];

/// Most lines of non-test code in one source file.
const MAX_CODE_LINES: usize = 500;

/// The lint whose `allow` is banned (a string literal, so this file does not match itself).
const BANNED_LINT: &str = "clippy::too_many_arguments";

/// The architecture document that mirrors [`LAYERS`].
const ARCH_DOC: &str = "docs/architecture.md";

// ---------------------------------------------------------------------------------------------
// Lexing: comments and string literals out, line numbers kept.
// ---------------------------------------------------------------------------------------------

/// `src` with comments removed and string / char literals emptied (`""`, `' '`), one entry
/// per input line, so that line `i` of the result is line `i` of the input.
fn strip_comments_and_strings(src: &str) -> Vec<String> {
    let c: Vec<char> = src.chars().collect();
    let is_ident = |ch: char| ch.is_alphanumeric() || ch == '_';
    let mut lines = vec![String::new()];
    let mut i = 0;
    while i < c.len() {
        let ch = c[i];
        let next = c.get(i + 1).copied();
        if ch == '\n' {
            lines.push(String::new());
            i += 1;
        } else if ch == '/' && next == Some('/') {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && next == Some('*') {
            let mut depth = 1;
            i += 2;
            while i < c.len() && depth > 0 {
                if c[i] == '\n' {
                    lines.push(String::new());
                    i += 1;
                } else if c[i] == '/' && c.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && c.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                } else {
                    i += 1;
                }
            }
            lines.last_mut().unwrap().push(' ');
        } else if let Some(end) = raw_string_end(&c, i, &mut lines) {
            lines.last_mut().unwrap().push_str("\"\"");
            i = end;
        } else if ch == '"' {
            let mut j = i + 1;
            while j < c.len() && c[j] != '"' {
                if c[j] == '\n' {
                    lines.push(String::new());
                } else if c[j] == '\\' {
                    if c.get(j + 1) == Some(&'\n') {
                        lines.push(String::new());
                    }
                    j += 1;
                }
                j += 1;
            }
            lines.last_mut().unwrap().push_str("\"\"");
            i = j + 1;
        } else if ch == '\'' && next == Some('\\') {
            // Escaped char literal: '\n', '\'', '\u{1F600}'.
            let mut j = i + 3;
            while j < c.len() && c[j] != '\'' && c[j] != '\n' {
                j += 1;
            }
            lines.last_mut().unwrap().push_str("' '");
            i = j + 1;
        } else if ch == '\'' && c.get(i + 2) == Some(&'\'') {
            lines.last_mut().unwrap().push_str("' '");
            i += 3;
        } else {
            // Code, including the quote of a lifetime or label.
            let starts_ident = is_ident(ch) && (i == 0 || !is_ident(c[i - 1]));
            if starts_ident {
                let mut j = i;
                while j < c.len() && is_ident(c[j]) {
                    j += 1;
                }
                lines.last_mut().unwrap().extend(&c[i..j]);
                i = j;
            } else {
                lines.last_mut().unwrap().push(ch);
                i += 1;
            }
        }
    }
    lines
}

/// If a raw string (`r"..."`, `r#"..."#`, `br"..."`) starts at `i`, the index just past it;
/// newlines inside it are added to `lines`.
fn raw_string_end(c: &[char], i: usize, lines: &mut Vec<String>) -> Option<usize> {
    if i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_') {
        return None;
    }
    let mut j = match (c.get(i), c.get(i + 1)) {
        (Some('r'), _) => i + 1,
        (Some('b'), Some('r')) => i + 2,
        _ => return None,
    };
    let mut hashes = 0;
    while c.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    if c.get(j) != Some(&'"') {
        return None;
    }
    j += 1;
    while j < c.len() {
        if c[j] == '"' && (1..=hashes).all(|k| c.get(j + k) == Some(&'#')) {
            return Some(j + 1 + hashes);
        }
        if c[j] == '\n' {
            lines.push(String::new());
        }
        j += 1;
    }
    Some(j)
}

#[derive(Debug, Clone)]
struct Tok {
    text: String,
    /// 1-based line number.
    line: usize,
}

fn is_ident_tok(s: &str) -> bool {
    s.chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() || c == '_')
}

/// Identifiers, numbers, `::` and single punctuation characters of `lines[from..to]`.
fn tokenize(lines: &[String], from: usize, to: usize) -> Vec<Tok> {
    let mut toks = Vec::new();
    for (n, line) in lines.iter().enumerate().take(to).skip(from) {
        let c: Vec<char> = line.chars().collect();
        let mut i = 0;
        while i < c.len() {
            if c[i].is_whitespace() {
                i += 1;
            } else if c[i].is_alphanumeric() || c[i] == '_' {
                let start = i;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
                toks.push(Tok {
                    text: c[start..i].iter().collect(),
                    line: n + 1,
                });
            } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
                toks.push(Tok {
                    text: "::".into(),
                    line: n + 1,
                });
                i += 2;
            } else {
                toks.push(Tok {
                    text: c[i].to_string(),
                    line: n + 1,
                });
                i += 1;
            }
        }
    }
    toks
}

// ---------------------------------------------------------------------------------------------
// Scanning one file: its references to other modules.
// ---------------------------------------------------------------------------------------------

/// One reference from a file to a module path (absolute, from the crate root).
#[derive(Debug, Clone)]
struct Ref {
    line: usize,
    module: Vec<String>,
    /// The path as written, e.g. `use crate::grid::Real` or `crate::vis::split_range`.
    text: String,
    /// From a `pub use` / `pub(crate) use` / `pub(super) use`.
    public_use: bool,
}

#[derive(Debug, Default)]
struct FileScan {
    /// Total lines.
    lines: usize,
    /// Lines of non-test code (before the first line starting with `#[cfg(test)]`).
    code_lines: usize,
    refs: Vec<Ref>,
    /// Child modules declared (`mod x;`) in the test part of the file.
    test_mods: Vec<String>,
}

/// Scans `src`, the file of module `module` (`[]` for the crate root).
fn scan_file(src: &str, module: &[String]) -> FileScan {
    let raw: Vec<&str> = src.lines().collect();
    let code_lines = raw
        .iter()
        .position(|l| l.starts_with("#[cfg(test)]"))
        .unwrap_or(raw.len());
    let stripped = strip_comments_and_strings(src);
    let toks = tokenize(&stripped, 0, code_lines);
    let test_toks = tokenize(&stripped, code_lines, stripped.len());

    let declared = |toks: &[Tok]| -> Vec<String> {
        toks.windows(3)
            .filter(|w| w[0].text == "mod" && is_ident_tok(&w[1].text) && w[2].text == ";")
            .map(|w| w[1].text.clone())
            .collect()
    };
    let children: HashSet<String> = declared(&toks).into_iter().collect();
    let test_mods = declared(&test_toks);

    let text = |i: usize| toks.get(i).map_or("", |t| t.text.as_str());
    let mut refs = Vec::new();
    // Inline modules we are inside: (name, brace depth outside them).
    let mut inline: Vec<(String, usize)> = Vec::new();
    let mut depth = 0usize;
    let mut i = 0;
    while i < toks.len() {
        let t = text(i);
        let mut cur: Vec<String> = module.to_vec();
        cur.extend(inline.iter().map(|(n, _)| n.clone()));
        let at_file_level = inline.is_empty();
        if t == "{" {
            depth += 1;
            i += 1;
        } else if t == "}" {
            depth = depth.saturating_sub(1);
            if inline.last().is_some_and(|(_, d)| *d == depth) {
                inline.pop();
            }
            i += 1;
        } else if t == "mod" && is_ident_tok(text(i + 1)) && text(i + 2) == "{" {
            inline.push((text(i + 1).to_string(), depth));
            i += 2;
        } else if t == "use" && text(i + 1) != "<" {
            let public_use = is_pub_before(&toks, i);
            let mut j = i + 1;
            let mut braces = 0i32;
            while j < toks.len() {
                match text(j) {
                    "{" => braces += 1,
                    "}" => braces -= 1,
                    ";" if braces <= 0 => break,
                    _ => {}
                }
                j += 1;
            }
            let mut leaves = Vec::new();
            let mut k = 0;
            use_tree(&toks[i + 1..j], &mut k, Vec::new(), &mut leaves);
            for (path, shown, line) in leaves {
                if let Some(abs) = absolute(&cur, &path, &children, at_file_level) {
                    refs.push(Ref {
                        line,
                        module: abs,
                        text: format!("use {shown}"),
                        public_use,
                    });
                }
            }
            i = j + 1;
        } else if is_ident_tok(t)
            && text(i + 1) == "::"
            && (i == 0 || text(i - 1) != "::")
            && !(i >= 3 && text(i - 1) == "in" && text(i - 2) == "(" && text(i - 3) == "pub")
        {
            let mut path = vec![t.to_string()];
            let mut j = i + 1;
            while text(j) == "::" && is_ident_tok(text(j + 1)) {
                path.push(text(j + 1).to_string());
                j += 2;
            }
            if let Some(abs) = absolute(&cur, &path, &children, at_file_level) {
                refs.push(Ref {
                    line: toks[i].line,
                    module: abs,
                    text: path.join("::"),
                    public_use: false,
                });
            }
            i = j;
        } else {
            i += 1;
        }
    }
    FileScan {
        lines: raw.len(),
        code_lines,
        refs,
        test_mods,
    }
}

/// Whether the `use` at `toks[i]` is preceded by `pub` or `pub(...)`.
fn is_pub_before(toks: &[Tok], i: usize) -> bool {
    if i == 0 {
        return false;
    }
    if toks[i - 1].text == "pub" {
        return true;
    }
    if toks[i - 1].text == ")" {
        let mut j = i - 1;
        while j > 0 && toks[j].text != "(" {
            j -= 1;
        }
        return j > 0 && toks[j - 1].text == "pub";
    }
    false
}

/// Expands a use tree into its leaf paths: (segments, path as shown, line of the leaf).
/// `self` inside a group stands for the group's prefix; `as` renames and `*` globs end a leaf.
fn use_tree(
    toks: &[Tok],
    i: &mut usize,
    prefix: Vec<String>,
    out: &mut Vec<(Vec<String>, String, usize)>,
) {
    let text = |k: usize| toks.get(k).map_or("", |t| t.text.as_str());
    let line = |k: usize| toks.get(k).or(toks.last()).map_or(0, |t| t.line);
    let mut path = prefix;
    if text(*i) == "::" {
        *i += 1; // `use ::extern_crate::..`: not ours, but parse it through.
        path.push(String::new());
    }
    loop {
        match text(*i) {
            "{" => {
                *i += 1;
                while *i < toks.len() && text(*i) != "}" {
                    let before = *i;
                    use_tree(toks, i, path.clone(), out);
                    if text(*i) == "," {
                        *i += 1;
                    }
                    if *i == before {
                        *i += 1; // malformed input: make progress
                    }
                }
                *i += 1;
                return;
            }
            "*" => {
                let shown = format!("{}::*", path.join("::"));
                out.push((path, shown, line(*i)));
                *i += 1;
                return;
            }
            seg if is_ident_tok(seg) => {
                let l = line(*i);
                // A `self` inside a group is the group's prefix itself.
                if seg != "self" || path.is_empty() {
                    path.push(seg.to_string());
                }
                *i += 1;
                if text(*i) == "::" {
                    *i += 1;
                    continue;
                }
                if text(*i) == "as" {
                    *i += 2;
                }
                let shown = path.join("::");
                out.push((path, shown, l));
                return;
            }
            _ => return,
        }
    }
}

/// The absolute module path (from the crate root) that `path`, written in module `cur`, points
/// at; `None` for paths that leave the crate (std, dependencies) or are not module paths.
/// Bare paths count only when they start with a child module declared in the file
/// (`children`) and are written at file level, outside inline modules.
fn absolute(
    cur: &[String],
    path: &[String],
    children: &HashSet<String>,
    at_file_level: bool,
) -> Option<Vec<String>> {
    let first = path.first()?.as_str();
    match first {
        "crate" => Some(path[1..].to_vec()),
        "super" | "self" => {
            let mut base = cur.to_vec();
            let mut k = 0;
            while k < path.len() {
                match path[k].as_str() {
                    "super" => {
                        base.pop()?;
                    }
                    "self" => {}
                    _ => break,
                }
                k += 1;
            }
            base.extend(path[k..].iter().cloned());
            Some(base)
        }
        name if at_file_level && children.contains(name) => {
            let mut abs = cur.to_vec();
            abs.extend(path.iter().cloned());
            Some(abs)
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// The whole tree: files, edges.
// ---------------------------------------------------------------------------------------------

#[derive(Debug)]
struct SrcFile {
    /// Path from the crate root, `/`-separated: `src/grid/gpu/mod.rs`.
    rel: String,
    module: Vec<String>,
    lines: usize,
    code_lines: usize,
    /// Declared only in test code (`#[cfg(test)] mod tests;` in the parent).
    test_only: bool,
}

#[derive(Debug, Clone)]
struct Edge {
    from: usize,
    to: usize,
    line: usize,
    text: String,
}

#[derive(Debug)]
struct Analysis {
    files: Vec<SrcFile>,
    edges: Vec<Edge>,
    facades: usize,
}

/// The module path of a file under `src/`: `src/lib.rs` -> `[]`, `src/x/mod.rs` -> `[x]`,
/// `src/x/y.rs` -> `[x, y]`.
fn module_of(rel: &str) -> Vec<String> {
    if rel == "src/lib.rs" || rel == "src/main.rs" {
        return Vec::new();
    }
    let inner = rel.trim_start_matches("src/").trim_end_matches(".rs");
    let mut m: Vec<String> = inner.split('/').map(str::to_string).collect();
    if m.last().is_some_and(|s| s == "mod") {
        m.pop();
    }
    m
}

/// The top-level module of a file: the first path component under `src/`.
fn top_module(rel: &str) -> String {
    let inner = rel.trim_start_matches("src/");
    let first = inner.split('/').next().unwrap_or(inner);
    first.trim_end_matches(".rs").to_string()
}

/// Builds the file graph from `(path from the crate root, contents)` of every `src/**/*.rs`.
fn analyse(inputs: &[(String, String)]) -> Analysis {
    let mut inputs: Vec<&(String, String)> = inputs.iter().collect();
    inputs.sort_by(|a, b| a.0.cmp(&b.0));
    let mut files = Vec::new();
    let mut scans = Vec::new();
    let mut by_module: HashMap<Vec<String>, usize> = HashMap::new();
    for (n, (rel, src)) in inputs.iter().enumerate() {
        let module = module_of(rel);
        let scan = scan_file(src, &module);
        if rel != "src/main.rs" {
            by_module.insert(module.clone(), n);
        }
        files.push(SrcFile {
            rel: rel.clone(),
            module,
            lines: scan.lines,
            code_lines: scan.code_lines,
            test_only: false,
        });
        scans.push(scan);
    }
    // Files declared from test code, and everything below them, are test code.
    let mut test_roots = Vec::new();
    for (f, scan) in scans.iter().enumerate() {
        for name in &scan.test_mods {
            let mut m = files[f].module.clone();
            m.push(name.clone());
            test_roots.push(m);
        }
    }
    for file in files.iter_mut() {
        if file.rel != "src/main.rs" && test_roots.iter().any(|r| file.module.starts_with(r)) {
            file.test_only = true;
            file.code_lines = 0;
        }
    }
    let resolve = |m: &[String]| {
        (0..=m.len())
            .rev()
            .find_map(|k| by_module.get(&m[..k]).copied())
    };
    let mut edges = Vec::new();
    let mut facades = 0;
    for (f, scan) in scans.iter().enumerate() {
        // main.rs is the binary crate: its `crate::` is not the library.
        if files[f].test_only || files[f].rel == "src/main.rs" {
            continue;
        }
        for r in &scan.refs {
            let Some(to) = resolve(&r.module) else {
                continue;
            };
            if to == f {
                continue;
            }
            let (fm, tm) = (&files[f].module, &files[to].module);
            if r.public_use && tm.len() > fm.len() && tm.starts_with(fm) {
                facades += 1;
                continue;
            }
            edges.push(Edge {
                from: f,
                to,
                line: r.line,
                text: r.text.clone(),
            });
        }
    }
    Analysis {
        files,
        edges,
        facades,
    }
}

impl Analysis {
    /// Distinct (from, to) file pairs.
    fn file_pairs(&self) -> BTreeSet<(usize, usize)> {
        self.edges.iter().map(|e| (e.from, e.to)).collect()
    }

    /// Strongly connected components with more than one file (Tarjan), sorted.
    fn cycles(&self) -> Vec<Vec<usize>> {
        let n = self.files.len();
        let mut adj = vec![Vec::new(); n];
        for (a, b) in self.file_pairs() {
            adj[a].push(b);
        }
        struct T<'a> {
            adj: &'a [Vec<usize>],
            index: Vec<Option<usize>>,
            low: Vec<usize>,
            on: Vec<bool>,
            stack: Vec<usize>,
            next: usize,
            out: Vec<Vec<usize>>,
        }
        fn visit(t: &mut T, v: usize) {
            t.index[v] = Some(t.next);
            t.low[v] = t.next;
            t.next += 1;
            t.stack.push(v);
            t.on[v] = true;
            for k in 0..t.adj[v].len() {
                let w = t.adj[v][k];
                match t.index[w] {
                    None => {
                        visit(t, w);
                        t.low[v] = t.low[v].min(t.low[w]);
                    }
                    Some(iw) if t.on[w] => t.low[v] = t.low[v].min(iw),
                    _ => {}
                }
            }
            if Some(t.low[v]) == t.index[v] {
                let mut scc = Vec::new();
                loop {
                    let w = t.stack.pop().unwrap();
                    t.on[w] = false;
                    scc.push(w);
                    if w == v {
                        break;
                    }
                }
                if scc.len() > 1 {
                    scc.sort();
                    t.out.push(scc);
                }
            }
        }
        let mut t = T {
            adj: &adj,
            index: vec![None; n],
            low: vec![0; n],
            on: vec![false; n],
            stack: Vec::new(),
            next: 0,
            out: Vec::new(),
        };
        for v in 0..n {
            if t.index[v].is_none() {
                visit(&mut t, v);
            }
        }
        t.out.sort();
        t.out
    }

    /// A shortest loop through the first file of `scc`, staying inside it.
    fn shortest_loop(&self, scc: &[usize]) -> Vec<usize> {
        let inside: HashSet<usize> = scc.iter().copied().collect();
        let pairs = self.file_pairs();
        let start = scc[0];
        let mut prev: HashMap<usize, usize> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(v) = queue.pop_front() {
            for &(_, w) in pairs.range((v, 0)..=(v, usize::MAX)) {
                if !inside.contains(&w) {
                    continue;
                }
                if w == start {
                    let mut back = Vec::new();
                    let mut x = v;
                    while x != start {
                        back.push(x);
                        x = prev[&x];
                    }
                    back.reverse();
                    let mut path = vec![start];
                    path.extend(back);
                    path.push(start);
                    return path;
                }
                if let std::collections::hash_map::Entry::Vacant(e) = prev.entry(w) {
                    e.insert(v);
                    queue.push_back(w);
                }
            }
        }
        vec![start]
    }

    fn cycle_report(&self, sccs: &[Vec<usize>]) -> String {
        let mut s = String::new();
        for (n, scc) in sccs.iter().enumerate() {
            let inside: HashSet<usize> = scc.iter().copied().collect();
            let _ = writeln!(
                s,
                "import cycle {} of {}: {} files",
                n + 1,
                sccs.len(),
                scc.len()
            );
            for &f in scc {
                let _ = writeln!(s, "    {}", self.files[f].rel);
            }
            let shortest: Vec<&str> = self
                .shortest_loop(scc)
                .iter()
                .map(|&f| self.files[f].rel.as_str())
                .collect();
            let _ = writeln!(s, "  a shortest loop: {}", shortest.join(" -> "));
            let _ = writeln!(s, "  edges inside the cycle (file:line  path):");
            let mut grouped: BTreeMap<(usize, usize), Vec<&Edge>> = BTreeMap::new();
            for e in &self.edges {
                if inside.contains(&e.from) && inside.contains(&e.to) {
                    grouped.entry((e.from, e.to)).or_default().push(e);
                }
            }
            for ((a, b), es) in grouped {
                let _ = writeln!(s, "    {} -> {}", self.files[a].rel, self.files[b].rel);
                for line in by_line(&self.files[a].rel, &es) {
                    let _ = writeln!(s, "        {line}");
                }
            }
        }
        s
    }

    fn size_violations(&self, limit: usize) -> Vec<String> {
        let mut v: Vec<&SrcFile> = self.files.iter().filter(|f| f.code_lines > limit).collect();
        v.sort_by(|a, b| b.code_lines.cmp(&a.code_lines).then(a.rel.cmp(&b.rel)));
        v.iter()
            .map(|f| {
                format!(
                    "{}: {} lines of non-test code ({} in the file), limit {limit}",
                    f.rel, f.code_lines, f.lines
                )
            })
            .collect()
    }

    /// Top-level modules (first component under `src/`) that the table does not place.
    fn unplaced_modules(&self) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in &self.files {
            if LAYER_EXEMPT.contains(&f.rel.as_str()) {
                continue;
            }
            let top = top_module(&f.rel);
            if layer_of(&top).is_none() {
                out.entry(top).or_default().push(f.rel.clone());
            }
        }
        out
    }

    /// Imports of a module in a higher layer, grouped by file pair.
    fn layer_violations(&self) -> Vec<String> {
        let mut grouped: BTreeMap<(usize, usize), Vec<&Edge>> = BTreeMap::new();
        for e in &self.edges {
            let (a, b) = (&self.files[e.from], &self.files[e.to]);
            if LAYER_EXEMPT.contains(&a.rel.as_str()) {
                continue;
            }
            if let (Some(la), Some(lb)) =
                (layer_of(&top_module(&a.rel)), layer_of(&top_module(&b.rel)))
            {
                if la < lb {
                    grouped.entry((e.from, e.to)).or_default().push(e);
                }
            }
        }
        grouped
            .into_iter()
            .map(|((a, b), es)| {
                let (fa, fb) = (&self.files[a].rel, &self.files[b].rel);
                let (ta, tb) = (top_module(fa), top_module(fb));
                let mut s = format!(
                    "{fa} [{ta}, L{}] imports {fb} [{tb}, L{}]:",
                    layer_of(&ta).unwrap(),
                    layer_of(&tb).unwrap()
                );
                for line in by_line(fa, &es) {
                    let _ = write!(s, "\n        {line}");
                }
                s
            })
            .collect()
    }
}

/// `file:line  path` for each source line of `edges` (all from `file`), the paths of one line
/// merged: `use crate::grid::{GridMode, Real}`.
fn by_line(file: &str, edges: &[&Edge]) -> Vec<String> {
    let mut lines: BTreeMap<usize, Vec<&str>> = BTreeMap::new();
    for e in edges {
        let texts = lines.entry(e.line).or_default();
        if !texts.contains(&e.text.as_str()) {
            texts.push(&e.text);
        }
    }
    lines
        .into_iter()
        .map(|(line, texts)| format!("{file}:{line}  {}", merge_paths(&texts)))
        .collect()
}

/// `a::b::X`, `a::b::Y` -> `a::b::{X, Y}`; a single path is returned as it is.
fn merge_paths(texts: &[&str]) -> String {
    if texts.len() == 1 {
        return texts[0].to_string();
    }
    let split: Vec<Vec<&str>> = texts.iter().map(|t| t.split("::").collect()).collect();
    let shortest = split.iter().map(Vec::len).min().unwrap_or(0);
    let mut common = 0;
    while common + 1 < shortest && split.iter().all(|p| p[common] == split[0][common]) {
        common += 1;
    }
    if common == 0 {
        return texts.join(", ");
    }
    let rest: Vec<String> = split.iter().map(|p| p[common..].join("::")).collect();
    format!("{}::{{{}}}", split[0][..common].join("::"), rest.join(", "))
}

fn layer_of(top: &str) -> Option<u32> {
    LAYERS
        .iter()
        .find(|(_, _, mods)| mods.contains(&top))
        .map(|(l, _, _)| *l)
}

/// Lines (1-based) where `src` allows or expects [`BANNED_LINT`] in code.
fn banned_allows(src: &str) -> Vec<usize> {
    let code = strip_comments_and_strings(src).join("\n");
    let mut out = Vec::new();
    for (pos, _) in code.match_indices(BANNED_LINT) {
        let attr = code[..pos].rfind('#').map_or("", |h| &code[h..pos]);
        if attr.contains("allow") || attr.contains("expect") {
            out.push(code[..pos].matches('\n').count() + 1);
        }
    }
    out
}

/// Layers as written in the architecture document: lines `L<n> <name> : mod, mod, ...`
/// (a leading or trailing `|` of a box is ignored).
fn doc_layers(doc: &str) -> BTreeMap<u32, BTreeSet<String>> {
    let mut out: BTreeMap<u32, BTreeSet<String>> = BTreeMap::new();
    for line in doc.lines() {
        let l = line.trim().trim_matches('|').trim();
        let Some(rest) = l.strip_prefix('L') else {
            continue;
        };
        let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() || !rest[digits.len()..].starts_with(char::is_whitespace) {
            continue;
        }
        let Some((_, mods)) = rest.split_once(':') else {
            continue;
        };
        let mods: Vec<&str> = mods.split(',').map(str::trim).collect();
        let word = |m: &str| is_ident_tok(m) && m.chars().all(|c| c.is_alphanumeric() || c == '_');
        if mods.iter().all(|m| word(m)) {
            out.entry(digits.parse().unwrap())
                .or_default()
                .extend(mods.iter().map(|m| m.to_string()));
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// The real tree.
// ---------------------------------------------------------------------------------------------

fn crate_root() -> PathBuf {
    match option_env!("CARGO_MANIFEST_DIR") {
        Some(dir) => PathBuf::from(dir),
        None => std::env::current_dir().expect("current directory"),
    }
}

/// `(path from the crate root, contents)` of every `.rs` file under `root/dir`, sorted.
fn read_rs_files(root: &Path, dir: &str) -> Vec<(String, String)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel: Vec<String> = path
                    .strip_prefix(root)
                    .unwrap()
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                let src = std::fs::read_to_string(&path)
                    .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
                out.push((rel.join("/"), src));
            }
        }
    }
    let mut out = Vec::new();
    walk(root, &root.join(dir), &mut out);
    out.sort();
    out
}

fn tree() -> &'static Analysis {
    static TREE: OnceLock<Analysis> = OnceLock::new();
    TREE.get_or_init(|| {
        let root = crate_root();
        let files = read_rs_files(&root, "src");
        assert!(
            !files.is_empty(),
            "no .rs files under {}/src: run from the crate root",
            root.display()
        );
        analyse(&files)
    })
}

#[test]
fn file_size() {
    let t = tree();
    let bad = t.size_violations(MAX_CODE_LINES);
    assert!(
        bad.is_empty(),
        "{} source files have more than {MAX_CODE_LINES} lines of non-test code (split them):\n    {}",
        bad.len(),
        bad.join("\n    ")
    );
    let max = t.files.iter().max_by_key(|f| f.code_lines).unwrap();
    println!(
        "layout: file size ok: {} files, largest {} ({} non-test lines, limit {MAX_CODE_LINES})",
        t.files.len(),
        max.rel,
        max.code_lines
    );
}

#[test]
fn import_cycles() {
    let t = tree();
    let sccs = t.cycles();
    assert!(
        sccs.is_empty(),
        "{} import cycle(s) between source files; break every edge you can in each:\n{}",
        sccs.len(),
        t.cycle_report(&sccs)
    );
    println!(
        "layout: no import cycles: {} files, {} file-to-file edges from {} references ({} facade re-exports not counted)",
        t.files.len(),
        t.file_pairs().len(),
        t.edges.len(),
        t.facades
    );
}

#[test]
fn layers_every_module_placed() {
    let t = tree();
    let missing = t.unplaced_modules();
    let list: Vec<String> = missing
        .iter()
        .map(|(m, fs)| format!("{m} ({})", fs.join(", ")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} top-level module(s) not in the LAYERS table of tests/layout.rs (and {ARCH_DOC}); \
         place each in a layer:\n    {}",
        missing.len(),
        list.join("\n    ")
    );
    let tops: BTreeSet<String> = t.files.iter().map(|f| top_module(&f.rel)).collect();
    println!(
        "layout: all {} top-level modules are placed in {} layers",
        tops.len() - tops.contains("main") as usize,
        LAYERS.len()
    );
}

#[test]
fn layers_no_upward_imports() {
    let t = tree();
    let bad = t.layer_violations();
    assert!(
        bad.is_empty(),
        "{} file(s) import from a higher layer (a module imports only from its own layer or \
         below; see {ARCH_DOC}):\n    {}",
        bad.len(),
        bad.join("\n    ")
    );
    println!(
        "layout: layers ok: {} file-to-file edges, none upwards",
        t.file_pairs().len()
    );
}

#[test]
fn no_too_many_arguments_allow() {
    let root = crate_root();
    let mut bad = Vec::new();
    let mut n = 0;
    for dir in ["src", "benches", "tests"] {
        for (rel, src) in read_rs_files(&root, dir) {
            n += 1;
            for line in banned_allows(&src) {
                bad.push(format!("{rel}:{line}"));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "{} allow({BANNED_LINT}) attribute(s); group the arguments into a struct instead:\n    {}",
        bad.len(),
        bad.join("\n    ")
    );
    println!("layout: no allow({BANNED_LINT}) in {n} files of src/, benches/, tests/");
}

#[test]
fn layers_table_matches_docs() {
    let path = crate_root().join(ARCH_DOC);
    let doc = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let want: BTreeMap<u32, BTreeSet<String>> = LAYERS
        .iter()
        .map(|(l, _, mods)| (*l, mods.iter().map(|m| m.to_string()).collect()))
        .collect();
    let got = doc_layers(&doc);
    assert_eq!(
        got, want,
        "the layer lines (`L<n> name : mod, mod`) of {ARCH_DOC} differ from LAYERS in tests/layout.rs"
    );
    println!("layout: {ARCH_DOC} lists the same {} layers", want.len());
}

/// Not a check: prints every counted edge, for looking at the graph:
/// `cargo test --test layout -- --ignored --nocapture print_import_graph`.
#[test]
#[ignore]
fn print_import_graph() {
    let t = tree();
    for e in &t.edges {
        println!(
            "{}:{} -> {}  {}",
            t.files[e.from].rel, e.line, t.files[e.to].rel, e.text
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The parser on small inputs.
// ---------------------------------------------------------------------------------------------

mod parser {
    use super::*;

    fn tree_of(files: &[(&str, &str)]) -> Analysis {
        let owned: Vec<(String, String)> = files
            .iter()
            .map(|(p, s)| (p.to_string(), s.to_string()))
            .collect();
        analyse(&owned)
    }

    /// Edges as `from:line -> to`, sorted.
    fn edges(t: &Analysis) -> Vec<String> {
        let mut v: Vec<String> = t
            .edges
            .iter()
            .map(|e| {
                format!(
                    "{}:{} -> {}",
                    t.files[e.from].rel, e.line, t.files[e.to].rel
                )
            })
            .collect();
        v.sort();
        v.dedup();
        v
    }

    #[test]
    fn multi_line_use_group_with_nested_braces_and_self() {
        let t = tree_of(&[
            ("src/lib.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
            (
                "src/a.rs",
                "use std::fmt;\nuse crate::{\n    b::{self, x::{Y, Z as W}},\n    c::*,\n};\n",
            ),
            ("src/b/mod.rs", "pub mod x;\n"),
            ("src/b/x.rs", ""),
            ("src/c.rs", ""),
        ]);
        assert_eq!(
            edges(&t),
            [
                "src/a.rs:3 -> src/b/mod.rs",
                "src/a.rs:3 -> src/b/x.rs",
                "src/a.rs:4 -> src/c.rs",
            ]
        );
    }

    #[test]
    fn deepest_existing_file() {
        let t = tree_of(&[
            ("src/lib.rs", ""),
            (
                "src/a.rs",
                "fn f() { crate::grid::gpu::GpuGridder::new(); }\n",
            ),
            ("src/grid/mod.rs", "pub mod gpu;\n"),
            ("src/grid/gpu/mod.rs", ""),
        ]);
        assert_eq!(edges(&t), ["src/a.rs:1 -> src/grid/gpu/mod.rs"]);
    }

    #[test]
    fn super_in_mod_rs_and_in_a_leaf_file() {
        let t = tree_of(&[
            ("src/lib.rs", ""),
            ("src/q.rs", ""),
            // In mod.rs, the module is the directory: super is the crate root.
            ("src/p/mod.rs", "mod leaf;\nmod sib;\nuse super::q::T;\n"),
            // In a leaf file, super is the directory's module (p/mod.rs).
            (
                "src/p/leaf.rs",
                "use super::U;\nuse super::sib::V;\nuse self::inner::X;\n",
            ),
            ("src/p/sib.rs", ""),
            // foo.rs with a foo/ directory: super from the child is foo.rs.
            ("src/r.rs", "mod child;\n"),
            (
                "src/r/child.rs",
                "use super::W;\nfn f() { super::super::q::g(); }\n",
            ),
        ]);
        assert_eq!(
            edges(&t),
            [
                "src/p/leaf.rs:1 -> src/p/mod.rs",
                "src/p/leaf.rs:2 -> src/p/sib.rs",
                "src/p/mod.rs:3 -> src/q.rs",
                "src/r/child.rs:1 -> src/r.rs",
                "src/r/child.rs:2 -> src/q.rs",
            ]
        );
    }

    #[test]
    fn comments_and_strings_ignored() {
        let src = r####"//! See [`crate::b::X`].
/// Uses crate::b::Y.
// use crate::b::Z;
/* crate::b::Q
   use crate::b::R; */
fn f<'a>(s: &'a str) -> char {
    let t = "use crate::b::S; \" crate::b::T";
    let u = r#"crate::b::U "quoted" "#;
    let q = '"'; let e = '\''; crate::c::real();
    q
}
"####;
        let t = tree_of(&[
            ("src/lib.rs", ""),
            ("src/a.rs", src),
            ("src/b.rs", ""),
            ("src/c.rs", ""),
        ]);
        assert_eq!(edges(&t), ["src/a.rs:9 -> src/c.rs"]);
    }

    #[test]
    fn line_numbers_survive_multi_line_strings_and_comments() {
        let src = "const S: &str = \"a\nb\\\nc\";\n/* x\ny */\nuse crate::b::B;\n";
        let t = tree_of(&[("src/lib.rs", ""), ("src/a.rs", src), ("src/b.rs", "")]);
        assert_eq!(edges(&t), ["src/a.rs:6 -> src/b.rs"]);
    }

    #[test]
    fn three_file_cycle_is_reported_with_lines() {
        let t = tree_of(&[
            (
                "src/lib.rs",
                "pub mod a;\npub mod b;\npub mod c;\npub mod d;\n",
            ),
            ("src/a.rs", "use crate::b::B;\n"),
            ("src/b.rs", "\nfn f() { crate::c::g() }\n"),
            ("src/c.rs", "use crate::{d::D, a::{self}};\n"),
            ("src/d.rs", ""),
        ]);
        let sccs = t.cycles();
        assert_eq!(sccs.len(), 1);
        let names: Vec<&str> = sccs[0].iter().map(|&f| t.files[f].rel.as_str()).collect();
        assert_eq!(names, ["src/a.rs", "src/b.rs", "src/c.rs"]);
        let report = t.cycle_report(&sccs);
        assert!(report.contains("src/a.rs:1  use crate::b::B"), "{report}");
        assert!(report.contains("src/b.rs:2  crate::c::g"), "{report}");
        assert!(report.contains("src/c.rs:1  use crate::a"), "{report}");
        assert!(!report.contains("src/d.rs"), "{report}");
        assert!(
            report.contains("a shortest loop: src/a.rs -> src/b.rs -> src/c.rs -> src/a.rs"),
            "{report}"
        );
    }

    #[test]
    fn facade_re_export_not_counted() {
        let t = tree_of(&[
            ("src/lib.rs", "pub mod o;\npub use crate::o::inner::Thing;\n"),
            (
                "src/o/mod.rs",
                "mod inner;\npub mod other;\npub use self::inner::Thing;\npub(crate) use crate::o::other::T2;\npub use other::T3;\n",
            ),
            ("src/o/inner.rs", "use super::Helper;\n"),
            ("src/o/other.rs", "use super::Helper;\n"),
        ]);
        assert_eq!(t.facades, 4);
        assert!(t.cycles().is_empty(), "{}", t.cycle_report(&t.cycles()));
        // A plain `use` of a child is a real edge and closes the loop.
        let t = tree_of(&[
            ("src/lib.rs", ""),
            ("src/o/mod.rs", "mod inner;\nuse self::inner::Thing;\n"),
            ("src/o/inner.rs", "use super::Helper;\n"),
        ]);
        assert_eq!(t.cycles().len(), 1);
        // Re-exporting something outside the module is not a facade.
        let t = tree_of(&[
            ("src/lib.rs", ""),
            ("src/o/mod.rs", "pub use crate::z::Z;\n"),
            ("src/z.rs", "use crate::o::O;\n"),
        ]);
        assert_eq!(t.cycles().len(), 1);
    }

    #[test]
    fn bare_paths_into_child_modules_count() {
        let t = tree_of(&[
            ("src/lib.rs", ""),
            (
                "src/p.rs",
                "mod w;\nuse w::X;\nfn f() { w::run(); png::Encoder::new(); }\n",
            ),
            ("src/p/w.rs", "fn g() { png::Encoder::new(); }\n"),
        ]);
        assert_eq!(
            edges(&t),
            ["src/p.rs:2 -> src/p/w.rs", "src/p.rs:3 -> src/p/w.rs"]
        );
    }

    #[test]
    fn test_code_and_self_edges_ignored() {
        let t = tree_of(&[
            ("src/lib.rs", ""),
            (
                "src/a.rs",
                "fn f() { crate::a::tests::helper(); }\nmod inner { use super::f; }\n#[cfg(test)]\nmod tests {\n    use crate::b::B;\n}\n",
            ),
            ("src/b.rs", "fn g() { crate::a::tests::helper(); }\n"),
            ("src/s/mod.rs", "pub fn f() {}\n#[cfg(test)]\nmod tests;\n"),
            ("src/s/tests.rs", "use crate::b::B;\nuse super::*;\n"),
        ]);
        assert_eq!(edges(&t), ["src/b.rs:1 -> src/a.rs"]);
        let a = t.files.iter().find(|f| f.rel == "src/a.rs").unwrap();
        assert_eq!((a.code_lines, a.lines), (2, 6));
        let tests = t.files.iter().find(|f| f.rel == "src/s/tests.rs").unwrap();
        assert!(tests.test_only);
        assert_eq!(tests.code_lines, 0);
    }

    #[test]
    fn pub_in_visibility_is_not_an_edge_but_for_in_is() {
        let t = tree_of(&[
            ("src/lib.rs", ""),
            (
                "src/a.rs",
                "pub(in crate::b) fn f() {}\nfn g() { for r in crate::b::rows() {} }\n",
            ),
            ("src/b.rs", ""),
        ]);
        assert_eq!(edges(&t), ["src/a.rs:2 -> src/b.rs"]);
    }

    #[test]
    fn layers_and_placement() {
        let t = tree_of(&[
            ("src/lib.rs", "pub mod vis;\npub use crate::grid::G;\n"),
            ("src/main.rs", "fn main() {}\n"),
            (
                "src/vis.rs",
                "use crate::grid::G;\nuse crate::constants::C;\n",
            ),
            ("src/grid/mod.rs", "use crate::vis::V;\n"),
            ("src/constants.rs", ""),
            ("src/brand_new/mod.rs", ""),
        ]);
        let bad = t.layer_violations();
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(
            bad[0].starts_with("src/vis.rs [vis, L0] imports src/grid/mod.rs [grid, L2]:"),
            "{bad:?}"
        );
        assert!(
            bad[0].contains("src/vis.rs:1  use crate::grid::G"),
            "{bad:?}"
        );
        let missing: Vec<String> = t.unplaced_modules().into_keys().collect();
        assert_eq!(missing, ["brand_new"]);
    }

    #[test]
    fn file_size_counts_only_non_test_code() {
        let long = "fn f() {}\n".repeat(3) + "#[cfg(test)]\nmod tests {}\n";
        let t = tree_of(&[("src/lib.rs", ""), ("src/a.rs", &long)]);
        assert!(t.size_violations(3).is_empty());
        assert_eq!(
            t.size_violations(2),
            ["src/a.rs: 3 lines of non-test code (5 in the file), limit 2"]
        );
    }

    #[test]
    fn paths_of_one_line_are_merged() {
        assert_eq!(
            merge_paths(&["use crate::grid::GridMode", "use crate::grid::Real"]),
            "use crate::grid::{GridMode, Real}"
        );
        assert_eq!(merge_paths(&["crate::a::f"]), "crate::a::f");
    }

    #[test]
    fn banned_allow_found_in_code_only() {
        let src = "// #[allow(clippy::too_many_arguments)]\nconst S: &str = \"#[allow(clippy::too_many_arguments)]\";\n#[allow(clippy::too_many_arguments)]\nfn f() {}\n#[cfg_attr(feature = \"x\", expect(\n    clippy::too_many_arguments))]\nfn g() {}\n#[deny(clippy::too_many_arguments)]\nfn h() {}\n";
        assert_eq!(banned_allows(src), [3, 6]);
    }

    #[test]
    fn doc_layer_lines() {
        let doc = "Text: not a layer.\n\n  | L1 maths        : kernel, dft |\n  L0 leaves/data : vis,\n  L2 is a sentence: with words in it\n";
        let got = doc_layers(doc);
        assert_eq!(got.len(), 1, "{got:?}");
        assert_eq!(got[&1].iter().collect::<Vec<_>>(), ["dft", "kernel"]);
    }
}
