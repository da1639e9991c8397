//! The complete AuM/AST input pipeline: waveform -> (optional resampling) -> mean-centring ->
//! Kaldi fbank -> zero-pad or crop to the model's frame count -> `(x - mean) / (2 std)`.

use aum_core::{Error, Result, Waveform};
use candle_core::{Device, Tensor};
use rayon::prelude::*;

use crate::fbank::{Features, KaldiFbank};
use crate::resample::resample;

/// Dataset normalisation constants and clip lengths of the published recipes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Preset {
    /// AudioSet-2M and AS-20K (also the HF AST feature extractor's constants).
    AudioSet,
    /// VGGSound (309 classes).
    VggSound,
    /// VoxCeleb 1 speaker identification (1251 speakers).
    VoxCeleb,
    /// Speech Commands v2 (35 words, 128-frame clips).
    SpeechCommands,
}

impl Preset {
    /// Every preset, in declaration order.
    pub const ALL: [Preset; 4] = [
        Preset::AudioSet,
        Preset::VggSound,
        Preset::VoxCeleb,
        Preset::SpeechCommands,
    ];

    /// Lower-case name, as accepted by `FromStr`.
    pub fn name(self) -> &'static str {
        match self {
            Preset::AudioSet => "audioset",
            Preset::VggSound => "vggsound",
            Preset::VoxCeleb => "voxceleb",
            Preset::SpeechCommands => "speechcommands",
        }
    }

    /// `(mean, std)` of the training set's fbank values.
    pub fn stats(self) -> (f32, f32) {
        match self {
            Preset::AudioSet => (-4.267_739_3, 4.568_997_4),
            Preset::VggSound => (-5.076_709_3, 4.453_368_7),
            Preset::VoxCeleb => (-3.761_474_4, 4.201_164_2),
            Preset::SpeechCommands => (-6.845_978, 5.565_452_6),
        }
    }

    /// Frames the recipe's models take.
    pub fn frames(self) -> usize {
        match self {
            Preset::SpeechCommands => 128,
            _ => 1024,
        }
    }
}

impl std::str::FromStr for Preset {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().replace(['-', '_'], "").as_str() {
            "audioset" | "as2m" | "as20k" => Ok(Preset::AudioSet),
            "vggsound" | "vgg" => Ok(Preset::VggSound),
            "voxceleb" | "voxceleb1" => Ok(Preset::VoxCeleb),
            "speechcommands" | "sc" | "speechcommandsv2" => Ok(Preset::SpeechCommands),
            _ => Err(format!(
                "unknown preset `{s}` (expected audioset, as20k, vggsound, voxceleb or speechcommands)"
            )),
        }
    }
}

/// Keeps the first `target` frames, or appends rows of zeros up to `target`.
pub fn pad_or_crop(f: &Features, target: usize) -> Features {
    let mut data = vec![0f32; target * f.bins];
    let keep = f.frames.min(target) * f.bins;
    data[..keep].copy_from_slice(&f.data[..keep]);
    Features {
        data,
        frames: target,
        bins: f.bins,
    }
}

/// `(x - mean) / (2 std)` in place, the normalisation of the AuM and AST data loaders.
pub fn normalize(f: &mut Features, mean: f32, std: f32) {
    let denom = std * 2.0;
    f.data.iter_mut().for_each(|v| *v = (*v - mean) / denom);
}

/// The model-input pipeline for one recipe. Serialisable, so checkpoints can carry the exact
/// pipeline their model was trained with.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct FrontEnd {
    /// Normalisation mean and std.
    pub mean: f32,
    /// Normalisation std (the divisor is `2 * std`).
    pub std: f32,
    /// Output frames (pad or crop); `None` keeps the clip's own length (AuM's long-audio mode).
    pub frames: Option<usize>,
    /// Subtract the waveform mean over all channels before taking channel 0 (AuM and the
    /// original AST loader do; the HuggingFace AST feature extractor does not).
    pub center: bool,
    /// Resample to this rate first; `None` computes fbank at the file's own rate, exactly as
    /// the reference loaders do.
    pub sample_rate: Option<u32>,
    /// Number of mel bins.
    pub num_mel_bins: usize,
}

impl FrontEnd {
    /// The AuM pipeline for a recipe (mean-centred, 128 bins, the preset's frames).
    pub fn aum(preset: Preset) -> Self {
        let (mean, std) = preset.stats();
        Self {
            mean,
            std,
            frames: Some(preset.frames()),
            center: true,
            sample_rate: None,
            num_mel_bins: 128,
        }
    }

    /// The HuggingFace `ASTFeatureExtractor` pipeline: no waveform centring, AudioSet stats,
    /// 1024 frames.
    pub fn hf_ast() -> Self {
        Self {
            center: false,
            ..Self::aum(Preset::AudioSet)
        }
    }

    /// Raw (unnormalised, unpadded) fbank of a waveform as this pipeline computes it.
    pub fn fbank(&self, wave: &Waveform) -> Result<Features> {
        let resampled;
        let wave = match self.sample_rate {
            Some(rate) if rate != wave.sample_rate() => {
                resampled = resample(wave, rate)?;
                &resampled
            }
            _ => wave,
        };
        let signal = if self.center {
            wave.centered_channel0()
        } else {
            wave.channels()[0].clone()
        };
        let mut opts = crate::FbankOptions::aum(wave.sample_rate() as f64);
        opts.num_mel_bins = self.num_mel_bins;
        Ok(KaldiFbank::new(opts)?.compute(&signal))
    }

    /// Pads or crops and normalises raw fbank features.
    pub fn finish(&self, raw: &Features) -> Features {
        let mut f = match self.frames {
            Some(t) => pad_or_crop(raw, t),
            None => raw.clone(),
        };
        normalize(&mut f, self.mean, self.std);
        f
    }

    /// The model input of one waveform, `(frames, bins)`.
    pub fn model_input(&self, wave: &Waveform) -> Result<Features> {
        Ok(self.finish(&self.fbank(wave)?))
    }

    /// Model inputs of many waveforms, computed in parallel, in input order.
    pub fn model_input_batch(&self, waves: &[Waveform]) -> Vec<Result<Features>> {
        waves.par_iter().map(|w| self.model_input(w)).collect()
    }

    /// A `(batch, frames, bins)` tensor of model inputs; every clip must give the same length
    /// (always true when `frames` is set).
    pub fn batch_tensor(&self, waves: &[Waveform], device: &Device) -> Result<Tensor> {
        let feats = self
            .model_input_batch(waves)
            .into_iter()
            .collect::<Result<Vec<_>>>()?;
        let (frames, bins) = feats.first().map_or((0, 0), |f| (f.frames, f.bins));
        if let Some(i) = feats.iter().position(|f| f.frames != frames) {
            return Err(Error::shape(
                format!("model input {i}"),
                (frames, bins),
                (feats[i].frames, feats[i].bins),
            ));
        }
        let data: Vec<f32> = feats.into_iter().flat_map(|f| f.data).collect();
        Ok(Tensor::from_vec(data, (waves.len(), frames, bins), device)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_is_zero_rows_then_normalised() {
        let f = Features {
            data: vec![1.0, 2.0, 3.0, 4.0],
            frames: 2,
            bins: 2,
        };
        let p = pad_or_crop(&f, 3);
        assert_eq!(p.data, vec![1.0, 2.0, 3.0, 4.0, 0.0, 0.0]);
        let c = pad_or_crop(&f, 1);
        assert_eq!(c.data, vec![1.0, 2.0]);
        let mut n = p.clone();
        let (mean, std) = Preset::AudioSet.stats();
        normalize(&mut n, mean, std);
        // A padded zero becomes -mean / (2 std), about +0.467 for AudioSet.
        assert!((n.data[5] - 0.467_04).abs() < 1e-4, "{}", n.data[5]);
    }

    #[test]
    fn presets_parse() {
        assert_eq!("as20k".parse::<Preset>().unwrap(), Preset::AudioSet);
        assert_eq!(
            "Speech-Commands".parse::<Preset>().unwrap(),
            Preset::SpeechCommands
        );
        assert!("imagenet".parse::<Preset>().is_err());
    }
}
