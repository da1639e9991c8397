//! The timeline chart of `aum classify --window --plot`: the top classes' scores over time.

use aum_model::{Classifier, Window};

use super::{Canvas, BLACK, GREY, WHITE};

/// Score curves of the classes with the highest peak, over window centres.
pub fn plot_timeline(clf: &Classifier, windows: &[Window], k: usize, title: &str) -> Canvas {
    const COLOURS: [[u8; 3]; 6] = [
        [31, 119, 180],
        [255, 127, 14],
        [44, 160, 44],
        [214, 39, 40],
        [148, 103, 189],
        [140, 86, 75],
    ];
    let classes = windows.first().map_or(0, |w| w.scores.len());
    let mut peak: Vec<(usize, f32)> = (0..classes)
        .map(|c| (c, windows.iter().map(|w| w.scores[c]).fold(0.0, f32::max)))
        .collect();
    peak.sort_by(|a, b| b.1.total_cmp(&a.1));
    let (left, top, w, h) = (60i64, 40i64, 800i64, 300i64);
    let mut c = Canvas::new((left + w + 220) as usize, (top + h + 50) as usize, WHITE);
    c.text(left, 12, title, 2, BLACK);
    c.line((left, top), (left, top + h), BLACK);
    c.line((left, top + h), (left + w, top + h), BLACK);
    c.unit_y_axis(left, top, w, h);
    let end = windows.last().map_or(1.0, |w| w.end).max(1e-3);
    let x_of = |t: f64| left + (t / end * w as f64) as i64;
    for s in 0..=(end.ceil() as i64) {
        let x = x_of(s as f64);
        c.line((x, top + h), (x, top + h + 4), BLACK);
        if end < 30.0 || s % 10 == 0 {
            c.text(x - 3, top + h + 8, &s.to_string(), 1, BLACK);
        }
    }
    c.text(left + w / 2 - 24, top + h + 28, "time (s)", 1, BLACK);
    for (rank, (class, _)) in peak.iter().take(k).enumerate() {
        let colour = COLOURS[rank % COLOURS.len()];
        let pts: Vec<(i64, i64)> = windows
            .iter()
            .map(|win| {
                (
                    x_of((win.start + win.end) / 2.0),
                    top + h - (win.scores[*class].clamp(0.0, 1.0) as f64 * h as f64) as i64,
                )
            })
            .collect();
        for p in pts.windows(2) {
            c.line(p[0], p[1], colour);
        }
        for p in &pts {
            c.fill_rect(p.0 - 1, p.1 - 1, 3, 3, colour);
        }
        let ly = top + 10 + rank as i64 * 16;
        c.fill_rect(left + w + 15, ly, 10, 8, colour);
        let name: String = clf.labels().names()[*class].chars().take(30).collect();
        c.text(left + w + 30, ly, &name, 1, BLACK);
    }
    c.line((left + w + 10, top), (left + w + 10, top + h), GREY);
    c
}
