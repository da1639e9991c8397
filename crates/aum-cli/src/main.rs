//! `aum`: classify, inspect and benchmark audio with Audio Mamba and AST from the command line.

mod commands;
mod loaders;
mod memory;
mod plot;
mod timing;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "aum", version, about = "Audio Mamba (AuM) and AST in Rust", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Classify audio files with an Audio Mamba or AST checkpoint (top classes, or a timeline).
    Classify(commands::classify::ClassifyArgs),
    /// Run a checkpoint on an already normalised (B, T, F) input tensor.
    Logits(commands::logits::LogitsArgs),
    /// Embeddings (the vector the head reads) of audio files or of an input tensor.
    Embed(commands::embed::EmbedArgs),
    /// Show a checkpoint's configuration, size and layout.
    Inspect(commands::inspect::InspectArgs),
    /// Convert a checkpoint to safetensors with its config and labels in the metadata.
    Convert(commands::convert::ConvertArgs),
    /// Compute Kaldi log-mel fbank features (and model inputs) of audio files.
    Fbank(commands::fbank::FbankArgs),
    /// Run the selective-scan op on tensors from a safetensors file (checks kernels against fixtures).
    Scan(commands::scan::ScanArgs),
    /// Train or fine-tune a model on a dataset with a named recipe.
    Train(commands::train::TrainArgs),
    /// A checkpoint's metrics (accuracy, mAP, AUC, d') on a dataset split.
    Eval(commands::eval::EvalArgs),
    /// Measure the speed of the front end and the kernels.
    #[command(subcommand)]
    Bench(BenchCommand),
}

#[derive(Subcommand, Debug)]
enum BenchCommand {
    /// Decode, fbank, and both, for a 10 s 16 kHz clip; batch scaling over threads.
    Fbank(commands::bench::fbank::BenchFbankArgs),
    /// Selective-scan forward and backward against the reference and a tensor-op loop.
    Scan(commands::bench::scan::BenchScanArgs),
    /// Audio Mamba forward time and peak memory per size and clip length.
    Model(commands::bench::model::BenchModelArgs),
    /// The paper's efficiency study: AuM against AST at growing token counts.
    Compare(commands::bench::compare::BenchCompareArgs),
    /// The linear layers' products in f32 and bf16 on the models' shapes.
    Gemm(commands::bench::gemm::BenchGemmArgs),
    /// Files per second through the classifier (decode, features, model) per thread count.
    Files(commands::bench::files::BenchFilesArgs),
}

fn main() {
    memory::keep_freed_memory();
    let cli = Cli::parse();
    let result = match &cli.command {
        Command::Classify(a) => commands::classify::run(a),
        Command::Logits(a) => commands::logits::run(a),
        Command::Embed(a) => commands::embed::run(a),
        Command::Inspect(a) => commands::inspect::run(a),
        Command::Convert(a) => commands::convert::run(a),
        Command::Fbank(a) => commands::fbank::run(a),
        Command::Scan(a) => commands::scan::run(a),
        Command::Train(a) => commands::train::run(a),
        Command::Eval(a) => commands::eval::run(a),
        Command::Bench(BenchCommand::Fbank(a)) => commands::bench::fbank::run(a),
        Command::Bench(BenchCommand::Scan(a)) => commands::bench::scan::run(a),
        Command::Bench(BenchCommand::Model(a)) => commands::bench::model::run(a),
        Command::Bench(BenchCommand::Compare(a)) => commands::bench::compare::run(a),
        Command::Bench(BenchCommand::Files(a)) => commands::bench::files::run(a),
        Command::Bench(BenchCommand::Gemm(a)) => commands::bench::gemm::run(a),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
