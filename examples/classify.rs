//! Classify a clip with any supported checkpoint: an official AuM `.pth`, an AST from the
//! HuggingFace hub or the original repository, or one of ours.
//!
//! `cargo run --release --example classify -- CHECKPOINT AUDIO [f32|bf16]`

use aum::model::{Checkpoint, Classifier, Device, Precision};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(checkpoint), Some(audio)) = (args.next(), args.next()) else {
        eprintln!("usage: classify CHECKPOINT AUDIO [f32|bf16]");
        std::process::exit(2);
    };
    let precision: Precision = args.next().as_deref().unwrap_or("f32").parse()?;
    let ckpt = Checkpoint::load(&checkpoint)?;
    println!("{checkpoint}: {}", ckpt.config().describe());
    let classifier = Classifier::new(ckpt, &Device::Cpu, precision)?;
    let wave = aum::model::audio::load(&audio)?;
    for (label, score) in classifier.top_k(&wave, 5)? {
        println!("{score:.4}  {label}");
    }
    Ok(())
}
