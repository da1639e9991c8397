//! Training and evaluating Audio Mamba and AST with the published recipes: Adam/AdamW with
//! PyTorch semantics, warm-up and MultiStep schedules, BCE and CE losses, gradient clipping,
//! the official metrics, and a resumable training loop with per-epoch evaluation.

pub mod auto;
mod evaluate;
mod loss;
pub mod metrics;
mod net;
mod optim;
mod recipe;
mod schedule;
pub mod state;
mod trainer;

pub use evaluate::{evaluate, Evaluation};
pub use loss::{bce_with_logits, cross_entropy, Loss};
pub use metrics::Metrics;
pub use net::Net;
pub use optim::{clip_grad_norm, Adam, AdamConfig, OptimizerKind};
pub use recipe::{Metric, Recipe, RECIPES};
pub use schedule::Schedule;
pub use state::{load_checkpoint, EpochRecord, Progress};
pub use trainer::{Event, Finish, Trainer, Workers, BEST, LAST, METRICS};
