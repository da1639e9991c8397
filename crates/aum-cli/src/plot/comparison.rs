//! The chart of `aum bench compare`: forward time and memory against tokens, AuM against AST.

use aum_model::Precision;

use crate::commands::bench::compare::Point;

use super::{Canvas, BLACK, WHITE};

/// Two panels, time and memory against tokens (log2 axis), AuM solid and AST dashed per size.
pub fn comparison(points: &[&Point], precision: Precision) -> Canvas {
    const COLOURS: [[u8; 3]; 3] = [[31, 119, 180], [214, 39, 40], [44, 160, 44]];
    let (pw, ph, left, top, gap) = (420i64, 300i64, 70i64, 50i64, 110i64);
    let mut c = Canvas::new(
        (2 * (left + pw) + gap) as usize,
        (top + ph + 80) as usize,
        WHITE,
    );
    c.text(
        left,
        14,
        &format!("AuM (solid) vs AST (dashed) on CPU, batch 1, {precision}"),
        2,
        BLACK,
    );
    let sizes: Vec<&str> = points.iter().fold(Vec::new(), |mut v, p| {
        if !v.contains(&p.size.as_str()) {
            v.push(p.size.as_str());
        }
        v
    });
    let (tmin, tmax) = points.iter().fold((f64::MAX, 0f64), |(a, b), p| {
        (a.min(p.tokens as f64), b.max(p.tokens as f64))
    });
    for (panel, title) in [(0, "time (s)"), (1, "memory (MiB)")] {
        let x0 = left + panel * (left + pw + gap - 30);
        let value = |p: &Point, ast: bool| {
            let m = if ast { p.ast } else { p.aum };
            if panel == 0 {
                m.time_s
            } else {
                m.extra_mib
            }
        };
        let vmax = points
            .iter()
            .flat_map(|p| [value(p, false), value(p, true)])
            .fold(0f64, f64::max)
            .max(1e-9);
        c.line((x0, top), (x0, top + ph), BLACK);
        c.line((x0, top + ph), (x0 + pw, top + ph), BLACK);
        c.text(x0, top - 14, title, 1, BLACK);
        for k in 0..=4 {
            let y = top + ph - k * ph / 4;
            c.line((x0 - 4, y), (x0, y), BLACK);
            let label = format!("{:.1}", vmax * k as f64 / 4.0);
            c.text(
                x0 - 8 - Canvas::text_width(&label, 1),
                y - 3,
                &label,
                1,
                BLACK,
            );
        }
        let span = (tmax / tmin).log2().max(1.0);
        let xof = |t: usize| x0 + (((t as f64 / tmin).log2() / span) * pw as f64) as i64;
        let yof = |v: f64| top + ph - ((v / vmax) * ph as f64) as i64;
        let mut t = tmin as usize;
        while t as f64 <= tmax {
            c.line((xof(t), top + ph), (xof(t), top + ph + 4), BLACK);
            let label = t.to_string();
            c.text(
                xof(t) - Canvas::text_width(&label, 1) / 2,
                top + ph + 8,
                &label,
                1,
                BLACK,
            );
            t *= 2;
        }
        c.text(x0 + pw / 2 - 20, top + ph + 24, "tokens", 1, BLACK);
        for (si, size) in sizes.iter().enumerate() {
            let colour = COLOURS[si % COLOURS.len()];
            for ast in [false, true] {
                let pts: Vec<(i64, i64)> = points
                    .iter()
                    .filter(|p| p.size == *size)
                    .map(|p| (xof(p.tokens), yof(value(p, ast))))
                    .collect();
                for w in pts.windows(2) {
                    draw_segment(&mut c, w[0], w[1], colour, ast);
                }
                for p in &pts {
                    c.fill_rect(p.0 - 2, p.1 - 2, 5, 5, colour);
                }
            }
            c.fill_rect(left + 10, top + ph + 44 + si as i64 * 12, 10, 6, colour);
            c.text(left + 26, top + ph + 43 + si as i64 * 12, size, 1, BLACK);
        }
    }
    c
}

/// A solid or dashed line segment.
pub fn draw_segment(c: &mut Canvas, a: (i64, i64), b: (i64, i64), colour: [u8; 3], dashed: bool) {
    let steps = ((b.0 - a.0).abs().max((b.1 - a.1).abs())).max(1);
    for s in 0..=steps {
        if dashed && (s / 6) % 2 == 1 {
            continue;
        }
        let x = a.0 + (b.0 - a.0) * s / steps;
        let y = a.1 + (b.1 - a.1) * s / steps;
        c.fill_rect(x, y, 2, 2, colour);
    }
}
