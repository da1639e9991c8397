//! The README's library snippet as a program of its own, built by scripts/downstream-check.sh
//! in a fresh crate whose only dependency is aum-model: `downstream CHECKPOINT AUDIO`.

use aum_model::{Classifier, Device};

fn main() -> aum_model::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(checkpoint_path), Some(audio_path)) = (args.next(), args.next()) else {
        eprintln!("usage: downstream CHECKPOINT AUDIO");
        std::process::exit(2);
    };
    let classifier = Classifier::from_file(&checkpoint_path, &Device::Cpu)?;
    let wave = aum_model::audio::load(&audio_path)?;
    for (label, score) in classifier.top_k(&wave, 5)? { println!("{score:.5} {label}"); }
    Ok(())
}
