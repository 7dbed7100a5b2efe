//! `netsketch run --config FILE`: appliance mode. The file names one input
//! (`[[source]]` of kind `collect`, `capture` or `file`; several `collect`
//! sources become one collector listening on all their addresses), the
//! endpoint (`[serve]`, 127.0.0.1:9464 unless told), pipeline options
//! (`[engine]`, the command line's names), detection (`[detect]`) and alert
//! outputs (`[output]`). Every table is checked against its schema first
//! (serde, unknown keys refused): an error names the file, the line and the
//! key, before anything runs. The file is then turned into the equivalent
//! command line and parsed by the same clap definitions, so every value is
//! checked exactly as on the command line (`--dry-run` prints it, after
//! both checks).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;
use serde::Serialize;

use crate::alerts::{load_config, ConfigFile};
use crate::args::cli::{Cli, RunArgs};
use crate::args::config::{OneOrMany, SourceKind};
use crate::exit::usage;

/// A section as a table of command-line options.
fn table_of(section: &impl Serialize) -> Result<toml::Table> {
    Ok(toml::Table::try_from(section)?)
}

/// `key = value` as command-line flags: `--key value`, once per element
/// of a list, `--key` alone for `true`.
fn flags(table: &toml::Table, argv: &mut Vec<String>) -> Result<()> {
    for (k, v) in table {
        let flag = format!("--{}", k.replace('_', "-"));
        match v {
            toml::Value::Boolean(true) => argv.push(flag),
            toml::Value::Boolean(false) => {}
            toml::Value::Array(items) => {
                for i in items {
                    argv.push(flag.clone());
                    argv.push(scalar(k, i)?);
                }
            }
            other => {
                argv.push(flag);
                argv.push(scalar(k, other)?);
            }
        }
    }
    Ok(())
}

fn scalar(key: &str, v: &toml::Value) -> Result<String> {
    Ok(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => bail!("`{key}`: expected a string, number or boolean"),
    })
}

/// Several `kind = "collect"` sources are one collector: their lists
/// (`listen`, `allow`) join, and a collector-wide value (`threads`,
/// `recv_buffer`, ...) must be the same in every one of them, since the
/// collector has one (a per-source `threads = 2` must not silently become
/// every address's).
fn collect_table(cfg: &ConfigFile, path: &Path) -> Result<toml::Table> {
    let tables = cfg
        .source
        .iter()
        .map(table_of)
        .collect::<Result<Vec<_>>>()?;
    let mut out = toml::Table::new();
    for (i, t) in tables.iter().enumerate() {
        for (k, v) in t {
            if matches!(k.as_str(), "listen" | "allow") {
                let items = match v {
                    toml::Value::Array(items) => items.clone(),
                    one => vec![one.clone()],
                };
                match out.get_mut(k) {
                    Some(toml::Value::Array(all)) => all.extend(items),
                    _ => {
                        out.insert(k.clone(), toml::Value::Array(items));
                    }
                }
                continue;
            }
            let differs = tables.iter().position(|o| o.get(k) != Some(v));
            if let Some(j) = differs {
                let what = match tables[j].get(k) {
                    Some(o) => format!("{k} = {o} there"),
                    None => format!("no {k} there"),
                };
                bail!(
                    "{}:{}: `{k} = {v}` applies to the whole collector (every listen address), \
                     but the [[source]] at line {} has {what}: give the same {k} in every \
                     kind = \"collect\" source, or list all the addresses in one",
                    path.display(),
                    cfg.source_lines[i],
                    cfg.source_lines[j]
                );
            }
            out.insert(k.clone(), v.clone());
        }
    }
    Ok(out)
}

/// The command line the configuration amounts to.
pub fn argv_of(cfg: &ConfigFile, path: &Path) -> Result<Vec<String>> {
    let at = |i: usize| format!("{}:{}", path.display(), cfg.source_lines[i]);
    let Some(first) = cfg.source.first() else {
        bail!(
            "{}: no [[source]]; give one with kind = \"collect\", \"capture\" or \"file\"",
            path.display()
        );
    };
    let kind = first.kind;
    if cfg.source.iter().any(|s| s.kind != kind)
        || (kind != SourceKind::Collect && cfg.source.len() > 1)
    {
        let kinds: Vec<SourceKind> = cfg.source.iter().map(|s| s.kind).collect();
        bail!(
            "{}: one input per instance: several kind = \"collect\" sources (they share one \
             collector), or one capture, or one file source; found {kinds:?}. Run one netsketch per \
             interface.",
            at(1.min(cfg.source.len() - 1))
        );
    }
    for (i, s) in cfg.source.iter().enumerate() {
        if let Some(k) = s.foreign_keys().first() {
            // The key's own line: the first `k =` from the table's start.
            let from = cfg.source_lines[i];
            let line = cfg
                .text
                .lines()
                .enumerate()
                .skip(from - 1)
                .find(|(_, l)| {
                    l.trim_start()
                        .strip_prefix(k)
                        .is_some_and(|r| r.trim_start().starts_with('='))
                })
                .map_or(from, |(n, _)| n + 1);
            bail!(
                "{}:{line}: [[source]] of kind {:?} takes no `{k}`",
                path.display(),
                format!("{:?}", s.kind).to_lowercase()
            );
        }
    }
    let mut argv = vec!["netsketch".to_string()];
    match kind {
        SourceKind::Collect => {
            argv.push("collect".into());
            flags(&collect_table(cfg, path)?, &mut argv)?;
        }
        SourceKind::Capture => {
            argv.push("capture".into());
            flags(&table_of(first)?, &mut argv)?;
        }
        SourceKind::File => {
            argv.push("replay".into());
            let files = match &first.files {
                Some(OneOrMany::One(f)) => vec![f.clone()],
                Some(OneOrMany::Many(f)) => f.clone(),
                None => vec![],
            };
            if files.is_empty() {
                bail!("{}: a file source needs files = [...]", at(0));
            }
            argv.extend(files);
            flags(&table_of(first)?, &mut argv)?;
        }
    }
    argv.push("--json".into());
    argv.push("--serve".into());
    argv.push(
        cfg.serve
            .listen
            .clone()
            .unwrap_or_else(|| "127.0.0.1:9464".to_string()),
    );
    flags(&table_of(&cfg.serve)?, &mut argv)?;
    flags(&table_of(&cfg.engine)?, &mut argv)?;
    flags(&table_of(&cfg.output)?, &mut argv)?;
    if let Some(k) = &cfg.output.kafka {
        let brokers = match &k.brokers {
            Some(OneOrMany::One(b)) => b.clone(),
            Some(OneOrMany::Many(b)) => b.join(","),
            None => bail!(
                "{}: [output.kafka] needs brokers = \"HOST:PORT\" (or a list)",
                path.display()
            ),
        };
        argv.push("--kafka".into());
        argv.push(brokers);
        flags(&table_of(k)?, &mut argv)?;
    }
    argv.push("--config".into());
    argv.push(path.display().to_string());
    Ok(argv)
}

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let cfg = load_config(&args.config)?;
    let argv = argv_of(&cfg, &args.config).map_err(usage)?;
    // The same clap definitions check the values, --dry-run included.
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => {
            return Err(usage(format!(
                "{}: {}",
                args.config.display(),
                e.to_string()
                    .lines()
                    .next()
                    .unwrap_or("invalid option")
                    .trim_start_matches("error: ")
            )))
        }
    };
    if args.dry_run {
        // The engine options too, as the run would check them first.
        let engine = match &cli.command {
            crate::args::cli::Command::Replay(a) => Some((&a.run.engine, &a.run.detect)),
            crate::args::cli::Command::Collect(a) => Some((&a.session.engine, &a.session.detect)),
            crate::args::cli::Command::Capture(a) => Some((&a.session.engine, &a.session.detect)),
            _ => None,
        };
        if let Some((e, d)) = engine {
            e.engine(!d.no_detect)
                .map_err(|e| usage(format!("{}: {e:#}", args.config.display())))?;
        }
        crate::render::println(argv.join(" "));
        let mut outcome = crate::exit::Outcome::default();
        crate::render::check_stdout(&mut outcome);
        return Ok(outcome.code());
    }
    crate::dispatch(cli.command)
}
