//! Every chart the CLI draws, on one small RGB canvas with a built-in bitmap font (no font or
//! plotting dependency): spectrograms, classification timelines, training curves, confusion
//! matrices, and the AuM-against-AST comparison.

mod canvas;
mod comparison;
mod spectrogram;
mod timeline;
mod training;

pub use canvas::{magma, Canvas, BLACK, GREY, WHITE};
pub use comparison::comparison;
pub use spectrogram::spectrogram;
pub use timeline::plot_timeline as timeline;
pub use training::{confusion_png as confusion, curves_png as curves};
