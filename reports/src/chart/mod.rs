//! Charts of a report, drawn with plotters as SVG (the web) and PNG (mail).
//!
//! A [`Chart`] is data only: the report queries fill it, the renderers draw it, so each side is
//! tested alone.
//!
//! - [`draw`]: the layout shared by both outputs (title, legend, axes, the four kinds, the
//!   "no calls in this range" picture), generic over plotters' backend.
//! - [`palette`]: the colours, the same in the web UI and in mail.
//! - [`font`]: the font found once per process (`[reports] font`, else Debian's CJK fonts).

mod draw;
pub mod font;
pub mod palette;
#[cfg(test)]
mod tests;
mod typeset;

use plotters::backend::{BitMapBackend, SVGBackend};
use plotters::drawing::IntoDrawingArea;

use crate::error::{ReportError, Result};
use typeset::Typeset;

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

fn check_size(size: (u32, u32)) -> Result<()> {
    let ok = |n: u32| (MIN_SIDE..=MAX_SIDE).contains(&n);
    if ok(size.0) && ok(size.1) {
        Ok(())
    } else {
        Err(ReportError::Chart(format!(
            "size {}x{} is outside {MIN_SIDE}..={MAX_SIDE} pixels",
            size.0, size.1
        )))
    }
}

/// The chart as an SVG document. Its text names [`font::FAMILY`], which the browser resolves.
pub fn render_svg(chart: &Chart, size: (u32, u32)) -> Result<String> {
    check_size(size)?;
    let glyphs = font::ensure()?;
    let mut out = String::new();
    {
        let svg = SVGBackend::with_string(&mut out, size);
        let root = Typeset::new(svg, glyphs, false).into_drawing_area();
        draw::chart(&root, chart)?;
        root.present().map_err(draw::failed)?;
    }
    Ok(out)
}

/// The chart as a PNG image (8-bit RGB), text drawn with the [`font`] found at start.
pub fn render_png(chart: &Chart, size: (u32, u32)) -> Result<Vec<u8>> {
    check_size(size)?;
    let glyphs = font::ensure()?;
    let mut rgb = vec![0u8; size.0 as usize * size.1 as usize * 3];
    {
        let bitmap = BitMapBackend::with_buffer(&mut rgb, size);
        let root = Typeset::new(bitmap, glyphs, true).into_drawing_area();
        draw::chart(&root, chart)?;
        root.present().map_err(draw::failed)?;
    }
    encode_png(&rgb, size)
}

fn encode_png(rgb: &[u8], (w, h): (u32, u32)) -> Result<Vec<u8>> {
    let fail = |e: png::EncodingError| ReportError::Chart(format!("PNG encoding: {e}"));
    let mut out = Vec::with_capacity(rgb.len() / 8);
    let mut enc = png::Encoder::new(&mut out, w, h);
    enc.set_color(png::ColorType::Rgb);
    enc.set_depth(png::BitDepth::Eight);
    // Flat colours and anti-aliased text: adaptive filtering with zlib's default level gives
    // files several times smaller than the fast setting, in a few milliseconds.
    enc.set_compression(png::Compression::Default);
    enc.set_adaptive_filter(png::AdaptiveFilterType::Adaptive);
    let mut writer = enc.write_header().map_err(fail)?;
    writer.write_image_data(rgb).map_err(fail)?;
    writer.finish().map_err(fail)?;
    Ok(out)
}
