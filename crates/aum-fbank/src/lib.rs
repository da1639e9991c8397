//! The audio front end of Audio Mamba and AST.
//!
//! - [`decode_file`]: any file symphonia decodes (WAV in all its variants, FLAC, Ogg Vorbis,
//!   MP3, AAC/M4A, AIFF ...) to a [`Waveform`](aum_core::Waveform) scaled like `torchaudio.load`.
//! - [`Resampler`]: `torchaudio.functional.resample` reproduced to 1e-4.
//! - [`KaldiFbank`]: `torchaudio.compliance.kaldi.fbank` with all its options.
//! - [`FrontEnd`]: the whole model-input pipeline of a published recipe ([`Preset`]).
//!
//! ```
//! use aum_core::Waveform;
//! use aum_fbank::{FrontEnd, KaldiFbank, Preset};
//!
//! // One second of a 440 Hz tone at 16 kHz.
//! let tone: Vec<f32> = (0..16_000)
//!     .map(|i| (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 16_000.0).sin() * 0.5)
//!     .collect();
//! let wave = Waveform::mono(tone, 16_000)?;
//!
//! let fbank = KaldiFbank::aum(16_000)?.compute(&wave.channels()[0]);
//! assert_eq!((fbank.frames, fbank.bins), (98, 128));
//!
//! let input = FrontEnd::aum(Preset::AudioSet).model_input(&wave)?;
//! assert_eq!((input.frames, input.bins), (1024, 128));
//! # Ok::<(), aum_core::Error>(())
//! ```

mod decode;
mod dither;
mod fastlog;
mod fbank;
mod frontend;
mod mel;
mod resample;
mod wav;
mod window;

pub use decode::{decode_bytes, decode_file, Decoded};
pub use fbank::{FbankOptions, Features, KaldiFbank};
pub use frontend::{normalize, pad_or_crop, FrontEnd, Preset};
pub use mel::{mel_banks, mel_scale, MelFilter};
pub use resample::{resample, Resampler};
pub use window::{window, WindowType};
