//! The selective scan (Mamba-1 "S6"), forward and backward, as a candle op.
//!
//! For every batch `b`, channel `d` and state `n`, stepping through time `t` (in order, or from
//! the last token to the first for [`Direction::Reverse`]):
//!
//! ```text
//! dt      = delta[t,d] + delta_bias[d];  if softplus && dt <= 20 { dt = ln(1 + e^dt) }
//! h[d,n]  = exp(dt * A[d,n]) * h[d,n] + dt * B[t,g(d),n] * u[t,d]       (h starts at h0, or 0)
//! y[t,d]  = (sum_n C[t,g(d),n] * h[d,n] + D[d] * u[t,d]) * silu(z[t,d])
//! ```
//!
//! where `g(d) = d / (d_inner / groups)`: channels are split into contiguous groups that share
//! B and C, as upstream. The scan also returns the state after the last step.
//!
//! # Layout
//!
//! Token-major, which is what the model produces and what the CPU kernel vectorises over
//! (channels are contiguous for each token). Upstream's CUDA op is channel-major instead; see
//! `docs/kernels.md`.
//!
//! | tensor | shape |
//! |---|---|
//! | `u`, `delta`, `z`, `y` | (batch, L, d_inner) |
//! | `B`, `C` | (batch, L, groups, d_state), or (batch, L, d_state) when groups = 1 |
//! | `A` | (d_inner, d_state), real; Mamba passes `-exp(A_log)` |
//! | `D`, `delta_bias` | (d_inner) |
//! | `h0`, `last_state` | (batch, d_inner, d_state) |
//!
//! # Entry points
//!
//! - [`selective_scan`]: candle tensors, recorded for autograd (gradients flow to u, delta, A,
//!   B, C, D, z and delta_bias; `h0` is treated as a constant).
//! - [`scan_forward`] / [`scan_backward`]: plain `f32` slices, for callers without candle
//!   tensors (the CLI, benchmarks, other kernels' tests).
//! - [`scan_forward_with_checkpoints`] / [`scan_backward_from_checkpoints`]: the same, with
//!   the forward keeping the state every 32 tokens so that the backward need not run the
//!   recurrence through the sequence again (what [`selective_scan`] does for autograd).
//! - [`selective_scan_bidirectional`] / [`scan_bidirectional`]: AuM's v1 block, the scan
//!   forward with one `A` plus the scan in reverse with another over the same inputs, fused on
//!   AVX-512 CPUs for inference.
//!
//! Both run on a [`Backend`]: `Reference` (plain loops, the oracle), `Cpu` (fused and
//! vectorised) or `Cuda` (the kernels of `kernels/selective_scan.cu`, built with the `cuda`
//! feature; [`selective_scan`] on CUDA tensors only).
//!
//! The benchmarks compare the kernels with the tensor-op loop of candle-transformers' Mamba
//! (a hidden `baseline` module, not part of the API).

// A benchmark baseline for `aum bench scan` and the criterion benches, not part of the API.
#[doc(hidden)]
pub mod baseline;
mod bidirectional;
mod cpu;
#[cfg(feature = "cuda")]
mod cuda;
mod error;
mod op;
mod reference;

pub use aum_kernels::Precision;
pub use bidirectional::{scan_bidirectional, BiScanResult};
pub use error::{Error, Result};
pub use op::{selective_scan, selective_scan_bidirectional, BiScanOutput, ScanInputs, ScanOutput};

/// Which way the recurrence runs through time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Direction {
    /// From token 0 to token L-1.
    #[default]
    Forward,
    /// From token L-1 down to token 0, reading the same (unflipped) tensors: equal to flipping
    /// every input in time, scanning forward and flipping `y` back (the backward branch of a
    /// bidirectional Vim/AuM layer).
    Reverse,
}

impl Direction {
    /// The token that step `step` (counted from 0 in scan order) reads.
    #[inline(always)]
    pub(crate) fn token(self, step: usize, len: usize) -> usize {
        match self {
            Direction::Forward => step,
            Direction::Reverse => len - 1 - step,
        }
    }
}

/// Where the scan runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Backend {
    /// Plain scalar loops, written for clarity: the oracle the others are tested against.
    Reference,
    /// The fused, vectorised, multi-threaded CPU kernel.
    #[default]
    Cpu,
    /// The CUDA kernels, for [`selective_scan`] on CUDA tensors in builds with the `cuda`
    /// feature. The slice API ([`scan_forward`], [`scan_backward`]) and builds without the
    /// feature return [`Error::BackendUnavailable`] for it.
    Cuda,
}

impl Backend {
    /// The name used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Reference => "reference",
            Backend::Cpu => "cpu",
            Backend::Cuda => "cuda",
        }
    }
}

impl std::str::FromStr for Backend {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self> {
        match s {
            "reference" => Ok(Backend::Reference),
            "cpu" => Ok(Backend::Cpu),
            "cuda" => Ok(Backend::Cuda),
            other => Err(Error::Dims(format!(
                "unknown backend `{other}` (expected reference, cpu or cuda)"
            ))),
        }
    }
}

/// Options that are not tensors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanOptions {
    /// Apply softplus (with upstream's threshold of 20) to `delta + delta_bias`. Every Mamba
    /// block does, so the default is `true` (upstream's function defaults to `false`).
    pub softplus: bool,
    /// Which way to scan.
    pub direction: Direction,
    /// Which implementation runs.
    pub backend: Backend,
    /// The accuracy of the decays `exp(dt·A)` in the CPU forward: [`Precision::Bf16`] takes a
    /// degree-3 polynomial for `2^f` (1.03e-4 relative, against 1.4e-7; exact at both ends, so
    /// decays near 1 keep `1 - decay` to 0.3 %) on AVX-512, for models
    /// whose matrix products run in bf16 anyway. States, sums and outputs stay f32; the
    /// backward, the reference and CUDA ignore it.
    pub precision: Precision,
}

impl Default for ScanOptions {
    fn default() -> Self {
        Self {
            softplus: true,
            direction: Direction::Forward,
            backend: Backend::Cpu,
            precision: Precision::F32,
        }
    }
}

/// The sizes of one scan problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScanDims {
    /// Independent sequences.
    pub batch: usize,
    /// Tokens per sequence (L).
    pub len: usize,
    /// Channels (d_inner).
    pub d_inner: usize,
    /// States per channel (N, 16 in Mamba).
    pub d_state: usize,
    /// Groups of channels sharing B and C (1 in Mamba-1); must divide `d_inner`.
    pub groups: usize,
}

impl ScanDims {
    /// Channels per group.
    pub(crate) fn group_width(&self) -> usize {
        self.d_inner / self.groups
    }

    /// Elements of u, delta, z or y.
    pub fn seq_elems(&self) -> usize {
        self.batch * self.len * self.d_inner
    }

    /// Elements of B or C.
    pub fn bc_elems(&self) -> usize {
        self.batch * self.len * self.groups * self.d_state
    }

    /// Elements of A.
    pub fn a_elems(&self) -> usize {
        self.d_inner * self.d_state
    }

    /// Elements of h0 or last_state.
    pub fn state_elems(&self) -> usize {
        self.batch * self.d_inner * self.d_state
    }

    /// Checks that the sizes fit together.
    pub fn validate(&self) -> Result<()> {
        if self.d_inner == 0 || self.d_state == 0 || self.groups == 0 {
            return Err(Error::Dims(format!(
                "d_inner ({}), d_state ({}) and groups ({}) must be positive",
                self.d_inner, self.d_state, self.groups
            )));
        }
        if !self.d_inner.is_multiple_of(self.groups) {
            return Err(Error::Dims(format!(
                "groups ({}) must divide d_inner ({})",
                self.groups, self.d_inner
            )));
        }
        Ok(())
    }
}

/// The scan's inputs owned, laid out as [`ScanSlices`] (which [`ScanData::slices`] borrows):
/// for callers that build or load a problem and scan it, such as the CLI and benchmarks.
#[derive(Clone, Debug)]
pub struct ScanData {
    /// The problem sizes.
    pub dims: ScanDims,
    /// (batch, L, d_inner).
    pub u: Vec<f32>,
    /// (batch, L, d_inner), before bias and softplus.
    pub delta: Vec<f32>,
    /// (d_inner, d_state).
    pub a: Vec<f32>,
    /// (batch, L, groups, d_state).
    pub b: Vec<f32>,
    /// (batch, L, groups, d_state).
    pub c: Vec<f32>,
    /// (d_inner): the skip term `D·u`.
    pub d: Option<Vec<f32>>,
    /// (batch, L, d_inner): the gate, `y *= silu(z)`.
    pub z: Option<Vec<f32>>,
    /// (d_inner): added to delta before softplus.
    pub delta_bias: Option<Vec<f32>>,
    /// (batch, d_inner, d_state): the initial state (zero if absent).
    pub h0: Option<Vec<f32>>,
}

impl ScanData {
    /// Borrows the data as [`ScanSlices`] for the scan functions.
    pub fn slices(&self) -> ScanSlices<'_> {
        ScanSlices {
            dims: self.dims,
            u: &self.u,
            delta: &self.delta,
            a: &self.a,
            b: &self.b,
            c: &self.c,
            d: self.d.as_deref(),
            z: self.z.as_deref(),
            delta_bias: self.delta_bias.as_deref(),
            h0: self.h0.as_deref(),
        }
    }
}

/// The scan's inputs as contiguous row-major `f32` slices, laid out as in the crate docs
/// (B and C always as (batch, L, groups, d_state)).
#[derive(Clone, Copy, Debug)]
pub struct ScanSlices<'a> {
    /// The problem sizes.
    pub dims: ScanDims,
    /// (batch, L, d_inner).
    pub u: &'a [f32],
    /// (batch, L, d_inner), before bias and softplus.
    pub delta: &'a [f32],
    /// (d_inner, d_state).
    pub a: &'a [f32],
    /// (batch, L, groups, d_state).
    pub b: &'a [f32],
    /// (batch, L, groups, d_state).
    pub c: &'a [f32],
    /// (d_inner): the skip term `D·u`.
    pub d: Option<&'a [f32]>,
    /// (batch, L, d_inner): the gate, `y *= silu(z)`.
    pub z: Option<&'a [f32]>,
    /// (d_inner): added to delta before softplus.
    pub delta_bias: Option<&'a [f32]>,
    /// (batch, d_inner, d_state): the initial state (zero if absent).
    pub h0: Option<&'a [f32]>,
}

/// Checks that a slice has `expected` elements.
pub(crate) fn check_len(
    name: &'static str,
    data: &[f32],
    expected: usize,
    shape: String,
) -> Result<()> {
    if data.len() == expected {
        Ok(())
    } else {
        Err(Error::Shape {
            name,
            expected: format!("{shape} = {expected} elements"),
            actual: vec![data.len()],
        })
    }
}

impl ScanSlices<'_> {
    /// Checks the dims and every slice's length.
    pub fn validate(&self) -> Result<()> {
        let s = &self.dims;
        s.validate()?;
        let (b, l, di, n, g) = (s.batch, s.len, s.d_inner, s.d_state, s.groups);
        let seq = || format!("(batch={b}, L={l}, d_inner={di})");
        let bc = || format!("(batch={b}, L={l}, groups={g}, d_state={n})");
        check_len("u", self.u, s.seq_elems(), seq())?;
        check_len("delta", self.delta, s.seq_elems(), seq())?;
        check_len(
            "A",
            self.a,
            s.a_elems(),
            format!("(d_inner={di}, d_state={n})"),
        )?;
        check_len("B", self.b, s.bc_elems(), bc())?;
        check_len("C", self.c, s.bc_elems(), bc())?;
        if let Some(d) = self.d {
            check_len("D", d, di, format!("(d_inner={di})"))?;
        }
        if let Some(z) = self.z {
            check_len("z", z, s.seq_elems(), seq())?;
        }
        if let Some(bias) = self.delta_bias {
            check_len("delta_bias", bias, di, format!("(d_inner={di})"))?;
        }
        if let Some(h0) = self.h0 {
            let shape = format!("(batch={b}, d_inner={di}, d_state={n})");
            check_len("h0", h0, s.state_elems(), shape)?;
        }
        Ok(())
    }
}

/// What the forward scan returns.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanResult {
    /// (batch, L, d_inner).
    pub y: Vec<f32>,
    /// (batch, d_inner, d_state): the state after the last step.
    pub last_state: Vec<f32>,
}

/// Gradients of a loss with respect to the scan's inputs, in the inputs' layouts.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanGrads {
    /// (batch, L, d_inner).
    pub u: Vec<f32>,
    /// (batch, L, d_inner): with respect to the raw delta, before bias and softplus.
    pub delta: Vec<f32>,
    /// (d_inner, d_state).
    pub a: Vec<f32>,
    /// (batch, L, groups, d_state).
    pub b: Vec<f32>,
    /// (batch, L, groups, d_state).
    pub c: Vec<f32>,
    /// (d_inner), present when D was given.
    pub d: Option<Vec<f32>>,
    /// (batch, L, d_inner), present when z was given.
    pub z: Option<Vec<f32>>,
    /// (d_inner), present when delta_bias was given.
    pub delta_bias: Option<Vec<f32>>,
}

/// The instruction set the fused CPU kernel uses on this machine: `"avx512f+fma"`,
/// `"avx2+fma"` or `"portable"` (capped by the `AUM_ISA` environment variable, see [`aum_kernels::Isa`]).
pub fn cpu_kernel_isa() -> &'static str {
    cpu::isa_name()
}

/// Runs the scan on slices.
pub fn scan_forward(x: &ScanSlices<'_>, opts: &ScanOptions) -> Result<ScanResult> {
    x.validate()?;
    match opts.backend {
        Backend::Reference => Ok(reference::forward(x, opts.softplus, opts.direction)),
        Backend::Cpu => Ok(cpu::forward(x, opts.into(), opts.direction, false).0),
        Backend::Cuda => Err(Error::cuda_unavailable()),
    }
}

/// How many floats [`scan_forward_with_checkpoints`] saves for these dims and options: on CPUs
/// with AVX-512, the state at the start of every 32 tokens, `ceil(L / 32) · d_inner · d_state`
/// (each group's channels rounded up to 16); 0 for the reference and the AVX2 and portable
/// kernels, whose backward re-runs the recurrence itself.
pub fn checkpoint_len(dims: &ScanDims, opts: &ScanOptions) -> usize {
    match opts.backend {
        Backend::Cpu => cpu::checkpoint_len(dims),
        Backend::Reference | Backend::Cuda => 0,
    }
}

/// Runs the scan like [`scan_forward`] and also returns the states that the backward re-scans
/// its chunks from ([`checkpoint_len`] floats), for [`scan_backward_from_checkpoints`]: what
/// training does. Without them, [`scan_backward`] first runs the recurrence through the whole
/// sequence again to find those states (`aum bench scan --recompute` times it); with them it
/// costs 1/32 of the scan's states, kept from the forward to the backward (upstream's CUDA op keeps the
/// state every 2048 tokens for the same reason).
pub fn scan_forward_with_checkpoints(
    x: &ScanSlices<'_>,
    opts: &ScanOptions,
) -> Result<(ScanResult, Vec<f32>)> {
    x.validate()?;
    match opts.backend {
        Backend::Reference => Ok((
            reference::forward(x, opts.softplus, opts.direction),
            Vec::new(),
        )),
        Backend::Cpu => Ok(cpu::forward(
            x,
            cpu::Flags::exact(opts.softplus),
            opts.direction,
            true,
        )),
        Backend::Cuda => Err(Error::cuda_unavailable()),
    }
}

/// Back-propagates `grad_y` (batch, L, d_inner), and optionally `grad_last_state`
/// (batch, d_inner, d_state), through the scan. The forward states are recomputed, so only the
/// inputs are needed. `h0`, when given, is a constant: no gradient is returned for it.
pub fn scan_backward(
    x: &ScanSlices<'_>,
    grad_y: &[f32],
    grad_last_state: Option<&[f32]>,
    opts: &ScanOptions,
) -> Result<ScanGrads> {
    backward(x, None, grad_y, grad_last_state, opts)
}

/// [`scan_backward`] from the `checkpoints` that [`scan_forward_with_checkpoints`] returned
/// for the same inputs and options (states from other inputs give wrong gradients; a length
/// other than [`checkpoint_len`] is an error).
pub fn scan_backward_from_checkpoints(
    x: &ScanSlices<'_>,
    checkpoints: &[f32],
    grad_y: &[f32],
    grad_last_state: Option<&[f32]>,
    opts: &ScanOptions,
) -> Result<ScanGrads> {
    let want = checkpoint_len(&x.dims, opts);
    let what = format!(
        "what scan_forward_with_checkpoints returns for these dims and options (kernel {})",
        cpu_kernel_isa()
    );
    check_len("checkpoints", checkpoints, want, what)?;
    backward(x, Some(checkpoints), grad_y, grad_last_state, opts)
}

fn backward(
    x: &ScanSlices<'_>,
    checkpoints: Option<&[f32]>,
    grad_y: &[f32],
    grad_last_state: Option<&[f32]>,
    opts: &ScanOptions,
) -> Result<ScanGrads> {
    x.validate()?;
    let s = &x.dims;
    let seq = format!("(batch={}, L={}, d_inner={})", s.batch, s.len, s.d_inner);
    check_len("grad_y", grad_y, s.seq_elems(), seq)?;
    if let Some(g) = grad_last_state {
        let shape = format!(
            "(batch={}, d_inner={}, d_state={})",
            s.batch, s.d_inner, s.d_state
        );
        check_len("grad_last_state", g, s.state_elems(), shape)?;
    }
    let (softplus, dir) = (opts.softplus, opts.direction);
    match opts.backend {
        Backend::Reference => Ok(reference::backward(
            x,
            grad_y,
            grad_last_state,
            softplus,
            dir,
        )),
        Backend::Cpu => {
            let saved = checkpoints.filter(|c| !c.is_empty());
            Ok(cpu::backward(
                x,
                grad_y,
                grad_last_state,
                (softplus, dir),
                saved,
            ))
        }
        Backend::Cuda => Err(Error::cuda_unavailable()),
    }
}
