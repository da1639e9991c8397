//! `aum logits`: the model on an already normalised (B, T, F) tensor, for parity checks and
//! GPU runs; the model family and config come from the checkpoint alone.

use std::collections::HashMap;
use std::path::PathBuf;

use anyhow::Result;
use aum_core::AudioClassifier;
use candle_core::Device;

use crate::loaders::{load_checkpoint, load_input, ModelRun};

#[derive(clap::Args, Debug)]
pub struct LogitsArgs {
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// safetensors file holding the input.
    #[arg(long)]
    pub input: PathBuf,
    /// Name of the input tensor.
    #[arg(long, default_value = "input")]
    pub tensor: String,
    /// Where to write `logits` (safetensors).
    #[arg(long)]
    pub output: PathBuf,
    /// Run on CUDA device 0 (builds with the `cuda` feature).
    #[arg(long)]
    pub cuda: bool,
    #[command(flatten)]
    pub run: ModelRun,
}

pub fn run(args: &LogitsArgs) -> Result<()> {
    let device = if args.cuda {
        Device::new_cuda(0)?
    } else {
        Device::Cpu
    };
    let model = load_checkpoint(Some(&args.checkpoint))?
        .into_model(&device)?
        .with_precision(args.run.precision)?;
    let x = load_input(&args.input, &args.tensor, &device)?;
    let logits = model.logits(&x)?.to_device(&Device::Cpu)?;
    aum_io::save_safetensors(
        &args.output,
        &HashMap::from([("logits".to_string(), logits.clone())]),
        HashMap::new(),
    )?;
    println!(
        "{}: logits {:?} -> {}",
        args.input.display(),
        logits.dims(),
        args.output.display()
    );
    Ok(())
}
