//! The spectrogram chart of `aum fbank --png`: log-mel energies with time and mel-frequency
//! axes.

use aum_fbank::{mel_scale, Features};

use super::{magma, Canvas, BLACK, GREY, WHITE};

/// Draws a log-mel spectrogram: time left to right, low frequencies at the bottom, the magma
/// colour map over the clip's 1st-99.9th percentile, with time and frequency axes.
pub fn spectrogram(f: &Features, sample_rate: f64, title: &str) -> Canvas {
    let (left, right, top, bottom) = (78i64, 20i64, 34i64, 48i64);
    let plot_w = (f.frames.clamp(300, 1600)) as i64;
    let row_h = (384 / f.bins.max(1)).max(1) as i64;
    let plot_h = row_h * f.bins as i64;
    let mut c = Canvas::new(
        (left + plot_w + right) as usize,
        (top + plot_h + bottom) as usize,
        WHITE,
    );
    let mut sorted: Vec<f32> = f.data.iter().copied().filter(|v| v.is_finite()).collect();
    sorted.sort_by(f32::total_cmp);
    let pick = |q: f64| {
        sorted
            .get(((sorted.len().max(1) - 1) as f64 * q) as usize)
            .copied()
    };
    let (lo, hi) = (pick(0.01).unwrap_or(0.0), pick(0.999).unwrap_or(1.0));
    let span = (hi - lo).max(1e-6);
    for x in 0..plot_w {
        let frame =
            ((x as usize * f.frames.max(1)) / plot_w as usize).min(f.frames.saturating_sub(1));
        for b in 0..f.bins {
            let v = if f.frames == 0 { lo } else { f.frame(frame)[b] };
            let y = top + plot_h - (b as i64 + 1) * row_h;
            c.fill_rect(left + x, y, 1, row_h, magma((v - lo) / span));
        }
    }
    // Frame borders and title.
    c.line((left - 1, top - 1), (left + plot_w, top - 1), BLACK);
    c.line(
        (left - 1, top + plot_h),
        (left + plot_w, top + plot_h),
        BLACK,
    );
    c.line((left - 1, top - 1), (left - 1, top + plot_h), BLACK);
    c.line(
        (left + plot_w, top - 1),
        (left + plot_w, top + plot_h),
        BLACK,
    );
    c.text(left, 10, title, 2, BLACK);
    // Time axis: frame i starts at i * 10 ms.
    let seconds = f.frames as f64 * 0.01;
    let step = nice_step(seconds, 8);
    let mut t = 0.0;
    while t <= seconds + 1e-9 && step > 0.0 {
        let x = left + ((t / seconds.max(1e-9)) * plot_w as f64) as i64;
        c.line((x, top + plot_h), (x, top + plot_h + 5), BLACK);
        let label = format_tick(t, step);
        c.text(
            x - Canvas::text_width(&label, 1) / 2,
            top + plot_h + 9,
            &label,
            1,
            BLACK,
        );
        t += step;
    }
    c.text(
        left + plot_w / 2 - 24,
        top + plot_h + 28,
        "time (s)",
        1,
        BLACK,
    );
    // Frequency axis: mel bins are uniform in mel between 20 Hz and Nyquist, so a tick at f Hz
    // sits at the bin whose centre has that mel value.
    let (mel_lo, mel_hi) = (mel_scale(20.0), mel_scale(sample_rate / 2.0));
    for hz in [
        0.0, 250.0, 500.0, 1000.0, 2000.0, 4000.0, 8000.0, 16000.0, 24000.0,
    ] {
        if hz > sample_rate / 2.0 || hz < 20.0 {
            continue;
        }
        let pos = (mel_scale(hz) - mel_lo) / (mel_hi - mel_lo);
        let y = top + plot_h - (pos * plot_h as f64) as i64;
        c.line((left - 6, y), (left - 1, y), BLACK);
        c.line((left, y), (left + 3, y), GREY);
        let label = if hz >= 1000.0 {
            format!("{}k", hz / 1000.0)
        } else {
            format!("{hz}")
        };
        c.text(
            left - 10 - Canvas::text_width(&label, 1),
            y - 3,
            &label,
            1,
            BLACK,
        );
    }
    c.text(4, top + plot_h / 2 - 3, "Hz", 1, BLACK);
    c
}

/// A round tick step giving at most about `max_ticks` ticks over `span`.
fn nice_step(span: f64, max_ticks: usize) -> f64 {
    if span <= 0.0 {
        return 0.0;
    }
    let raw = span / max_ticks as f64;
    let mag = 10f64.powf(raw.log10().floor());
    [1.0, 2.0, 5.0, 10.0]
        .iter()
        .map(|m| m * mag)
        .find(|s| *s >= raw)
        .unwrap_or(10.0 * mag)
}

fn format_tick(v: f64, step: f64) -> String {
    let decimals = if step >= 1.0 {
        0
    } else {
        (-step.log10()).ceil() as usize
    };
    format!("{v:.decimals$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tick_steps_are_round() {
        assert_eq!(nice_step(10.0, 8), 2.0);
        assert_eq!(nice_step(0.5, 8), 0.1);
        assert_eq!(format_tick(0.30000000000000004, 0.1), "0.3");
        assert_eq!(format_tick(4.0, 2.0), "4");
    }
}
