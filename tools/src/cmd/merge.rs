//! `netsketch merge`: one answer from several appliances' sketches.
//!
//! Reads `replay --export-sketches` snapshots (Apache DataSketches bytes:
//! `*.hll` distinct counts, `*.fi` frequent items), merges each sketch with
//! the same name across the inputs, and prints the merged distinct counts
//! and top-k with bounds. HLLs merge register by register, so the union of
//! disjoint parts of a stream estimates exactly what one run over the whole
//! stream estimates; frequent items add weights and offsets (see
//! `FrequentItems::merge`), so every truth stays inside its bounds.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, Result};
use serde_json::{json, Map, Value};
use sketches::datasketches::{hll_from_bytes, FrequentItems};
use sketches::HyperLogLog;

use crate::args::cli::MergeArgs;
use crate::render::{self, estimate_json, thousands};

/// The sketches of every input, merged by name (file stem).
#[derive(Debug, Default)]
struct Merged {
    hll: BTreeMap<String, (HyperLogLog, usize)>,
    fi: BTreeMap<String, (FrequentItems, usize)>,
    inputs: usize,
}

impl Merged {
    fn add_file(&mut self, path: &Path) -> Result<()> {
        let (Some(stem), Some(ext)) = (
            path.file_stem().and_then(|s| s.to_str()),
            path.extension().and_then(|s| s.to_str()),
        ) else {
            return Err(not_a_sketch(path));
        };
        let read =
            || std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
        match ext {
            "hll" => {
                let h = hll_from_bytes(&read()?)
                    .with_context(|| format!("{}: not a DataSketches HLL", path.display()))?;
                match self.hll.get_mut(stem) {
                    Some((acc, n)) => {
                        acc.merge(&h).map_err(|e| {
                            crate::exit::usage(format!(
                                "{}: {e}; merge snapshots taken with the same --memory \
                                 (the HLL precision follows it)",
                                path.display()
                            ))
                        })?;
                        *n += 1;
                    }
                    None => {
                        self.hll.insert(stem.to_string(), (h, 1));
                    }
                }
            }
            "fi" => {
                let f = FrequentItems::from_bytes(&read()?).with_context(|| {
                    format!("{}: not DataSketches frequent items", path.display())
                })?;
                match self.fi.get_mut(stem) {
                    Some((acc, n)) => {
                        acc.merge(&f);
                        *n += 1;
                    }
                    None => {
                        self.fi.insert(stem.to_string(), (f, 1));
                    }
                }
            }
            _ => return Err(not_a_sketch(path)),
        }
        Ok(())
    }

    /// A file, or every `*.hll` and `*.fi` in a directory (one snapshot).
    fn add(&mut self, path: &Path) -> Result<()> {
        if path.is_dir() {
            let mut files: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot read {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| matches!(p.extension().and_then(|s| s.to_str()), Some("hll" | "fi")))
                .collect();
            if files.is_empty() {
                return Err(crate::exit::usage(format!(
                    "{} holds no .hll or .fi sketch; give directories written by \
                     `netsketch replay --export-sketches DIR`",
                    path.display()
                )));
            }
            files.sort();
            for f in &files {
                self.add_file(f)?;
            }
        } else {
            self.add_file(path)?;
        }
        self.inputs += 1;
        Ok(())
    }
}

fn not_a_sketch(path: &Path) -> anyhow::Error {
    crate::exit::usage(format!(
        "{}: not a sketch file (NAME.hll or NAME.fi from --export-sketches) or a directory",
        path.display()
    ))
}

/// `distinct_src` -> `src`; `top_dst_bytes` -> (`dst`, `bytes`).
fn distinct_name(stem: &str) -> &str {
    stem.strip_prefix("distinct_").unwrap_or(stem)
}

fn top_name(stem: &str) -> (&str, &str) {
    let s = stem.strip_prefix("top_").unwrap_or(stem);
    s.rsplit_once('_').unwrap_or((s, "value"))
}

pub fn run(args: &MergeArgs) -> Result<ExitCode> {
    let mut m = Merged::default();
    for p in &args.inputs {
        m.add(p)?;
    }
    let k = args.top;
    if args.json {
        let mut distinct = Map::new();
        for (stem, (h, n)) in &m.hll {
            let mut e = estimate_json(&h.estimate());
            e["inputs"] = json!(n);
            distinct.insert(distinct_name(stem).to_string(), e);
        }
        let mut top: Map<String, Value> = Map::new();
        for (stem, (f, n)) in &m.fi {
            let (dim, metric) = top_name(stem);
            let items: Vec<Value> = f
                .top(k)
                .into_iter()
                .map(|(key, v, lo, hi)| json!({"key": key, "value": v, "lower": lo, "upper": hi}))
                .collect();
            let d = top.entry(dim.to_string()).or_insert_with(|| json!({}));
            d[metric] = Value::Array(items);
            d[format!("{metric}_total")] = json!(f.total);
            d[format!("{metric}_offset")] = json!(f.offset);
            d[format!("{metric}_inputs")] = json!(n);
        }
        render::println(json!({
            "type": "merge",
            "inputs": m.inputs,
            "distinct": distinct,
            "top": top,
        }));
    } else {
        let mut out = format!("netsketch merge: {} snapshot(s)\n", m.inputs);
        for (stem, (h, n)) in &m.hll {
            let e = h.estimate();
            out.push_str(&format!(
                "  distinct {:<14} {} [{}, {}] at {:.1}% ({n} input(s))\n",
                distinct_name(stem),
                thousands(e.value.round() as u64),
                thousands(e.lower.floor() as u64),
                thousands(e.upper.ceil() as u64),
                e.confidence * 100.0
            ));
        }
        for (stem, (f, n)) in &m.fi {
            let (dim, metric) = top_name(stem);
            out.push_str(&format!(
                "  top {dim} by {metric} (estimate [lower, upper]; {n} input(s), total {}, \
                 any other key at most {}):\n",
                thousands(f.total),
                thousands(f.offset)
            ));
            for (key, v, lo, hi) in f.top(k) {
                out.push_str(&format!(
                    "    {:<42} {:>15} [{}, {}]\n",
                    key,
                    thousands(v),
                    thousands(lo),
                    thousands(hi)
                ));
            }
        }
        render::print(&out);
    }
    let mut outcome = crate::exit::Outcome::default();
    render::check_stdout(&mut outcome);
    Ok(outcome.code())
}
