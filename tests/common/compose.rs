//! Reading docker-compose.yml without Docker: services, their bind mounts and secrets, the ports
//! they expose, and the container's view of the repository's files.

use serde_yaml::Value;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// A YAML file of the repository, parsed; panics naming the file.
pub fn load_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path.display()))
}

/// A file or directory of the host that appears inside a container.
#[derive(Debug, Clone)]
pub struct Mount {
    /// Absolute host path.
    pub host: PathBuf,
    /// Absolute path inside the container.
    pub container: String,
    pub read_only: bool,
    /// `bind` or `secret`.
    pub kind: &'static str,
}

/// docker-compose.yml of the repository.
pub struct Compose {
    pub doc: Value,
    root: PathBuf,
}

/// One service of the compose file.
pub struct Service<'a> {
    pub name: String,
    pub def: &'a Value,
    compose: &'a Compose,
}

impl Compose {
    pub fn load() -> Self {
        let root = super::repo_root();
        Self { doc: load_yaml(&root.join("docker-compose.yml")), root }
    }

    pub fn services(&self) -> Vec<Service<'_>> {
        let services = self.doc["services"].as_mapping().expect("docker-compose.yml: `services` is a mapping");
        services
            .iter()
            .map(|(k, v)| Service { name: k.as_str().expect("service name").to_string(), def: v, compose: self })
            .collect()
    }

    pub fn service(&self, name: &str) -> Service<'_> {
        self.services()
            .into_iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("docker-compose.yml has no service `{name}`"))
    }

    pub fn has_service(&self, name: &str) -> bool {
        self.services().iter().any(|s| s.name == name)
    }

    /// A host path as compose resolves it: relative to the compose file's directory.
    fn host_path(&self, p: &str) -> PathBuf {
        self.root.join(p.trim_start_matches("./"))
    }
}

/// Strings of a scalar or a list (compose accepts both for `command`, `expose`, `test`...).
pub fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Sequence(items) => items.iter().filter_map(scalar).collect(),
        other => scalar(other).into_iter().collect(),
    }
}

/// A scalar as text (numbers included).
pub fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// `(host, port)` of `host:port`, `scheme://host:port/path` or `[::]:port`.
pub fn host_port(s: &str) -> Option<(String, u16)> {
    let rest = s.split_once("://").map_or(s, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    Some((host.trim_matches(|c| c == '[' || c == ']').to_string(), port.parse().ok()?))
}

impl Service<'_> {
    /// The ports its processes listen on, as declared by `expose`.
    pub fn exposed(&self) -> BTreeSet<u16> {
        strings(&self.def["expose"])
            .iter()
            .map(|p| p.parse().unwrap_or_else(|_| panic!("service {}: expose `{p}` is not a port", self.name)))
            .collect()
    }

    /// Bind mounts (named volumes left out) and secrets, as the container sees them.
    pub fn mounts(&self) -> Vec<Mount> {
        let mut out = Vec::new();
        for v in self.def["volumes"].as_sequence().into_iter().flatten() {
            let (source, target, read_only) = match v {
                Value::String(s) => {
                    let parts: Vec<&str> = s.split(':').collect();
                    let ro = parts.get(2).is_some_and(|m| m.split(',').any(|o| o == "ro"));
                    (parts[0].to_string(), parts.get(1).copied().unwrap_or(parts[0]).to_string(), ro)
                }
                long => {
                    if long["type"].as_str() != Some("bind") {
                        continue;
                    }
                    let field = |k: &str| long[k].as_str().unwrap_or_default().to_string();
                    (field("source"), field("target"), long["read_only"].as_bool() == Some(true))
                }
            };
            // Named volumes have no path separator in their source.
            if source.starts_with('.') || source.starts_with('/') {
                let host = self.compose.host_path(&source);
                out.push(Mount { host, container: target, read_only, kind: "bind" });
            }
        }
        for s in self.def["secrets"].as_sequence().into_iter().flatten() {
            let (name, target) = match s {
                Value::String(name) => (name.clone(), name.clone()),
                long => {
                    let name = long["source"].as_str().expect("secret source").to_string();
                    (name.clone(), long["target"].as_str().map_or(name, str::to_string))
                }
            };
            let file = self.compose.doc["secrets"][name.as_str()]["file"]
                .as_str()
                .unwrap_or_else(|| panic!("service {}: secret `{name}` has no top-level `file`", self.name));
            let container = if target.starts_with('/') { target } else { format!("/run/secrets/{target}") };
            out.push(Mount { host: self.compose.host_path(file), container, read_only: true, kind: "secret" });
        }
        out
    }

    /// The host path behind a container path, through the deepest mount that covers it.
    pub fn host_file(&self, container_path: &str) -> Option<PathBuf> {
        let mounts = self.mounts();
        let covering = mounts
            .iter()
            .filter(|m| container_path == m.container || container_path.starts_with(&format!("{}/", m.container)));
        let m = covering.max_by_key(|m| m.container.len())?;
        let rest = container_path[m.container.len()..].trim_start_matches('/');
        Some(if rest.is_empty() { m.host.clone() } else { m.host.join(rest) })
    }

    /// The value of `--flag=value` or `--flag value` in `command`.
    pub fn flag(&self, flag: &str) -> Option<String> {
        let args = strings(&self.def["command"]);
        let prefix = format!("{flag}=");
        args.iter().enumerate().find_map(|(i, a)| {
            a.strip_prefix(&prefix).map(str::to_string).or_else(|| (a == flag).then(|| args.get(i + 1).cloned())?)
        })
    }

    /// An environment variable set in the compose file (mapping or `KEY=value` list).
    pub fn env(&self, key: &str) -> Option<String> {
        match &self.def["environment"] {
            Value::Mapping(m) => m.get(key).and_then(scalar),
            Value::Sequence(items) => items
                .iter()
                .filter_map(Value::as_str)
                .find_map(|kv| kv.split_once('=').filter(|(k, _)| *k == key).map(|(_, v)| v.to_string())),
            _ => None,
        }
    }

    /// Copy every mounted file and directory to where the container sees it, under `dir`.
    pub fn lay_out(&self, dir: &Path) {
        for m in self.mounts() {
            let to = dir.join(m.container.trim_start_matches('/'));
            copy_tree(&m.host, &to);
        }
    }
}

/// Copy a file, or a directory recursively.
pub fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
    }
}

/// Files of `dir` that a `*`-glob on names (`*.yml`, `clinical*.yml`) matches.
pub fn glob_names(dir: &Path, pattern: &str) -> Vec<PathBuf> {
    let (prefix, suffix) = pattern.split_once('*').unwrap_or((pattern, ""));
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut found: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            p.is_file()
                && name.starts_with(prefix)
                && name.ends_with(suffix)
                && name.len() >= prefix.len() + suffix.len()
        })
        .collect();
    found.sort();
    found
}
