//! `aum convert`: any supported checkpoint (AuM or AST, any layout) to safetensors with config (and labels) in the
//! metadata, so later loads need no inference and no pickle parsing.

use std::path::PathBuf;

use crate::loaders::load_checkpoint;
use anyhow::Result;

#[derive(clap::Args, Debug)]
pub struct ConvertArgs {
    pub input: PathBuf,
    pub output: PathBuf,
    /// Class names to store (a CSV path or a built-in name, as for `classify --labels`).
    #[arg(long)]
    pub labels: Option<String>,
}

pub fn run(args: &ConvertArgs) -> Result<()> {
    let mut ckpt = load_checkpoint(Some(&args.input))?;
    if let Some(spec) = &args.labels {
        ckpt = ckpt.with_labels(crate::loaders::load_labels(spec)?.names().to_vec())?;
    }
    ckpt.save(&args.output)?;
    println!(
        "{} -> {} ({}, {:.2} M parameters)",
        args.input.display(),
        args.output.display(),
        ckpt.family(),
        ckpt.num_params() as f64 / 1e6
    );
    Ok(())
}
