use crate::{Error, Result};

/// Decoded audio: one `Vec<f32>` per channel, all the same length, at `sample_rate` Hz.
///
/// Samples are scaled as `torchaudio.load` scales them (integer PCM divided by 2^(bits-1), so
/// int16 `x` becomes `x / 32768`), because the reference models were trained on that scale.
#[derive(Debug, Clone, PartialEq)]
pub struct Waveform {
    channels: Vec<Vec<f32>>,
    sample_rate: u32,
}

impl Waveform {
    /// A waveform from per-channel samples; every channel must have the same length and there
    /// must be at least one channel and a positive sample rate.
    pub fn new(channels: Vec<Vec<f32>>, sample_rate: u32) -> Result<Self> {
        if channels.is_empty() {
            return Err(Error::InvalidInput(
                "a waveform needs at least one channel".into(),
            ));
        }
        if sample_rate == 0 {
            return Err(Error::InvalidInput("sample rate must be positive".into()));
        }
        let n = channels[0].len();
        if let Some((i, c)) = channels.iter().enumerate().find(|(_, c)| c.len() != n) {
            return Err(Error::InvalidInput(format!(
                "channel {i} has {} samples, channel 0 has {n}",
                c.len()
            )));
        }
        Ok(Self {
            channels,
            sample_rate,
        })
    }

    /// A single-channel waveform.
    pub fn mono(samples: Vec<f32>, sample_rate: u32) -> Result<Self> {
        Self::new(vec![samples], sample_rate)
    }

    /// The samples, one `Vec` per channel, all the same length.
    pub fn channels(&self) -> &[Vec<f32>] {
        &self.channels
    }

    /// The samples, consuming the waveform.
    pub fn into_channels(self) -> Vec<Vec<f32>> {
        self.channels
    }

    /// Samples per second.
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Number of channels (at least 1).
    pub fn num_channels(&self) -> usize {
        self.channels.len()
    }

    /// Samples per channel.
    pub fn num_frames(&self) -> usize {
        self.channels.first().map_or(0, Vec::len)
    }

    /// Duration in seconds (`num_frames / sample_rate`).
    pub fn duration_secs(&self) -> f64 {
        self.num_frames() as f64 / self.sample_rate as f64
    }

    /// The AuM/AST convention: subtract the mean over *all* channels and samples, then keep
    /// channel 0 (`waveform - waveform.mean()` followed by kaldi.fbank's default `channel=-1`).
    pub fn centered_channel0(&self) -> Vec<f32> {
        let total: usize = self.channels.iter().map(Vec::len).sum();
        // Accumulate in f64: a 10 s clip has 160k samples and f32 sums drift.
        let sum: f64 = self
            .channels
            .iter()
            .flat_map(|c| c.iter())
            .map(|&x| x as f64)
            .sum();
        let mean = if total == 0 { 0.0 } else { sum / total as f64 } as f32;
        self.channels[0].iter().map(|&x| x - mean).collect()
    }

    /// The average of all channels (a downmix), for users who want every channel's content.
    pub fn downmix(&self) -> Vec<f32> {
        let k = self.channels.len() as f32;
        (0..self.num_frames())
            .map(|i| self.channels.iter().map(|c| c[i]).sum::<f32>() / k)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn centering_uses_all_channels_and_keeps_channel_0() {
        let w = Waveform::new(vec![vec![1.0, 3.0], vec![5.0, 7.0]], 16000).unwrap();
        // mean over all four samples is 4
        assert_eq!(w.centered_channel0(), vec![-3.0, -1.0]);
        assert_eq!(w.downmix(), vec![3.0, 5.0]);
        assert_eq!(w.num_frames(), 2);
    }

    #[test]
    fn ragged_channels_are_rejected() {
        let e = Waveform::new(vec![vec![0.0; 3], vec![0.0; 2]], 8000).unwrap_err();
        assert!(e.to_string().contains("channel 1 has 2 samples"), "{e}");
        assert!(Waveform::new(vec![], 8000).is_err());
        assert!(Waveform::mono(vec![0.0], 0).is_err());
    }
}
