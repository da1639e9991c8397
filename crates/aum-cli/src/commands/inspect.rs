//! `aum inspect`: a checkpoint's inferred configuration, parameter count and layout.

use std::path::PathBuf;

use anyhow::Result;
use aum_model::Checkpoint;

#[derive(clap::Args, Debug)]
pub struct InspectArgs {
    pub file: PathBuf,
    /// Also list every tensor with its shape.
    #[arg(long)]
    pub tensors: bool,
}

pub fn run(args: &InspectArgs) -> Result<()> {
    let ckpt = Checkpoint::load(&args.file)?;
    let c = &ckpt.config;
    println!("{}", args.file.display());
    println!("  family        Audio Mamba (AuM), variant {:?}", c.variant);
    println!("  embed_dim     {} (d_inner {}, dt_rank {}, d_state {}, d_conv {})", c.embed_dim, c.d_inner(), c.dt_rank, c.d_state, c.d_conv);
    println!("  depth         {}", c.depth);
    println!("  patch/stride  {:?} / {:?}", c.patch, c.stride);
    let (fp, tp) = c.grid();
    println!("  input         {} frames x {} mel bins -> {fp} x {tp} patches + CLS ({:?})", c.frames, c.num_mel_bins, c.cls_position);
    println!("  classes       {}{}", c.num_classes, if ckpt.labels.is_some() { " (labels included)" } else { "" });
    println!("  parameters    {} ({:.2} M)", ckpt.num_params(), ckpt.num_params() as f64 / 1e6);
    let fe = &ckpt.front_end;
    println!(
        "  front end     mean {} std {} frames {:?} resample {:?} centre {}",
        fe.mean, fe.std, fe.frames, fe.sample_rate, fe.center
    );
    if args.tensors {
        let mut names: Vec<(&String, Vec<usize>)> = ckpt.tensors.iter().map(|(k, t)| (k, t.dims().to_vec())).collect();
        names.sort();
        for (k, d) in names {
            println!("    {k:50} {d:?}");
        }
    }
    Ok(())
}
