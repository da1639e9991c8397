//! Audio decoding with symphonia 0.6 (every codec and container it has), scaled like
//! `torchaudio.load`: integer PCM divided by 2^(bits-1), floats unchanged.

use std::io::Cursor;
use std::path::Path;

use aum_core::{Error, Result, Waveform};
use symphonia::core::codecs::audio::well_known::CODEC_ID_OPUS;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSource, MediaSourceStream};
use symphonia::core::meta::MetadataOptions;

use crate::wav::{self, WavRead};

/// A decoded clip and the problems met on the way (a damaged packet, a truncated stream).
///
/// When a stream breaks after some audio was decoded, the decodable prefix is returned with a
/// warning instead of an error, because a long recording with a bad tail is still useful.
#[derive(Debug, Clone)]
pub struct Decoded {
    /// The decoded audio (possibly a prefix, see above).
    pub wave: Waveform,
    /// Problems that did not stop decoding; empty for a clean file.
    pub warnings: Vec<String>,
}

/// Decodes an audio file; the container is detected from its content (the extension is a hint).
pub fn decode_file(path: impl AsRef<Path>) -> Result<Decoded> {
    let path = path.as_ref();
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    let ext = path.extension().and_then(|e| e.to_str());
    decode_in_memory(bytes, ext, path)
}

/// Decodes an in-memory file (e.g. bytes received over the network).
pub fn decode_bytes(bytes: Vec<u8>, extension_hint: Option<&str>) -> Result<Decoded> {
    decode_in_memory(bytes, extension_hint, Path::new("<memory>"))
}

/// WAV-family files in the encodings `wav` handles are read there; everything else (and WAV
/// codecs such as ADPCM) goes through symphonia.
fn decode_in_memory(bytes: Vec<u8>, ext: Option<&str>, path: &Path) -> Result<Decoded> {
    match wav::read(&bytes) {
        WavRead::Audio(wave, warnings) => Ok(Decoded { wave, warnings }),
        WavRead::Invalid(message) => Err(Error::Decode {
            path: path.to_path_buf(),
            message,
        }),
        WavRead::NotHandled => decode_source(Box::new(Cursor::new(bytes)), ext, path),
    }
}

fn decode_source(source: Box<dyn MediaSource>, ext: Option<&str>, path: &Path) -> Result<Decoded> {
    let err = |message: String| Error::Decode {
        path: path.to_path_buf(),
        message,
    };
    let mss = MediaSourceStream::new(source, Default::default());
    let mut hint = Hint::new();
    if let Some(ext) = ext {
        hint.with_extension(ext);
    }
    let mut format = symphonia::default::get_probe()
        .probe(
            &hint,
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| err(format!("not a recognised audio file ({e})")))?;
    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| err("no audio track".into()))?;
    let params = track
        .codec_params
        .as_ref()
        .and_then(|p| p.audio())
        .ok_or_else(|| err("the default track is not audio".into()))?
        .clone();
    let track_id = track.id;
    let announced_frames = track.num_frames;
    if params.codec == CODEC_ID_OPUS {
        return Err(err(
            "unsupported codec: Opus (symphonia has no Opus decoder; convert the file to FLAC or WAV)"
                .into(),
        ));
    }
    let mut decoder = symphonia::default::get_codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| err(format!("unsupported codec {} ({e})", params.codec)))?;

    let mut channels: Vec<Vec<f32>> = Vec::new();
    let mut sample_rate = params.sample_rate.unwrap_or(0);
    let mut warnings = Vec::new();
    let mut planar: Vec<Vec<f32>> = Vec::new();
    loop {
        let packet = match format.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                // Containers without an explicit end marker end this way; a data chunk that is
                // shorter than its header says ends this way too.
                let got = channels.first().map_or(0, Vec::len) as u64;
                if announced_frames.is_some_and(|n| got < n) {
                    warnings.push(format!(
                        "stream ended early: {got} of {} frames (truncated file)",
                        announced_frames.unwrap_or(0)
                    ));
                }
                break;
            }
            Err(e) => {
                if channels.first().is_some_and(|c| !c.is_empty()) {
                    warnings.push(format!("stopped at a damaged container packet: {e}"));
                    break;
                }
                return Err(err(format!("cannot read the stream: {e}")));
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            Err(SymError::DecodeError(e)) => {
                warnings.push(format!("skipped an undecodable packet: {e}"));
                continue;
            }
            Err(e) => {
                if channels.first().is_some_and(|c| !c.is_empty()) {
                    warnings.push(format!("stopped at an undecodable packet: {e}"));
                    break;
                }
                return Err(err(format!("cannot decode: {e}")));
            }
        };
        let spec = buf.spec();
        let n_ch = spec.channels().count();
        if sample_rate == 0 {
            sample_rate = spec.rate();
        }
        if channels.is_empty() {
            channels = vec![Vec::new(); n_ch];
        } else if channels.len() != n_ch {
            warnings.push(format!(
                "channel count changed from {} to {n_ch} mid-stream; stopped there",
                channels.len()
            ));
            break;
        }
        // symphonia's decoders already drop encoder delay and padding (gapless trimming).
        buf.copy_to_vecs_planar(&mut planar);
        for (dst, src) in channels.iter_mut().zip(&planar) {
            dst.extend_from_slice(src);
        }
    }
    if channels.is_empty() || channels[0].is_empty() {
        return Err(err("no audio could be decoded".into()));
    }
    if sample_rate == 0 {
        return Err(err("the stream does not state its sample rate".into()));
    }
    let wave = Waveform::new(channels, sample_rate)?;
    Ok(Decoded { wave, warnings })
}
