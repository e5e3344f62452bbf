//! The architecture, checked: the top-level modules of `src/` import each other without a
//! cycle, and nothing the sidecar or the exporter serves with depends on the lab (the
//! evaluation, the simulator's training) — the lab depends on them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Each source file's top-level module and its non-test code, comments left out.
fn sources() -> Vec<(String, std::path::PathBuf, String)> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let rel = path.strip_prefix(&src).unwrap();
            let top =
                rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
            if top == "lib" || top == "bin" || rel.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap_or_default();
            let code: String =
                code.lines().filter(|l| !l.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n");
            files.push((top, rel.to_path_buf(), code));
        }
    }
    files
}

/// Top-level module → the top-level modules its non-test code names as `crate::<module>`.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (top, _, code) in sources() {
        let to = edges.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if name != top && !name.is_empty() {
                to.insert(name);
            }
        }
    }
    edges
}

/// Every module `from` reaches through imports.
fn reach(edges: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut todo: Vec<&str> = edges.get(from).into_iter().flatten().map(String::as_str).collect();
    while let Some(m) = todo.pop() {
        if seen.insert(m.to_string()) {
            todo.extend(edges.get(m).into_iter().flatten().map(String::as_str));
        }
    }
    seen
}

#[test]
fn top_level_modules_import_each_other_without_a_cycle() {
    let edges = imports();
    assert!(edges.len() > 10, "the scan found the modules: {edges:?}");
    for module in edges.keys() {
        let reached = reach(&edges, module);
        assert!(!reached.contains(module), "{module} imports itself back through {:?}", edges[module]);
    }
}

#[test]
fn what_the_binaries_serve_with_does_not_depend_on_the_lab() {
    let edges = imports();
    let lab = ["eval", "tools"];
    for served in ["sidecar", "rescore", "notify", "alert", "monitor", "ml", "exporter", "replay", "sim"] {
        let reached = reach(&edges, served);
        for l in lab {
            assert!(!reached.contains(l), "{served} depends on the lab's {l}: {:?}", edges[served]);
        }
    }
    for core in ["rescore", "alert", "monitor", "ml", "clinical"] {
        let reached = reach(&edges, core);
        for adapter in ["sidecar", "notify", "exporter", "sim", "prometheus"] {
            assert!(!reached.contains(adapter), "{core} depends on {adapter}: {:?}", edges[core]);
        }
    }
    assert!(reach(&edges, "eval").contains("rescore"), "the lab measures the rescoring");
}

/// The pure core reads no file and opens no socket: its callers hand it text, bytes or a trait.
#[test]
fn the_core_does_no_file_or_network_io() {
    let io = [
        "std::fs",
        "tokio::fs",
        "fs::File",
        "File::open",
        "File::create",
        "std::net",
        "tokio::net",
        "reqwest",
        "hyper",
        "lettre",
    ];
    let core = ["rescore", "alert", "monitor", "ml", "clinical"];
    let mut checked = 0;
    for (top, path, code) in sources() {
        if !core.contains(&top.as_str()) {
            continue;
        }
        checked += 1;
        for name in io {
            assert!(!code.contains(name), "{} (core) uses {name}", path.display());
        }
    }
    assert!(checked > 20, "the scan found the core's files: {checked}");
}
