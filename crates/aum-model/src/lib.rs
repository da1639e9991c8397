//! Audio Mamba (AuM, Erol et al. 2024) on candle: the model, faithful to the official PyTorch
//! code and checkpoints, with the selective scan of `aum-scan`.
//!
//! ```no_run
//! use aum_model::{Checkpoint, Mode};
//! let ckpt = Checkpoint::load("aum-base_audioset.pth")?;        // config inferred from tensors
//! let model = ckpt.into_model(&candle_core::Device::Cpu)?;
//! let x = candle_core::Tensor::zeros((1, 1024, 128), candle_core::DType::F32, &candle_core::Device::Cpu)?;
//! let logits = model.forward_mode(&x, Mode::Inference)?;      // (1, classes)
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod checkpoint;
mod classify;
mod config;
mod conv;
mod init;
mod mixer;
mod model;
mod posembed;
mod weights;

pub use aum_core::Mode;
pub use checkpoint::{default_front_end, expected_shapes, infer_config, read_tensors, Checkpoint};
pub use classify::{Classifier, Window};
pub use config::{ClsPosition, Config, Variant};
pub use init::initialize;
pub use model::{AudioMamba, ForwardTrace};
pub use posembed::resample_pos_embed;
pub use weights::random_untracked;
