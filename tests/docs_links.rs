//! Every relative link in the README and `docs/` leads somewhere: the file exists and, when the
//! link names a section, the section is there (GitHub's heading anchors). The manual is split
//! over several pages, and a moved section must not leave a dead link behind.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// GitHub's anchor of a heading: lower case, punctuation other than `-` and `_` dropped, spaces
/// as `-`.
fn anchor(heading: &str) -> String {
    let text = heading.trim_start_matches('#').trim().to_lowercase();
    text.chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(anchor(line));
        }
    }
    out
}

/// The targets of `[text](target)` links in `text`.
fn links(text: &str) -> Vec<String> {
    let re = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    re.captures_iter(text).map(|c| c[1].to_owned()).collect()
}

fn pages(root: &Path) -> Vec<PathBuf> {
    let mut out = vec![root.join("README.md")];
    for entry in std::fs::read_dir(root.join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            out.push(path);
        }
    }
    out
}

#[test]
fn the_anchor_of_a_heading_is_githubs() {
    assert_eq!(anchor("#### By event: what a clinician counts"), "by-event-what-a-clinician-counts");
    assert_eq!(anchor("#### `routine_critical`"), "routine_critical");
    assert_eq!(anchor("## Anomaly detection on real data (NAB)"), "anomaly-detection-on-real-data-nab");
}

#[test]
fn every_relative_link_of_the_manual_resolves() {
    let root = common::repo_root();
    let mut dead = Vec::new();
    let mut checked = 0;
    for page in pages(&root) {
        let text = std::fs::read_to_string(&page).unwrap();
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, section) = link.split_once('#').unwrap_or((link.as_str(), ""));
            let target = if path.is_empty() { page.clone() } else { page.parent().unwrap().join(path) };
            if !target.exists() {
                dead.push(format!("{}: {link} (no such file)", page.display()));
                continue;
            }
            let is_page = target.extension().is_some_and(|e| e == "md");
            if !section.is_empty() && is_page && !anchors(&std::fs::read_to_string(&target).unwrap()).contains(section)
            {
                dead.push(format!("{}: {link} (no such section)", page.display()));
            }
        }
    }
    assert!(checked >= 15, "the README and docs/ link to each other: only {checked} links seen");
    assert!(dead.is_empty(), "dead links:\n{}", dead.join("\n"));
}
