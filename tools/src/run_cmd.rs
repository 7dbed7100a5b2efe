//! `netsketch run --config FILE`: appliance mode. The file names one input
//! (`[[source]]` of kind `collect`, `capture` or `file`; several `collect`
//! sources become one collector listening on all their addresses), the
//! endpoint (`[serve]`, 127.0.0.1:9464 unless told), pipeline options
//! (`[engine]`, the command line's names), detection (`[detect]`) and alert
//! outputs (`[output]`). It is turned into the equivalent command line and
//! parsed by the same clap definitions, so every option is checked exactly
//! as on the command line (`--dry-run` prints it).

use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Result};
use clap::Parser;

use crate::alerts::{load_config, ConfigFile};
use crate::cli::{Cli, RunArgs};

/// `key = value` as command-line flags: `--key value`, once per element
/// of a list, `--key` alone for `true`.
fn flags(table: &toml::Table, skip: &[&str], argv: &mut Vec<String>) -> Result<()> {
    for (k, v) in table {
        if skip.contains(&k.as_str()) {
            continue;
        }
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

/// The command line the configuration amounts to.
pub fn argv_of(cfg: &ConfigFile, path: &Path) -> Result<Vec<String>> {
    let kinds: Vec<&str> = cfg
        .source
        .iter()
        .map(|s| s.get("kind").and_then(|k| k.as_str()).unwrap_or(""))
        .collect();
    let Some(&kind) = kinds.first() else {
        bail!(
            "{}: no [[source]]; give one with kind = \"collect\", \"capture\" or \"file\"",
            path.display()
        );
    };
    if kinds.iter().any(|k| *k != kind) || (kind != "collect" && kinds.len() > 1) {
        bail!(
            "{}: one input per instance: several kind = \"collect\" sources (they share one \
             collector), or one capture, or one file source; found {kinds:?}. Run one netsketch per \
             interface.",
            path.display()
        );
    }
    let mut argv = vec!["netsketch".to_string()];
    match kind {
        "collect" => {
            argv.push("collect".into());
            for s in &cfg.source {
                flags(s, &["kind"], &mut argv)?;
            }
        }
        "capture" => {
            argv.push("capture".into());
            flags(&cfg.source[0], &["kind"], &mut argv)?;
        }
        "file" => {
            argv.push("replay".into());
            let s = &cfg.source[0];
            let files = s
                .get("files")
                .and_then(|f| f.as_array())
                .filter(|f| !f.is_empty())
                .ok_or_else(|| {
                    anyhow::anyhow!("{}: a file source needs files = [...]", path.display())
                })?;
            for f in files {
                argv.push(scalar("files", f)?);
            }
            flags(s, &["kind", "files"], &mut argv)?;
        }
        other => bail!(
            "{}: source kind {other:?}: use \"collect\", \"capture\" or \"file\"",
            path.display()
        ),
    }
    argv.push("--json".into());
    argv.push("--serve".into());
    let serve = cfg.serve.clone().unwrap_or_default();
    argv.push(
        serve
            .get("listen")
            .and_then(|l| l.as_str())
            .unwrap_or("127.0.0.1:9464")
            .to_string(),
    );
    flags(&serve, &["listen"], &mut argv)?;
    flags(&cfg.engine, &[], &mut argv)?;
    flags(&cfg.output, &[], &mut argv)?;
    argv.push("--config".into());
    argv.push(path.display().to_string());
    Ok(argv)
}

pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let cfg = load_config(&args.config)?;
    let argv = argv_of(&cfg, &args.config)?;
    if args.dry_run {
        println!("{}", argv.join(" "));
        return Ok(ExitCode::SUCCESS);
    }
    let cli = match Cli::try_parse_from(&argv) {
        Ok(c) => c,
        Err(e) => bail!(
            "{}: {}",
            args.config.display(),
            e.to_string()
                .lines()
                .next()
                .unwrap_or("invalid option")
                .trim_start_matches("error: ")
        ),
    };
    super::dispatch(cli.command)
}
