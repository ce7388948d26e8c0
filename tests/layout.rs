//! The workspace's shape, checked on every test run: crates by role with dependency arrows one
//! way (core ← card, host, network ← cli), no import cycles between the modules of one crate,
//! and sizes a reader can hold (no source file over 700 lines, no function over 120).
//! Each failure names the file, the function, the crate or the cycle.
#![allow(clippy::panic, clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The longest source file under `*/src`.
const MAX_FILE_LINES: usize = 700;
/// The longest function.
const MAX_FN_LINES: usize = 120;

/// (crate folder, the gbau crates its `[dependencies]` may name).
const ARROWS: [(&str, &[&str]); 5] = [
    ("core", &[]),
    ("card-applet-sim", &["gbau-core"]),
    ("host", &["gbau-core", "gbau-card"]),
    ("network", &["gbau-core"]),
    (
        "cli",
        &["gbau-core", "gbau-card", "gbau-host", "gbau-network"],
    ),
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

fn sources(krate: &str) -> Vec<PathBuf> {
    let mut v = Vec::new();
    rust_files(&root().join(krate).join("src"), &mut v);
    v.sort();
    assert!(!v.is_empty(), "{krate}/src has no Rust files");
    v
}

fn rel(p: &Path) -> String {
    p.strip_prefix(root()).unwrap_or(p).display().to_string()
}

#[test]
fn no_source_file_over_700_lines() {
    let mut long = Vec::new();
    for (krate, _) in ARROWS {
        for f in sources(krate) {
            let n = std::fs::read_to_string(&f).unwrap().lines().count();
            if n > MAX_FILE_LINES {
                long.push(format!("{} has {n} lines", rel(&f)));
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_FILE_LINES} lines: {}",
        long.join("; ")
    );
}

/// The functions of a file as (name, first line, length in lines). A function ends at the
/// first `}` alone on a line at the indentation of its `fn` (rustfmt's layout).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let trimmed = line.trim_start();
        let indent = &line[..line.len() - trimmed.len()];
        let mut rest = trimmed;
        for prefix in [
            "pub(crate) ",
            "pub(super) ",
            "pub ",
            "async ",
            "const ",
            "unsafe ",
        ] {
            rest = rest.strip_prefix(prefix).unwrap_or(rest);
        }
        let Some(sig) = rest.strip_prefix("fn ") else {
            continue;
        };
        let name: String = sig
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        // A declaration without a body (trait method) ends with ';' before any '{'.
        let body_start = lines[i..]
            .iter()
            .position(|l| l.contains('{') || l.trim_end().ends_with(';'));
        let Some(b) = body_start else { continue };
        if !lines[i + b].contains('{') {
            continue;
        }
        if lines[i + b].trim_end().ends_with('}') {
            continue; // one-line body
        }
        let close = format!("{indent}}}");
        if let Some(end) = lines[i + b..].iter().position(|l| *l == close) {
            out.push((name, i + 1, b + end + 1));
        }
    }
    out
}

#[test]
fn no_function_over_120_lines() {
    let mut long = Vec::new();
    for (krate, _) in ARROWS {
        for f in sources(krate) {
            let text = std::fs::read_to_string(&f).unwrap();
            for (name, line, n) in functions(&text) {
                if n > MAX_FN_LINES {
                    long.push(format!("{}:{line} fn {name} has {n} lines", rel(&f)));
                }
            }
        }
    }
    assert!(
        long.is_empty(),
        "over {MAX_FN_LINES} lines: {}",
        long.join("; ")
    );
}

#[test]
fn function_measure_counts_a_known_body() {
    let text = "fn a() {\n    x();\n}\n\n    pub fn b(\n        y: u8,\n    ) -> u8 {\n        y\n    }\nfn c();\n";
    let f = functions(text);
    assert_eq!(
        f,
        vec![("a".to_owned(), 1, 3), ("b".to_owned(), 5, 5)],
        "{f:?}"
    );
}

/// The gbau crates named in a manifest's `[dependencies]` table.
fn gbau_dependencies(manifest: &str) -> BTreeSet<String> {
    let mut in_deps = false;
    let mut deps = BTreeSet::new();
    for line in manifest.lines() {
        let t = line.trim();
        if t.starts_with('[') {
            in_deps = t == "[dependencies]";
            continue;
        }
        if in_deps && t.starts_with("gbau-") {
            let name: String = t
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-')
                .collect();
            deps.insert(name);
        }
    }
    deps
}

#[test]
fn crate_dependencies_point_one_way() {
    let mut wrong = Vec::new();
    for (krate, allowed) in ARROWS {
        let manifest = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
        for dep in gbau_dependencies(&manifest) {
            if !allowed.contains(&dep.as_str()) {
                wrong.push(format!("{krate} depends on {dep}"));
            }
        }
    }
    assert!(wrong.is_empty(), "arrows pointing up: {}", wrong.join("; "));
}

/// A module's path inside its crate ("" for the crate root) from its file.
fn module_of(src: &Path, file: &Path) -> String {
    let r = file.strip_prefix(src).unwrap().with_extension("");
    let s = r.to_string_lossy().replace('/', "::");
    match s.as_str() {
        "lib" | "main" => String::new(),
        _ => s,
    }
}

/// Expand one `use` tree (`a::{b, c::{d, e}}`) into full paths.
fn expand_use(tree: &str) -> Vec<String> {
    let tree = tree.trim();
    let Some(open) = tree.find('{') else {
        return vec![tree.split(" as ").next().unwrap_or(tree).trim().to_owned()];
    };
    let prefix = &tree[..open];
    let inner = &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())];
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in inner.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&inner[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&inner[start..]);
    parts
        .into_iter()
        .filter(|p| !p.trim().is_empty())
        .flat_map(expand_use)
        .map(|p| {
            if p == "self" {
                prefix.trim_end_matches("::").to_owned()
            } else {
                format!("{prefix}{p}")
            }
        })
        .collect()
}

/// The paths a file refers to through `crate::` or `super::`, outside its test module.
fn referenced_paths(text: &str) -> Vec<String> {
    let code: String = text
        .split("\n#[cfg(test)]")
        .next()
        .unwrap_or(text)
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n");
    let mut paths = Vec::new();
    for stmt in code.split(';') {
        let t = stmt.trim_start();
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let t = t.strip_prefix("pub(crate) ").unwrap_or(t);
        if let Some(tree) = t.strip_prefix("use ") {
            paths.extend(expand_use(tree));
        }
    }
    for anchor in ["crate::", "super::"] {
        for (i, _) in code.match_indices(anchor) {
            let before = code[..i].chars().last();
            if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let path: String = code[i..]
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':')
                .collect();
            paths.push(path);
        }
    }
    paths
        .into_iter()
        .filter(|p| p.starts_with("crate::") || p.starts_with("super::"))
        .collect()
}

/// The module a path leads to: the longest known module prefix.
fn resolve(from: &str, path: &str, modules: &BTreeSet<String>) -> Option<String> {
    let mut segs: Vec<String> = Vec::new();
    let mut rest = path;
    if let Some(r) = rest.strip_prefix("crate::") {
        rest = r;
    } else {
        segs = from.split("::").map(str::to_owned).collect();
        while let Some(r) = rest.strip_prefix("super::") {
            segs.pop();
            rest = r;
        }
    }
    segs.extend(
        rest.split("::")
            .filter(|s| !s.is_empty())
            .map(str::to_owned),
    );
    (1..=segs.len())
        .rev()
        .map(|n| segs[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// A cycle in the module graph, if any, as the modules along it.
fn find_cycle(graph: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        graph: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(m.to_owned(), 1);
        stack.push(m.to_owned());
        for next in graph.get(m).into_iter().flatten() {
            match state.get(next.as_str()) {
                Some(1) => {
                    let at = stack.iter().position(|s| s == next).unwrap_or(0);
                    let mut cycle = stack[at..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Some(_) => {}
                None => {
                    if let Some(c) = visit(next, graph, state, stack) {
                        return Some(c);
                    }
                }
            }
        }
        stack.pop();
        state.insert(m.to_owned(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for m in graph.keys() {
        if !state.contains_key(m.as_str()) {
            if let Some(c) = visit(m, graph, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

/// Module → the modules it uses, for one crate. The crate root (which declares and
/// re-exports) is left out.
fn module_graph(krate: &str) -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join(krate).join("src");
    let files = sources(krate);
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(&src, f)).collect();
    let mut graph = BTreeMap::new();
    for f in &files {
        let m = module_of(&src, f);
        if m.is_empty() {
            continue;
        }
        let text = std::fs::read_to_string(f).unwrap();
        let uses: BTreeSet<String> = referenced_paths(&text)
            .iter()
            .filter_map(|p| resolve(&m, p, &modules))
            .filter(|t| !t.is_empty() && *t != m)
            .collect();
        graph.insert(m, uses);
    }
    graph
}

#[test]
fn no_module_cycles_inside_a_crate() {
    let mut cycles = Vec::new();
    for (krate, _) in ARROWS {
        // Name every cycle: report one, cut its last edge, look again.
        let mut graph = module_graph(krate);
        while let Some(c) = find_cycle(&graph) {
            cycles.push(format!("{krate}: {}", c.join(" -> ")));
            let (from, to) = (&c[c.len() - 2], &c[c.len() - 1]);
            if let Some(edges) = graph.get_mut(from) {
                edges.remove(to);
            }
        }
    }
    assert!(cycles.is_empty(), "module cycles: {}", cycles.join("; "));
}

#[test]
fn cycle_finder_sees_a_planted_cycle() {
    let mut g = BTreeMap::new();
    g.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    g.insert("b".to_owned(), BTreeSet::from(["c".to_owned()]));
    g.insert("c".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(
        find_cycle(&g),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    g.insert("c".to_owned(), BTreeSet::new());
    assert_eq!(find_cycle(&g), None);
}

#[test]
fn use_trees_expand() {
    assert_eq!(
        expand_use("crate::a::{b, c::{d, e as f}, self}"),
        vec![
            "crate::a::b",
            "crate::a::c::d",
            "crate::a::c::e",
            "crate::a"
        ]
    );
    let mods = BTreeSet::from(["a".to_owned(), "a::b".to_owned(), "c".to_owned()]);
    assert_eq!(
        resolve("a::b", "super::super::c::X", &mods),
        Some("c".into())
    );
    assert_eq!(resolve("a::b", "super::Y", &mods), Some("a".into()));
    assert_eq!(resolve("c", "crate::a::b::Z", &mods), Some("a::b".into()));
}
