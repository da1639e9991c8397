//! Kaldi-compatible log-mel filter-bank features, matching
//! `torchaudio.compliance.kaldi.fbank` option for option.

use std::sync::Arc;

use aum_core::{Error, Result};
use candle_core::{Device, Tensor};
use rayon::prelude::*;
use realfft::{RealFftPlanner, RealToComplex};

use crate::dither::GaussianNoise;
use crate::fastlog::ln;
use crate::mel::{mel_banks, MelFilter};
use crate::window::{window, WindowType};

/// The options of `torchaudio.compliance.kaldi.fbank`, with its defaults.
///
/// VTLN warping is not supported (`vtln_warp = 1`, which every AuM/AST recipe uses).
#[derive(Debug, Clone, PartialEq)]
pub struct FbankOptions {
    /// Sample rate of the input, Hz.
    pub sample_rate: f64,
    /// Frame length, ms.
    pub frame_length_ms: f64,
    /// Frame shift (hop), ms.
    pub frame_shift_ms: f64,
    /// Only whole frames inside the signal (true), or frames centred on multiples of the shift
    /// with the signal reflected at the edges (false).
    pub snip_edges: bool,
    /// Zero-pad each frame to the next power of two before the FFT.
    pub round_to_power_of_two: bool,
    /// Pre-emphasis coefficient `c` in `x[n] - c * x[n - 1]` (0 disables it).
    pub preemphasis: f32,
    /// Subtract each frame's mean before pre-emphasis.
    pub remove_dc_offset: bool,
    /// Analysis window applied to each frame.
    pub window_type: WindowType,
    /// `c` of the Blackman window; used only with [`WindowType::Blackman`].
    pub blackman_coeff: f64,
    /// Standard deviation of Gaussian noise added to each frame (0 disables dithering).
    pub dither: f32,
    /// Seed of the dither noise, so dithered features are reproducible.
    pub dither_seed: u64,
    /// Lower edge of the mel bank, Hz.
    pub low_freq: f64,
    /// Upper edge of the mel bank; `<= 0` means `nyquist + high_freq`.
    pub high_freq: f64,
    /// Number of triangular mel filters (at least 3; 128 for AuM/AST).
    pub num_mel_bins: usize,
    /// Power spectrum (true) or magnitude spectrum (false).
    pub use_power: bool,
    /// Natural log of the mel energies (floored at `f32::EPSILON`) rather than linear energies.
    pub use_log_fbank: bool,
    /// Append (htk_compat) or prepend the log frame energy as an extra column.
    pub use_energy: bool,
    /// Compute the energy before pre-emphasis and windowing.
    pub raw_energy: bool,
    /// Floor of the energy (not log energy); 0 disables the floor.
    pub energy_floor: f64,
    /// Put the energy column last instead of first.
    pub htk_compat: bool,
    /// Subtract the mean of each column over the whole clip.
    pub subtract_mean: bool,
}

impl Default for FbankOptions {
    fn default() -> Self {
        Self {
            sample_rate: 16000.0,
            frame_length_ms: 25.0,
            frame_shift_ms: 10.0,
            snip_edges: true,
            round_to_power_of_two: true,
            preemphasis: 0.97,
            remove_dc_offset: true,
            window_type: WindowType::Povey,
            blackman_coeff: 0.42,
            dither: 0.0,
            dither_seed: 0,
            low_freq: 20.0,
            high_freq: 0.0,
            num_mel_bins: 23,
            use_power: true,
            use_log_fbank: true,
            use_energy: false,
            raw_energy: true,
            energy_floor: 1.0,
            htk_compat: false,
            subtract_mean: false,
        }
    }
}

impl FbankOptions {
    /// The front end of AuM and AST: `fbank(htk_compat=True, sample_frequency=sr,
    /// use_energy=False, window_type='hanning', num_mel_bins=128, dither=0.0, frame_shift=10)`.
    pub fn aum(sample_rate: f64) -> Self {
        Self {
            sample_rate,
            htk_compat: true,
            use_energy: false,
            window_type: WindowType::Hanning,
            num_mel_bins: 128,
            dither: 0.0,
            frame_shift_ms: 10.0,
            ..Self::default()
        }
    }

    /// Samples per frame and per shift, computed as Python does (`int(sr * ms * 0.001)`).
    pub fn window_size(&self) -> usize {
        (self.sample_rate * self.frame_length_ms * 0.001) as usize
    }

    /// Samples between frame starts (`int(sr * shift_ms * 0.001)`).
    pub fn window_shift(&self) -> usize {
        (self.sample_rate * self.frame_shift_ms * 0.001) as usize
    }

    /// FFT length: the window size, rounded up to a power of two if `round_to_power_of_two`.
    pub fn padded_window_size(&self) -> usize {
        let w = self.window_size();
        if self.round_to_power_of_two {
            w.next_power_of_two()
        } else {
            w
        }
    }

    /// Number of frames for `n` samples.
    pub fn num_frames(&self, n: usize) -> usize {
        let (size, shift) = (self.window_size(), self.window_shift());
        if self.snip_edges {
            if n < size {
                0
            } else {
                1 + (n - size) / shift
            }
        } else {
            (n + shift / 2) / shift
        }
    }

    /// Columns of the output: mel bins, plus one for the energy.
    pub fn num_columns(&self) -> usize {
        self.num_mel_bins + usize::from(self.use_energy)
    }
}

/// Features of one clip: `frames x bins`, row-major, f32.
#[derive(Debug, Clone, PartialEq)]
pub struct Features {
    /// `frames * bins` values, frame after frame.
    pub data: Vec<f32>,
    /// Number of frames (rows).
    pub frames: usize,
    /// Values per frame (columns): mel bins, plus energy if enabled.
    pub bins: usize,
}

impl Features {
    /// Row `i` (one frame).
    pub fn frame(&self, i: usize) -> &[f32] {
        &self.data[i * self.bins..(i + 1) * self.bins]
    }

    /// The features as a `(frames, bins)` tensor.
    pub fn to_tensor(&self, device: &Device) -> Result<Tensor> {
        Ok(Tensor::from_slice(
            &self.data,
            (self.frames, self.bins),
            device,
        )?)
    }
}

/// A configured Kaldi fbank extractor: window, mel bank and FFT plan are built once and shared
/// by every clip (and thread) it processes.
#[derive(Clone)]
pub struct KaldiFbank {
    opts: FbankOptions,
    window: Vec<f32>,
    filters: Vec<MelFilter>,
    fft: Arc<dyn RealToComplex<f32>>,
}

impl std::fmt::Debug for KaldiFbank {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KaldiFbank")
            .field("opts", &self.opts)
            .finish()
    }
}

impl KaldiFbank {
    /// Builds the window, mel bank and FFT plan; fails on a frame under 2 samples, a zero
    /// shift or a mel bank the sample rate cannot hold.
    pub fn new(opts: FbankOptions) -> Result<Self> {
        let size = opts.window_size();
        let shift = opts.window_shift();
        if size < 2 || shift == 0 {
            return Err(Error::InvalidInput(format!(
                "frame length {} ms and shift {} ms at {} Hz give {size} and {shift} samples",
                opts.frame_length_ms, opts.frame_shift_ms, opts.sample_rate
            )));
        }
        let padded = opts.padded_window_size();
        let window = window(opts.window_type, size, opts.blackman_coeff);
        let filters = mel_banks(
            opts.num_mel_bins,
            padded,
            opts.sample_rate,
            opts.low_freq,
            opts.high_freq,
        )?;
        let fft = RealFftPlanner::<f32>::new().plan_fft_forward(padded);
        Ok(Self {
            opts,
            window,
            filters,
            fft,
        })
    }

    /// The AuM/AST extractor for audio at `sample_rate` Hz.
    pub fn aum(sample_rate: u32) -> Result<Self> {
        Self::new(FbankOptions::aum(sample_rate as f64))
    }

    /// The options the extractor was built with.
    pub fn options(&self) -> &FbankOptions {
        &self.opts
    }

    /// Features of a mono signal sampled at `options().sample_rate`. A signal shorter than one
    /// frame gives zero frames, as torchaudio does.
    pub fn compute(&self, signal: &[f32]) -> Features {
        let o = &self.opts;
        let frames = o.num_frames(signal.len());
        let cols = o.num_columns();
        let mut data = vec![0f32; frames * cols];
        let mut noise = (o.dither != 0.0).then(|| GaussianNoise::new(o.dither_seed));
        let mut scratch = FrameScratch::new(self);
        for (i, row) in data.chunks_exact_mut(cols).enumerate() {
            self.frame(signal, i, noise.as_mut(), &mut scratch, row);
        }
        if o.subtract_mean && frames > 0 {
            for c in 0..cols {
                let mean =
                    (0..frames).map(|i| data[i * cols + c] as f64).sum::<f64>() / frames as f64;
                for i in 0..frames {
                    data[i * cols + c] -= mean as f32;
                }
            }
        }
        Features {
            data,
            frames,
            bins: cols,
        }
    }

    /// Features of many signals in parallel (rayon), in input order.
    pub fn compute_batch(&self, signals: &[&[f32]]) -> Vec<Features> {
        signals.par_iter().map(|s| self.compute(s)).collect()
    }

    /// Fills `row` with the features of frame `i`.
    fn frame(
        &self,
        signal: &[f32],
        i: usize,
        noise: Option<&mut GaussianNoise>,
        s: &mut FrameScratch,
        row: &mut [f32],
    ) {
        let o = &self.opts;
        let size = self.window.len();
        let raw = &mut s.raw[..size];
        copy_frame(signal, i, o, raw);
        if let Some(noise) = noise {
            for v in raw.iter_mut() {
                *v += noise.sample() * o.dither;
            }
        }
        let mean = if o.remove_dc_offset { mean(raw) } else { 0.0 };
        let mut energy = 0f32;
        if o.use_energy && o.raw_energy {
            energy = log_energy(raw.iter().map(|&v| v - mean), o.energy_floor);
        }
        // DC removal, pre-emphasis (the first sample uses itself as its predecessor) and the
        // window in one pass, each step rounded in f32 as torchaudio does.
        let c = o.preemphasis;
        let frame = &mut s.frame[..size];
        frame[0] = ((raw[0] - mean) - c * (raw[0] - mean)) * self.window[0];
        for j in 1..size {
            frame[j] = ((raw[j] - mean) - c * (raw[j - 1] - mean)) * self.window[j];
        }
        s.frame[size..].fill(0.0);
        if o.use_energy && !o.raw_energy {
            energy = log_energy(s.frame.iter().copied(), o.energy_floor);
        }
        // The input buffer doubles as FFT scratch, so it is rebuilt for every frame.
        self.fft
            .process_with_scratch(&mut s.frame, &mut s.spectrum, &mut s.fft_scratch)
            .expect("buffer sizes come from the plan");
        for (p, c) in s.power.iter_mut().zip(&s.spectrum) {
            let pow = c.re * c.re + c.im * c.im;
            *p = if o.use_power { pow } else { pow.sqrt() };
        }
        let (mel_cols, energy_col) = if !o.use_energy {
            (&mut row[..], None)
        } else if o.htk_compat {
            let (m, e) = row.split_at_mut(o.num_mel_bins);
            (m, Some(&mut e[0]))
        } else {
            let (e, m) = row.split_at_mut(1);
            (m, Some(&mut e[0]))
        };
        for (out, f) in mel_cols.iter_mut().zip(&self.filters) {
            let bins = &s.power[f.start..f.start + f.weights.len()];
            *out = bins.iter().zip(&f.weights).map(|(p, w)| p * w).sum();
        }
        if o.use_log_fbank {
            // A separate pass so the logarithm vectorises.
            for v in mel_cols.iter_mut() {
                *v = ln(v.max(f32::EPSILON));
            }
        }
        if let Some(slot) = energy_col {
            *slot = energy;
        }
    }
}

/// Per-frame buffers, reused across the frames of one clip.
struct FrameScratch {
    /// The frame's samples as read from the signal.
    raw: Vec<f32>,
    /// The windowed, zero-padded frame (FFT input).
    frame: Vec<f32>,
    spectrum: Vec<realfft::num_complex::Complex<f32>>,
    fft_scratch: Vec<realfft::num_complex::Complex<f32>>,
    power: Vec<f32>,
}

impl FrameScratch {
    fn new(fb: &KaldiFbank) -> Self {
        Self {
            raw: vec![0.0; fb.window.len()],
            frame: fb.fft.make_input_vec(),
            spectrum: fb.fft.make_output_vec(),
            fft_scratch: fb.fft.make_scratch_vec(),
            power: vec![0.0; fb.fft.len() / 2 + 1],
        }
    }
}

/// Copies frame `i` into `out`: a plain slice with `snip_edges`, otherwise a frame centred on
/// `i * shift` with the signal reflected at both ends (Kaldi's convention).
fn copy_frame(signal: &[f32], i: usize, o: &FbankOptions, out: &mut [f32]) {
    let (size, shift) = (out.len(), o.window_shift());
    if o.snip_edges {
        out.copy_from_slice(&signal[i * shift..i * shift + size]);
        return;
    }
    let n = signal.len() as isize;
    let offset = (size / 2) as isize - (shift / 2) as isize;
    let start = (i * shift) as isize - offset;
    for (j, v) in out.iter_mut().enumerate() {
        let mut k = start + j as isize;
        // Reflection without repeating the edge sample on the left (x[-1] = x[0]) mirrors
        // torchaudio: the left pad is x[pad-1..0] and the right pad is x reversed.
        if k < 0 {
            k = -k - 1;
        } else if k >= n {
            k = 2 * n - 1 - k;
        }
        *v = signal[k.clamp(0, n - 1) as usize];
    }
}

/// The mean, accumulated in f64 over 8 independent lanes (vectorised, and accurate enough for
/// near-silent frames, whose log energies are sensitive to the DC estimate).
fn mean(x: &[f32]) -> f32 {
    let mut acc = [0f64; 8];
    let chunks = x.chunks_exact(8);
    let tail: f64 = chunks.remainder().iter().map(|&v| v as f64).sum();
    for c in chunks {
        for (a, &v) in acc.iter_mut().zip(c) {
            *a += v as f64;
        }
    }
    ((acc.iter().sum::<f64>() + tail) / x.len() as f64) as f32
}

/// `log(max(sum x^2, eps))`, floored at `log(energy_floor)` when the floor is positive.
fn log_energy(x: impl Iterator<Item = f32>, energy_floor: f64) -> f32 {
    let e = x.map(|v| v * v).sum::<f32>().max(f32::EPSILON).ln();
    if energy_floor > 0.0 {
        e.max(energy_floor.ln() as f32)
    } else {
        e
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frame_counts_follow_kaldi() {
        let o = FbankOptions::aum(16000.0);
        assert_eq!(o.window_size(), 400);
        assert_eq!(o.window_shift(), 160);
        assert_eq!(o.padded_window_size(), 512);
        assert_eq!(o.num_frames(160_000), 998);
        assert_eq!(o.num_frames(16_000), 98);
        assert_eq!(o.num_frames(399), 0);
        let o = FbankOptions::aum(22050.0);
        assert_eq!((o.window_size(), o.window_shift()), (551, 220));
    }

    #[test]
    fn silence_gives_the_log_floor() {
        let fb = KaldiFbank::aum(16000).unwrap();
        let f = fb.compute(&vec![0.0; 16000]);
        assert_eq!((f.frames, f.bins), (98, 128));
        let floor = f32::EPSILON.ln();
        assert!(f.data.iter().all(|&v| v == floor));
    }

    #[test]
    fn energy_column_position_follows_htk_compat() {
        let sig: Vec<f32> = (0..4000).map(|i| ((i as f32) * 0.1).sin() * 0.3).collect();
        let mut o = FbankOptions::aum(16000.0);
        o.use_energy = true;
        let htk = KaldiFbank::new(o.clone()).unwrap().compute(&sig);
        o.htk_compat = false;
        let kaldi = KaldiFbank::new(o).unwrap().compute(&sig);
        assert_eq!(htk.bins, 129);
        assert_eq!(htk.frame(3)[128], kaldi.frame(3)[0]);
        assert_eq!(htk.frame(3)[..128], kaldi.frame(3)[1..]);
    }

    fn chirp(n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (i as f32 * 0.001 * i as f32 / n as f32 * 40.0).sin() * 0.3 + 0.01)
            .collect()
    }

    #[test]
    fn raw_energy_is_the_log_energy_of_the_dc_removed_frame() {
        let sig = chirp(2000);
        let mut o = FbankOptions::aum(16000.0);
        o.use_energy = true;
        o.energy_floor = 0.0;
        let f = KaldiFbank::new(o).unwrap().compute(&sig);
        let frame = &sig[160 * 2..160 * 2 + 400];
        let mean = frame.iter().map(|&v| v as f64).sum::<f64>() / 400.0;
        let energy = frame
            .iter()
            .map(|&v| (v as f64 - mean).powi(2))
            .sum::<f64>()
            .ln();
        assert!((f.frame(2)[128] as f64 - energy).abs() < 1e-4);
    }

    #[test]
    fn unsnipped_frames_are_centred_and_reflect_the_edges() {
        let sig = chirp(1000);
        let mut o = FbankOptions::aum(16000.0);
        o.snip_edges = false;
        assert_eq!(o.num_frames(1000), (1000 + 80) / 160);
        let mut out = vec![0.0; 400];
        copy_frame(&sig, 0, &o, &mut out);
        // Frame 0 starts 400/2 - 160/2 = 120 samples before the signal: x[119], ..., x[0], x[0..].
        assert_eq!(out[0], sig[119]);
        assert_eq!(out[119], sig[0]);
        assert_eq!(out[120], sig[0]);
        copy_frame(&sig, 6, &o, &mut out);
        // Frame 6 covers 840..1240: past the end the signal is mirrored, x[999], x[998] ...
        assert_eq!(out[160], sig[999]);
        assert_eq!(out[161], sig[998]);
    }

    #[test]
    fn magnitude_spectrum_and_mean_subtraction() {
        let sig = chirp(4000);
        let mut o = FbankOptions::aum(16000.0);
        o.use_log_fbank = false;
        // The front end is linear up to the spectrum, so doubling the signal multiplies the
        // power-mel energies by 4 and the magnitude-mel energies by 2.
        let loud: Vec<f32> = sig.iter().map(|v| v * 2.0).collect();
        for (power, factor) in [(true, 4.0f32), (false, 2.0)] {
            o.use_power = power;
            let fb = KaldiFbank::new(o.clone()).unwrap();
            let (a, b) = (fb.compute(&sig), fb.compute(&loud));
            for (x, y) in a.data.iter().zip(&b.data) {
                assert!(
                    (y - factor * x).abs() <= 1e-4 * y.abs().max(1e-3),
                    "{power}: {x} {y}"
                );
            }
        }
        o.use_power = true;
        o.use_log_fbank = true;
        o.subtract_mean = true;
        let f = KaldiFbank::new(o).unwrap().compute(&sig);
        for c in 0..f.bins {
            let m: f64 = (0..f.frames).map(|i| f.frame(i)[c] as f64).sum::<f64>() / f.frames as f64;
            assert!(m.abs() < 1e-4, "column {c} mean {m}");
        }
    }
}
