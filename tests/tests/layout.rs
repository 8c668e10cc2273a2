//! The layout keeps its promise: inside each crate, imports between source files run one way.
//!
//! Every `crate::…`, `super::…` and `self::…` path in a file (in `use` trees and inline alike) is
//! resolved to the deepest module that has a file of its own, giving one arrow per pair of files.
//! A circle among those arrows means two parts each need the other, and neither can be read,
//! tested or replaced alone. A parent's `mod` declarations are not arrows; its re-exports are
//! (a `pub use child::X` is an arrow to the child, so a child that imports its parent back shows
//! up as the circle it is).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The module path of every source file under `src`: `[]` for lib.rs/main.rs, `["a", "b"]` for
/// a/b.rs or a/b/mod.rs.
fn modules(src: &Path) -> BTreeMap<Vec<String>, PathBuf> {
    let mut out = BTreeMap::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|x| x != "rs") {
                continue;
            }
            let rel = path.strip_prefix(src).unwrap();
            let mut parts: Vec<String> =
                rel.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_string()).collect();
            if parts.last().is_some_and(|p| p == "mod" || p == "lib" || p == "main") {
                parts.pop();
            }
            // main.rs is the binary's root, not the library's: a crate of its own.
            if rel == Path::new("main.rs") {
                continue;
            }
            out.insert(parts, path);
        }
    }
    out
}

/// The text of a file with comments and string literals blanked, so that paths in prose or in
/// messages are not taken for imports.
fn code_only(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '/' if chars.peek() == Some(&'/') => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        out.push('\n');
                        break;
                    }
                }
            }
            '"' => {
                let mut escaped = false;
                for c in chars.by_ref() {
                    if !escaped && c == '"' {
                        break;
                    }
                    escaped = !escaped && c == '\\';
                }
                out.push_str("\"\"");
            }
            // A char literal like '"' would open a string: skip 'x' and '\x'.
            '\'' => {
                let mut look = chars.clone();
                match (look.next(), look.next(), look.next()) {
                    (Some('\\'), Some(_), Some('\'')) => {
                        chars.nth(2);
                    }
                    (Some(_), Some('\''), _) => {
                        chars.nth(1);
                    }
                    _ => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// Every path a file names, expanded from `use` trees: `crate::a::{b, c::d}` gives
/// `crate::a::b` and `crate::a::c::d`.
/// A path may also start at a child module of the file's own (`use app::App;`, `app::serve(..)`):
/// `children` names them, and such a path is taken as `self::…`.
fn paths(code: &str, children: &BTreeSet<String>) -> Vec<Vec<String>> {
    let tokens = tokenize(code);
    let mut out = Vec::new();
    let mut i = 0;
    while i < tokens.len() {
        let starts_path = tokens.get(i + 1).is_some_and(|t| t == "::") && (i == 0 || tokens[i - 1] != "::");
        let t = tokens[i].as_str();
        if starts_path && matches!(t, "crate" | "super" | "self") {
            let (mut found, next) = tree(&tokens, i, Vec::new());
            out.append(&mut found);
            i = next.max(i + 1);
        } else if starts_path && children.contains(t) {
            let (mut found, next) = tree(&tokens, i, vec!["self".to_string()]);
            out.append(&mut found);
            i = next.max(i + 1);
        } else {
            i += 1;
        }
    }
    out
}

fn tokenize(code: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    let mut chars = code.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_alphanumeric() || c == '_' {
            let mut word = c.to_string();
            while let Some(&n) = chars.peek() {
                if n.is_alphanumeric() || n == '_' {
                    word.push(n);
                    chars.next();
                } else {
                    break;
                }
            }
            tokens.push(word);
        } else if c == ':' && chars.peek() == Some(&':') {
            chars.next();
            tokens.push("::".into());
        } else if !c.is_whitespace() {
            tokens.push(c.to_string());
        }
    }
    tokens
}

/// Parse one path (or use tree) starting at `i`, with `prefix` before it.
fn tree(tokens: &[String], mut i: usize, mut prefix: Vec<String>) -> (Vec<Vec<String>>, usize) {
    loop {
        match tokens.get(i).map(String::as_str) {
            Some("{") => {
                let mut out = Vec::new();
                i += 1;
                loop {
                    match tokens.get(i).map(String::as_str) {
                        Some("}") => return (out, i + 1),
                        Some(",") => i += 1,
                        Some(_) => {
                            let (mut found, next) = tree(tokens, i, prefix.clone());
                            out.append(&mut found);
                            i = next;
                        }
                        None => return (out, i),
                    }
                }
            }
            Some(t) if t.chars().all(|c| c.is_alphanumeric() || c == '_') => {
                prefix.push(t.to_string());
                i += 1;
                if tokens.get(i).is_some_and(|t| t == "::") {
                    i += 1;
                } else {
                    return (vec![prefix], i);
                }
            }
            _ => return (vec![prefix], i),
        }
    }
}

/// Resolve `path`, named in the file of module `at`, to the deepest module with a file.
fn resolve(at: &[String], path: &[String], mods: &BTreeMap<Vec<String>, PathBuf>) -> Vec<String> {
    let mut base: Vec<String> = Vec::new();
    let mut rest = path;
    // `self` is the module itself; `super` its parent. A file a/b.rs is module a::b, so its
    // `super` is a; a/mod.rs is module a, and its `super` is the root.
    let mut here = at.to_vec();
    match rest.first().map(String::as_str) {
        Some("crate") => rest = &rest[1..],
        Some("self") => {
            base = here.clone();
            rest = &rest[1..];
        }
        Some("super") => {
            while rest.first().is_some_and(|s| s == "super") {
                here.pop();
                rest = &rest[1..];
            }
            base = here;
        }
        _ => {}
    }
    let mut module = base.clone();
    for seg in rest {
        let mut next = module.clone();
        next.push(seg.clone());
        if mods.contains_key(&next) {
            module = next;
        } else {
            break;
        }
    }
    module
}

/// The circles among a crate's file-to-file imports, each as the files in it.
fn circles(src: &Path) -> Vec<Vec<String>> {
    let mods = modules(src);
    let mut edges: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, file) in &mods {
        let text = std::fs::read_to_string(file).unwrap();
        let code = code_only(&text);
        let children: BTreeSet<String> = mods
            .keys()
            .filter(|m| m.len() == module.len() + 1 && m.starts_with(module))
            .map(|m| m.last().unwrap().clone())
            .collect();
        for path in paths(&code, &children) {
            let target = resolve(module, &path, &mods);
            if &target != module {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }
    // Tarjan's strongly connected components; a component of more than one file is a circle.
    struct Tarjan<'a> {
        edges: &'a BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        index: BTreeMap<Vec<String>, usize>,
        low: BTreeMap<Vec<String>, usize>,
        stack: Vec<Vec<String>>,
        on_stack: BTreeSet<Vec<String>>,
        out: Vec<Vec<String>>,
    }
    impl Tarjan<'_> {
        fn visit(&mut self, v: &Vec<String>) {
            let i = self.index.len();
            self.index.insert(v.clone(), i);
            self.low.insert(v.clone(), i);
            self.stack.push(v.clone());
            self.on_stack.insert(v.clone());
            for w in self.edges.get(v).cloned().unwrap_or_default() {
                if !self.index.contains_key(&w) {
                    self.visit(&w);
                    let l = self.low[v].min(self.low[&w]);
                    self.low.insert(v.clone(), l);
                } else if self.on_stack.contains(&w) {
                    let l = self.low[v].min(self.index[&w]);
                    self.low.insert(v.clone(), l);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                loop {
                    let w = self.stack.pop().unwrap();
                    self.on_stack.remove(&w);
                    component.push(if w.is_empty() { "lib".to_string() } else { w.join("::") });
                    if &w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.out.push(component);
                }
            }
        }
    }
    let mut t = Tarjan {
        edges: &edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for m in mods.keys() {
        if !t.index.contains_key(m) {
            t.visit(m);
        }
    }
    t.out
}

fn crate_src(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(name).join("src")
}

#[test]
fn no_import_circle_in_any_crate() {
    for name in ["sim", "model", "scenarios"] {
        let found = circles(&crate_src(name));
        assert!(found.is_empty(), "{name}/src has import circles (files that import each other): {found:?}");
    }
}

/// The checker itself: a circle it was not told about is found, and a one-way chain is not.
#[test]
fn the_circle_finder_finds_a_circle_and_passes_a_chain() {
    let dir = std::env::temp_dir().join(format!("tiersim-layout-{}", std::process::id()));
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("a")).unwrap();
    std::fs::write(src.join("lib.rs"), "pub mod a;\npub mod c;\n").unwrap();
    std::fs::write(src.join("a/mod.rs"), "pub mod b;\n// use crate::c::X; in a comment\n").unwrap();
    // b imports c through a use tree; c names b inline: a circle of two files.
    std::fs::write(src.join("a/b.rs"), "use crate::{c::{self, X}};\npub struct Y;\n").unwrap();
    std::fs::write(src.join("c.rs"), "pub struct X;\nfn f() -> crate::a::b::Y { todo!() }\n").unwrap();
    assert_eq!(circles(&src), vec![vec!["a::b".to_string(), "c".to_string()]]);
    // Break it: c no longer names b (a string mentioning it does not count).
    std::fs::write(src.join("c.rs"), "pub struct X;\nconst S: &str = \"crate::a::b::Y\";\n").unwrap();
    assert!(circles(&src).is_empty());
    // A child that imports its parent's re-export of itself is a circle too.
    std::fs::write(src.join("a/mod.rs"), "pub mod b;\npub use b::Y;\npub struct Z;\n").unwrap();
    std::fs::write(src.join("a/b.rs"), "use super::Z;\npub struct Y;\n").unwrap();
    assert_eq!(circles(&src), vec![vec!["a".to_string(), "a::b".to_string()]]);
    std::fs::remove_dir_all(&dir).unwrap();
}
