//! Audio in: decoding any supported file (WAV/RF64/RIFX, FLAC, Ogg Vorbis, MP3, AAC/M4A, AIFF)
//! to a [`Waveform`] scaled as `torchaudio.load` scales it, so a crate that depends on
//! aum-model alone can read audio. The front end resamples and builds features itself.

use std::path::Path;

use aum_core::{Result, Waveform};

pub use aum_fbank::{decode_file, Decoded, Resampler};

/// The waveform of an audio file, at its own sample rate. Recoverable problems (a truncated
/// data chunk, say) are dropped; [`decode_file`] returns them as warnings.
pub fn load(path: impl AsRef<Path>) -> Result<Waveform> {
    Ok(decode_file(path.as_ref())?.wave)
}
