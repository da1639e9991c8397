//! Classify a clip with an Audio Mamba checkpoint (official `.pth` or our safetensors).
//!
//! `cargo run --release --example classify -- CHECKPOINT AUDIO`

use aum::fbank::decode_file;
use aum::model::{Checkpoint, Classifier};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(checkpoint), Some(audio)) = (args.next(), args.next()) else {
        eprintln!("usage: classify CHECKPOINT AUDIO");
        std::process::exit(2);
    };
    let ckpt = Checkpoint::load(&checkpoint)?;
    println!(
        "{checkpoint}: {:?} AuM, D {}, {} layers, {} classes",
        ckpt.config.variant, ckpt.config.embed_dim, ckpt.config.depth, ckpt.config.num_classes
    );
    let classifier = Classifier::new(ckpt, &candle_core::Device::Cpu)?;
    let wave = decode_file(&audio)?.wave;
    for (label, score) in classifier.top_k(&wave, 5)? {
        println!("{score:.4}  {label}");
    }
    Ok(())
}
