//! Charts of a report, drawn with plotters as SVG (the web) and PNG (mail).
//!
//! A [`Chart`] is data only: the report queries fill it, the renderers draw it, so each side is
//! tested alone.

use crate::error::{ReportError, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartKind {
    /// One line per series over the x labels (time).
    Line,
    /// Bars per x label, the series stacked (traffic by outcome class).
    StackedBar,
    /// One bar per x label, laid horizontally (calls per API: long names read well).
    HorizontalBar,
    /// Latency percentiles: the series are p50, p95, p99 (and average), the band between the
    /// lowest and highest shaded.
    Bands,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    pub name: String,
    /// One value per x label.
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chart {
    pub kind: ChartKind,
    pub title: String,
    /// Category or time labels, already formatted in the report's zone.
    pub x_labels: Vec<String>,
    pub y_label: String,
    pub series: Vec<Series>,
}

/// Default and largest sizes in pixels.
pub const DEFAULT_SIZE: (u32, u32) = (960, 480);
pub const MAX_SIDE: u32 = 4_000;
pub const MIN_SIDE: u32 = 200;

/// The chart as an SVG document.
pub fn render_svg(chart: &Chart, size: (u32, u32)) -> Result<String> {
    let _ = (chart, size);
    Err(ReportError::Chart("not drawn yet".into()))
}

/// The chart as a PNG image.
pub fn render_png(chart: &Chart, size: (u32, u32)) -> Result<Vec<u8>> {
    let _ = (chart, size);
    Err(ReportError::Chart("not drawn yet".into()))
}
