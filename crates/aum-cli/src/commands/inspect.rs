//! `aum inspect`: a checkpoint's family, inferred configuration, parameter count and layout.

use std::path::PathBuf;

use anyhow::Result;

use crate::loaders::load_checkpoint;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    pub file: PathBuf,
    /// Also list every tensor with its shape.
    #[arg(long)]
    pub tensors: bool,
}

pub fn run(args: &InspectArgs) -> Result<()> {
    let ckpt = load_checkpoint(Some(&args.file))?;
    println!("{}", args.file.display());
    println!("  family        {}", ckpt.family());
    for line in ckpt.describe() {
        println!("  {line}");
    }
    if ckpt.labels().is_some() {
        println!("  labels        included");
    }
    println!(
        "  parameters    {} ({:.2} M)",
        ckpt.num_params(),
        ckpt.num_params() as f64 / 1e6
    );
    let fe = ckpt.front_end();
    println!(
        "  front end     mean {} std {} frames {:?} resample {:?} centre {}",
        fe.mean, fe.std, fe.frames, fe.sample_rate, fe.center
    );
    if args.tensors {
        let mut shapes: Vec<(&String, &[usize])> =
            ckpt.tensors().iter().map(|(k, t)| (k, t.dims())).collect();
        shapes.sort();
        for (k, d) in shapes {
            println!("    {k:60} {d:?}");
        }
    }
    Ok(())
}
