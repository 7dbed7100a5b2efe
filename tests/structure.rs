//! The structure rules ARCHITECTURE.md states, checked on the tree: a file
//! is a room for one concern (no source file over 500 lines outside tests),
//! only tools knows JSON (serde_json is not a dependency of the libraries),
//! and no two files import each other (`tests/python/import_cycles.py`).

use std::path::{Path, PathBuf};
use std::process::Command;

const MAX_LINES: usize = 500;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Every `.rs` file under `dir`, test folders left out.
fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "tests" && n != "target") {
                sources(&p, out);
            }
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn no_source_file_is_over_500_lines() {
    let mut files = Vec::new();
    for krate in [
        "capture/src",
        "sketches/src",
        "pipeline/src",
        "tools/src",
        "src",
    ] {
        sources(&root().join(krate), &mut files);
    }
    assert!(files.len() > 50, "found only {} files", files.len());
    let long: Vec<String> = files
        .iter()
        .filter_map(|p| {
            let n = std::fs::read_to_string(p).ok()?.lines().count();
            (n > MAX_LINES).then(|| format!("{} ({n} lines)", p.display()))
        })
        .collect();
    assert!(long.is_empty(), "over {MAX_LINES} lines: {long:?}");
}

#[test]
fn only_tools_depends_on_serde_json() {
    for krate in ["capture", "sketches", "pipeline"] {
        let toml = std::fs::read_to_string(root().join(krate).join("Cargo.toml")).unwrap();
        let deps = toml.split("[dev-dependencies]").next().unwrap_or_default();
        assert!(
            !deps
                .lines()
                .any(|l| l.trim_start().starts_with("serde_json")),
            "{krate} depends on serde_json: only tools knows JSON"
        );
    }
}

#[test]
#[ignore = "runs python3 (CI has it)"]
fn no_two_files_import_each_other() {
    let out = Command::new("python3")
        .arg(root().join("tests/python/import_cycles.py"))
        .arg(root())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "import circles:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
