//! The charts a training run writes: loss and metric curves per epoch, and the confusion
//! matrix of the best epoch.

use aum_train::EpochRecord;

use super::{magma, Canvas, BLACK, GREY, WHITE};

/// Training loss and validation accuracy / mAP per epoch.
pub fn curves_png(history: &[EpochRecord]) -> Canvas {
    let (left, top, w, h) = (60i64, 40i64, 640i64, 300i64);
    let mut c = Canvas::new((left + w + 200) as usize, (top + h + 50) as usize, WHITE);
    c.text(left, 12, "training curves", 2, BLACK);
    c.line((left, top), (left, top + h), BLACK);
    c.line((left, top + h), (left + w, top + h), BLACK);
    let n = history.len().max(2);
    let x_of = |e: usize| left + ((e as f64 - 1.0) / (n as f64 - 1.0) * w as f64) as i64;
    let max_loss = history.iter().map(|r| r.train_loss).fold(1e-9, f64::max);
    c.unit_y_axis(left, top, w, h);
    for r in history {
        let x = x_of(r.epoch);
        c.line((x, top + h), (x, top + h + 3), BLACK);
        if n <= 30 || r.epoch % 5 == 0 {
            c.text(x - 3, top + h + 8, &r.epoch.to_string(), 1, BLACK);
        }
    }
    c.text(left + w / 2 - 20, top + h + 28, "epoch", 1, BLACK);
    type Series = (&'static str, [u8; 3], fn(&EpochRecord, f64) -> Option<f64>);
    let series: [Series; 3] = [
        ("train loss / max", [31, 119, 180], |r, m| {
            Some(r.train_loss / m)
        }),
        ("val accuracy", [214, 39, 40], |r, _| {
            r.val.as_ref().map(|v| v.accuracy)
        }),
        ("val mAP", [44, 160, 44], |r, _| {
            r.val.as_ref().map(|v| v.map)
        }),
    ];
    for (i, (name, colour, value)) in series.iter().enumerate() {
        let pts: Vec<(i64, i64)> = history
            .iter()
            .filter_map(|r| {
                value(r, max_loss).map(|v| {
                    (
                        x_of(r.epoch),
                        top + h - (v.clamp(0.0, 1.0) * h as f64) as i64,
                    )
                })
            })
            .collect();
        for p in pts.windows(2) {
            c.line(p[0], p[1], *colour);
        }
        for p in &pts {
            c.fill_rect(p.0 - 1, p.1 - 1, 3, 3, *colour);
        }
        let ly = top + 10 + i as i64 * 16;
        c.fill_rect(left + w + 15, ly, 10, 8, *colour);
        c.text(left + w + 30, ly, name, 1, BLACK);
    }
    c.line((left + w + 10, top), (left + w + 10, top + h), GREY);
    c
}

/// Row-normalised confusion matrix (true class down, predicted across) with counts.
pub fn confusion_png(m: &[Vec<usize>], names: &[String]) -> Canvas {
    let k = m.len() as i64;
    let cell = (480 / k.max(1)).clamp(4, 48);
    let (left, top) = (110i64, 50i64);
    let mut c = Canvas::new(
        (left + k * cell + 20) as usize,
        (top + k * cell + 40) as usize,
        WHITE,
    );
    c.text(
        left,
        12,
        "confusion (rows: true, columns: predicted)",
        1,
        BLACK,
    );
    for (i, row) in m.iter().enumerate() {
        let total = row.iter().sum::<usize>().max(1) as f32;
        for (j, &v) in row.iter().enumerate() {
            let (x, y) = (left + j as i64 * cell, top + i as i64 * cell);
            let frac = v as f32 / total;
            c.fill_rect(x, y, cell - 1, cell - 1, magma(frac));
            if cell >= 24 && v > 0 {
                let s = v.to_string();
                let colour = if frac > 0.6 { BLACK } else { WHITE };
                c.text(
                    x + (cell - Canvas::text_width(&s, 1)) / 2,
                    y + cell / 2 - 3,
                    &s,
                    1,
                    colour,
                );
            }
        }
        if cell >= 8 {
            let name: String = names
                .get(i)
                .map_or(String::new(), |n| n.chars().take(16).collect());
            c.text(
                left - 6 - Canvas::text_width(&name, 1),
                top + i as i64 * cell + cell / 2 - 3,
                &name,
                1,
                BLACK,
            );
            c.text(
                left + i as i64 * cell + cell / 2 - 3,
                top + k * cell + 6,
                &name.chars().take(2).collect::<String>(),
                1,
                BLACK,
            );
        }
    }
    c
}
