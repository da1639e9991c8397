//! Audio datasets for training and evaluating Audio Mamba and AST: loaders for the layouts the
//! published recipes use (detected from a path), preparation of features in worker threads
//! with an optional on-disk cache, the recipes' augmentations, sampling and batching.
//!
//! ```no_run
//! use aum_data::{open, prepare, PrepareOptions, Split};
//! use aum_fbank::{FrontEnd, Preset};
//!
//! let train = open("../shared/data/fsdd".as_ref(), &Split::Train, None)?;
//! let fe = FrontEnd { frames: Some(128), sample_rate: Some(16_000), ..FrontEnd::aum(Preset::SpeechCommands) };
//! let data = prepare(&train, &fe, &PrepareOptions::default(), &mut |_, _| {});
//! for s in &data.skipped {
//!     eprintln!("skipped {}: {}", s.source, s.error);
//! }
//! # Ok::<(), aum_core::Error>(())
//! ```

mod augment;
mod batch;
mod cache;
mod clips;
pub mod layouts;
mod prepare;
mod rng;
mod split;

pub use augment::{
    balanced_weights, mix_waves, noise_and_roll, spec_masks, weighted_sample, Augment,
};
pub use batch::{build_batch, epoch_order, for_each_batch, Batch, EpochPlan, Sampling};
pub use cache::FeatureCache;
pub use clips::{Clip, ClipList, Example};
pub use layouts::{detect, open, Layout};
pub use prepare::{prepare, PrepareOptions, Prepared, Skipped, Source};
pub use rng::Rng;
pub use split::Split;
