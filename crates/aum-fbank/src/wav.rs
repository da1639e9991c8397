//! A tolerant reader for the WAV family (RIFF, big-endian RIFX, RF64) with PCM, IEEE float,
//! mu-law and A-law samples, in plain or WAVE_FORMAT_EXTENSIBLE headers.
//!
//! symphonia rejects RF64 and RIFX and refuses files whose chunk sizes disagree with the RIFF
//! size (common in files written by streaming tools), so those formats are read here. Other
//! WAV codecs (ADPCM ...) return `None` and go to symphonia.

use aum_core::Waveform;

/// What the header says about the sample encoding.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Encoding {
    /// Integer PCM of `bytes` bytes per sample (8-bit is unsigned).
    Pcm,
    Float,
    MuLaw,
    ALaw,
}

struct Format {
    encoding: Encoding,
    channels: usize,
    sample_rate: u32,
    /// Bytes per sample in the container (block_align / channels).
    bytes: usize,
}

/// Outcome of reading a WAV-family file.
pub(crate) enum WavRead {
    /// Not a WAV-family file, or a codec this reader does not handle.
    NotHandled,
    /// A broken header or a file without audio.
    Invalid(String),
    /// Decoded audio and any warnings (e.g. a data chunk cut short).
    Audio(Waveform, Vec<String>),
}

/// Reads `bytes` if it is a RIFF/RIFX/RF64 WAVE file in an encoding handled here.
pub(crate) fn read(bytes: &[u8]) -> WavRead {
    if bytes.len() < 12 || &bytes[8..12] != b"WAVE" {
        return WavRead::NotHandled;
    }
    let big_endian = match &bytes[0..4] {
        b"RIFF" | b"RF64" | b"BW64" => false,
        b"RIFX" => true,
        _ => return WavRead::NotHandled,
    };
    let u16_at = |i: usize| -> u16 {
        let b = [bytes[i], bytes[i + 1]];
        if big_endian {
            u16::from_be_bytes(b)
        } else {
            u16::from_le_bytes(b)
        }
    };
    let u32_at = |i: usize| -> u32 {
        let b = [bytes[i], bytes[i + 1], bytes[i + 2], bytes[i + 3]];
        if big_endian {
            u32::from_be_bytes(b)
        } else {
            u32::from_le_bytes(b)
        }
    };
    let mut format = None;
    let mut ds64_data_size = None;
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let id = &bytes[pos..pos + 4];
        let size = u32_at(pos + 4) as usize;
        let body = pos + 8;
        match id {
            b"ds64" if body + 16 <= bytes.len() => {
                let lo = u32_at(body + 8) as u64;
                let hi = u32_at(body + 12) as u64;
                ds64_data_size = Some((hi << 32 | lo) as usize);
            }
            b"fmt " => {
                if size < 16 || body + 16 > bytes.len() {
                    return WavRead::Invalid("the fmt chunk is truncated".into());
                }
                let mut tag = u16_at(body);
                let channels = u16_at(body + 2) as usize;
                let sample_rate = u32_at(body + 4);
                let block_align = u16_at(body + 12) as usize;
                if tag == 0xFFFE {
                    // WAVE_FORMAT_EXTENSIBLE: the real tag is the GUID's first field (a u32).
                    if size < 40 || body + 28 > bytes.len() {
                        return WavRead::Invalid("the extensible fmt chunk is truncated".into());
                    }
                    tag = u32_at(body + 24) as u16;
                }
                let encoding = match tag {
                    1 => Encoding::Pcm,
                    3 => Encoding::Float,
                    6 => Encoding::ALaw,
                    7 => Encoding::MuLaw,
                    _ => return WavRead::NotHandled,
                };
                if channels == 0
                    || sample_rate == 0
                    || block_align == 0
                    || !block_align.is_multiple_of(channels)
                {
                    return WavRead::Invalid(format!(
                        "invalid fmt chunk: {channels} channels, {sample_rate} Hz, block align {block_align}"
                    ));
                }
                let bytes_per_sample = block_align / channels;
                let ok = match encoding {
                    Encoding::Pcm => (1..=4).contains(&bytes_per_sample),
                    Encoding::Float => bytes_per_sample == 4 || bytes_per_sample == 8,
                    Encoding::MuLaw | Encoding::ALaw => bytes_per_sample == 1,
                };
                if !ok {
                    return WavRead::Invalid(format!(
                        "unsupported sample size: {} bits of {encoding:?}",
                        bytes_per_sample * 8
                    ));
                }
                format = Some(Format {
                    encoding,
                    channels,
                    sample_rate,
                    bytes: bytes_per_sample,
                });
            }
            b"data" => {
                let Some(fmt) = format else {
                    return WavRead::Invalid("the data chunk comes before any fmt chunk".into());
                };
                let declared = match (size, ds64_data_size) {
                    (0xFFFF_FFFF, Some(n)) => n,
                    (n, _) => n,
                };
                let available = bytes.len() - body;
                let mut warnings = Vec::new();
                let len = if declared > available {
                    warnings.push(format!(
                        "data chunk declares {declared} bytes but the file holds {available} (truncated file); decoded the complete frames"
                    ));
                    available
                } else {
                    declared
                };
                let frame_bytes = fmt.bytes * fmt.channels;
                let frames = len / frame_bytes;
                if frames == 0 {
                    return WavRead::Invalid("the data chunk holds no complete frame".into());
                }
                let data = &bytes[body..body + frames * frame_bytes];
                let channels = deinterleave(data, &fmt, big_endian);
                return match Waveform::new(channels, fmt.sample_rate) {
                    Ok(w) => WavRead::Audio(w, warnings),
                    Err(e) => WavRead::Invalid(e.to_string()),
                };
            }
            _ => {}
        }
        // Chunks are padded to an even size.
        pos = body.saturating_add(size).saturating_add(size & 1);
    }
    WavRead::Invalid(if format.is_none() {
        "no fmt chunk (truncated or not a WAV file)".into()
    } else {
        "no data chunk (truncated file)".into()
    })
}

/// Splits interleaved frames into one vector per channel. The common 16-bit little-endian case
/// has its own loop: the general path costs a byte shuffle per sample.
fn deinterleave(data: &[u8], fmt: &Format, big_endian: bool) -> Vec<Vec<f32>> {
    let frames = data.len() / (fmt.bytes * fmt.channels);
    let mut channels = vec![Vec::with_capacity(frames); fmt.channels];
    if fmt.encoding == Encoding::Pcm && fmt.bytes == 2 && !big_endian {
        for (i, s) in data.chunks_exact(2).enumerate() {
            channels[i % fmt.channels].push(i16::from_le_bytes([s[0], s[1]]) as f32 / 32768.0);
        }
        return channels;
    }
    for frame in data.chunks_exact(fmt.bytes * fmt.channels) {
        for (c, s) in channels.iter_mut().zip(frame.chunks_exact(fmt.bytes)) {
            c.push(sample(s, fmt.encoding, big_endian));
        }
    }
    channels
}

/// One sample scaled like torchaudio.load: integers to [-1, 1) by 2^(bits-1).
fn sample(s: &[u8], encoding: Encoding, big_endian: bool) -> f32 {
    let mut b = [0u8; 8];
    // Normalise to little-endian.
    for (i, &v) in s.iter().enumerate() {
        b[if big_endian { s.len() - 1 - i } else { i }] = v;
    }
    match (encoding, s.len()) {
        (Encoding::Pcm, 1) => (b[0] as f32 - 128.0) / 128.0,
        (Encoding::Pcm, n) => {
            // Left-justify into an i32 so one scale fits 16, 24 and 32 bits.
            let v = i32::from_le_bytes([b[0], b[1], b[2], b[3]]) << (8 * (4 - n));
            v as f32 / 2_147_483_648.0
        }
        (Encoding::Float, 4) => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
        (Encoding::Float, _) => f64::from_le_bytes(b) as f32,
        (Encoding::MuLaw, _) => mulaw(b[0]) as f32 / 32768.0,
        (Encoding::ALaw, _) => alaw(b[0]) as f32 / 32768.0,
    }
}

/// G.711 mu-law byte to a 16-bit sample.
fn mulaw(u: u8) -> i16 {
    let u = !u;
    let exponent = (u >> 4) & 7;
    let magnitude = ((((u & 0x0F) as i32) << 3) + 0x84) << exponent;
    let v = magnitude - 0x84;
    (if u & 0x80 != 0 { -v } else { v }) as i16
}

/// G.711 A-law byte to a 16-bit sample.
fn alaw(a: u8) -> i16 {
    let a = a ^ 0x55;
    let seg = (a & 0x70) >> 4;
    let mut t = ((a & 0x0F) as i32) << 4;
    t += if seg == 0 { 8 } else { 0x108 };
    if seg > 1 {
        t <<= seg - 1;
    }
    (if a & 0x80 != 0 { t } else { -t }) as i16
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g711_tables_match_known_values() {
        assert_eq!(mulaw(0xFF), 0);
        assert_eq!(mulaw(0x7F), 0);
        assert_eq!(mulaw(0x80), 32124);
        assert_eq!(mulaw(0x00), -32124);
        assert_eq!(alaw(0xD5), 8);
        assert_eq!(alaw(0x55), -8);
        assert_eq!(alaw(0xAA), 32256);
    }

    #[test]
    fn integer_pcm_scales_like_torchaudio() {
        assert_eq!(sample(&[0x00, 0x80], Encoding::Pcm, false), -1.0);
        assert_eq!(sample(&[0x80, 0x00], Encoding::Pcm, true), -1.0);
        assert_eq!(sample(&[0xFF], Encoding::Pcm, false), 127.0 / 128.0);
        // 24-bit 0x000100 = 256 / 2^23 = 1 / 32768
        assert_eq!(
            sample(&[0x00, 0x01, 0x00], Encoding::Pcm, false),
            1.0 / 32768.0
        );
    }
}
