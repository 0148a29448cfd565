//! The layout of a chart, the same for SVG and PNG: a title, a legend row, then the plot of the
//! chart's kind; or, with nothing to show, "no calls in this range".
//!
//! Sizes scale with the image (the default 960×480 is scale 1). Time labels are thinned to
//! what fits across the plot, on steps that suit minutes, hours and days.

use plotters::coord::combinators::WithKeyPoints;
use plotters::coord::types::{RangedCoordf64, RangedCoordi32};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::font::FAMILY;
use super::palette::{self, AXIS, BACKGROUND, GRID, MUTED, SERIES, TEXT};
use super::{Chart, ChartKind, Series};
use crate::error::{ReportError, Result};

type Area<DB> = DrawingArea<DB, Shift>;
/// Bucket or category `i` sits at `i * U` on its axis: integer axes (which plotters labels
/// through a formatter) with room for half-bucket bar edges.
const U: i32 = 10;
type Category = WithKeyPoints<RangedCoordi32>;
type Coords = Cartesian2d<Category, RangedCoordf64>;

fn at(i: usize) -> i32 {
    i as i32 * U
}

/// The words drawn when a chart has nothing to show.
pub const EMPTY_TEXT: &str = "no calls in this range";
/// The same in Traditional Chinese, for a chart localised by `crate::i18n`.
pub const EMPTY_TEXT_ZH: &str = "此期間沒有呼叫";

/// A chart speaks its title's language: a title with Chinese in it was localised to zh-TW.
fn empty_text(c: &Chart) -> &'static str {
    if c.title
        .chars()
        .any(|ch| ('\u{3000}'..='\u{9fff}').contains(&ch))
    {
        EMPTY_TEXT_ZH
    } else {
        EMPTY_TEXT
    }
}

pub(crate) fn failed<E: std::error::Error + Send + Sync>(
    e: DrawingAreaErrorKind<E>,
) -> ReportError {
    ReportError::Chart(e.to_string())
}

fn text(size: f64, color: RGBColor) -> TextStyle<'static> {
    (FontFamily::Name(FAMILY), size).into_font().color(&color)
}

/// Pixel sizes at this image's scale.
#[derive(Clone, Copy)]
struct Look {
    s: f64,
}

impl Look {
    fn of(w: u32, h: u32) -> Look {
        Look {
            s: (f64::from(w) / 960.0)
                .min(f64::from(h) / 480.0)
                .clamp(0.55, 2.5),
        }
    }
    fn px(self, base: f64) -> i32 {
        (base * self.s).round() as i32
    }
    fn size(self, base: f64) -> f64 {
        base * self.s
    }
}

/// Draws the whole chart on `root`.
pub(crate) fn chart<DB: DrawingBackend>(root: &Area<DB>, c: &Chart) -> Result<()> {
    let (w, h) = root.dim_in_pixel();
    let look = Look::of(w, h);
    root.fill(&BACKGROUND).map_err(failed)?;
    let pad = look.px(16.0);

    let title_style = text(look.size(21.0), TEXT);
    let title = fit(root, &c.title, &title_style, w as i32 - 2 * pad)?;
    root.draw_text(&title, &title_style, (pad, pad))
        .map_err(failed)?;
    let title_h = if title.is_empty() {
        0
    } else {
        look.px(21.0 * 1.35)
    };
    let body = root.margin(pad + title_h + look.px(6.0), pad, pad, pad);

    if is_empty(c) {
        let (bw, bh) = body.dim_in_pixel();
        // A faint frame where the plot would be, so the picture reads as an empty chart.
        body.draw(&Rectangle::new(
            [(0, 0), (bw as i32 - 1, bh as i32 - 1)],
            GRID.stroke_width(1),
        ))
        .map_err(failed)?;
        let st = text(look.size(17.0), MUTED).pos(Pos::new(HPos::Center, VPos::Center));
        body.draw_text(empty_text(c), &st, (bw as i32 / 2, bh as i32 / 2))
            .map_err(failed)?;
        return Ok(());
    }

    let items = legend_items(c);
    let legend_h = if items.len() > 1 || c.kind == ChartKind::Bands {
        legend(&body, &items, look)? + look.px(8.0)
    } else {
        0
    };
    let plot = body.margin(legend_h, 0, 0, 0);
    match c.kind {
        ChartKind::Line => line(&plot, c, look),
        ChartKind::StackedBar => stacked_bar(&plot, c, look),
        ChartKind::HorizontalBar => horizontal_bar(&plot, c, look),
        ChartKind::Bands => bands(&plot, c, look),
    }
}

/// Nothing to draw: no labels, no series, or every value zero or missing.
pub fn is_empty(c: &Chart) -> bool {
    c.x_labels.is_empty()
        || !c
            .series
            .iter()
            .any(|s| s.values.iter().any(|v| v.is_finite() && *v != 0.0))
}

/// A series' value at `i`, when it has a finite one.
fn value(s: &Series, i: usize) -> Option<f64> {
    s.values.get(i).copied().filter(|v| v.is_finite())
}

#[derive(Clone, Copy, PartialEq)]
enum Swatch {
    Line,
    Dashed,
    Box,
    Band,
}

struct Item {
    name: String,
    color: RGBColor,
    swatch: Swatch,
}

fn legend_items(c: &Chart) -> Vec<Item> {
    match c.kind {
        ChartKind::Bands => {
            let roles = BandRoles::of(&c.series);
            let mut items = Vec::new();
            if let Some((lo, hi)) = roles.band() {
                items.push(Item {
                    name: format!("{}–{}", c.series[lo].name, c.series[hi].name),
                    color: BAND,
                    swatch: Swatch::Band,
                });
            }
            for (i, s) in c.series.iter().enumerate() {
                let (color, dashed) = roles.line_style(i);
                items.push(Item {
                    name: s.name.clone(),
                    color,
                    swatch: if dashed { Swatch::Dashed } else { Swatch::Line },
                });
            }
            items
        }
        kind => {
            let colors = palette::for_series(&c.series.iter().map(|s| &s.name).collect::<Vec<_>>());
            c.series
                .iter()
                .zip(colors)
                .map(|(s, color)| Item {
                    name: s.name.clone(),
                    color,
                    swatch: if kind == ChartKind::Line {
                        Swatch::Line
                    } else {
                        Swatch::Box
                    },
                })
                .collect()
        }
    }
}

/// Draws the legend in rows from the top left; returns the height used (at most three rows,
/// then "+N more").
fn legend<DB: DrawingBackend>(area: &Area<DB>, items: &[Item], look: Look) -> Result<i32> {
    let (w, _) = area.dim_in_pixel();
    let w = w as i32;
    let st = text(look.size(13.5), TEXT).pos(Pos::new(HPos::Left, VPos::Center));
    let sw = look.px(14.0);
    let gap = look.px(6.0);
    let item_gap = look.px(20.0);
    let row_h = look.px(22.0);
    let (mut x, mut row) = (0, 0);
    for (k, it) in items.iter().enumerate() {
        let name = fit(area, &it.name, &st, w / 3)?;
        let tw = width(area, &name, &st)?;
        let iw = sw + gap + tw;
        if x > 0 && x + iw > w {
            x = 0;
            row += 1;
        }
        if row == 3 {
            let more = format!("+{} more", items.len() - k);
            let y = 2 * row_h + row_h / 2;
            let last = text(look.size(13.5), MUTED).pos(Pos::new(HPos::Right, VPos::Center));
            area.draw_text(&more, &last, (w, y)).map_err(failed)?;
            return Ok(3 * row_h);
        }
        let y = row * row_h + row_h / 2;
        swatch(area, it, (x, y), sw, look)?;
        area.draw_text(&name, &st, (x + sw + gap, y))
            .map_err(failed)?;
        x += iw + item_gap;
    }
    Ok((row + 1) * row_h)
}

fn swatch<DB: DrawingBackend>(
    area: &Area<DB>,
    it: &Item,
    (x, y): (i32, i32),
    sw: i32,
    look: Look,
) -> Result<()> {
    let half = sw / 2;
    let stroke = look.px(2.5).max(2) as u32;
    match it.swatch {
        Swatch::Line => area
            .draw(&PathElement::new(
                vec![(x, y), (x + sw, y)],
                it.color.stroke_width(stroke),
            ))
            .map_err(failed),
        Swatch::Dashed => {
            let d = sw / 3;
            for k in [0, 2] {
                area.draw(&PathElement::new(
                    vec![(x + k * d, y), (x + (k + 1) * d, y)],
                    it.color.stroke_width(stroke),
                ))
                .map_err(failed)?;
            }
            Ok(())
        }
        Swatch::Box | Swatch::Band => {
            let style = if it.swatch == Swatch::Band {
                it.color.mix(0.35).filled()
            } else {
                it.color.filled()
            };
            area.draw(&Rectangle::new([(x, y - half), (x + sw, y + half)], style))
                .map_err(failed)
        }
    }
}

fn width<DB: DrawingBackend>(area: &Area<DB>, s: &str, st: &TextStyle) -> Result<i32> {
    Ok(area.estimate_text_size(s, st).map_err(failed)?.0 as i32)
}

/// `s`, shortened with "…" to fit `max` pixels.
fn fit<DB: DrawingBackend>(area: &Area<DB>, s: &str, st: &TextStyle, max: i32) -> Result<String> {
    if width(area, s, st)? <= max {
        return Ok(s.to_string());
    }
    let chars: Vec<char> = s.chars().collect();
    let (mut lo, mut hi) = (0, chars.len());
    // The longest prefix that fits with the ellipsis.
    while lo < hi {
        let mid = (lo + hi).div_ceil(2);
        let cand: String = chars[..mid].iter().collect::<String>() + "…";
        if width(area, &cand, st)? <= max {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(chars[..lo]
        .iter()
        .collect::<String>()
        .trim_end()
        .to_string()
        + "…")
}

/// A short number for ticks and bar ends: 950, 12.5, 3.2k, 45k, 1.2M.
pub fn compact(v: f64) -> String {
    let a = v.abs();
    let (d, suffix) = if a >= 1e9 {
        (1e9, "B")
    } else if a >= 1e6 {
        (1e6, "M")
    } else if a >= 1e4 {
        (1e3, "k")
    } else {
        (1.0, "")
    };
    let x = v / d;
    let decimals = if x.abs() >= 100.0 || (x - x.round()).abs() < 1e-9 {
        0
    } else if x.abs() >= 10.0 {
        1
    } else {
        2
    };
    let mut s = format!("{x:.decimals$}");
    if s.contains('.') {
        s = s.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    format!("{s}{suffix}")
}

/// The top of a value axis: a round number a little above `max`.
fn nice_ceil(max: f64) -> f64 {
    if !max.is_finite() || max <= 0.0 {
        return 1.0;
    }
    let e = 10f64.powf(max.log10().floor());
    for m in [1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0] {
        if m * e >= max * 1.02 {
            return m * e;
        }
    }
    10.0 * e
}

/// Which x labels to show: every `step`-th, at most `fits` of them. When the labels are times
/// (`… HH:MM`) or dates (`…MM-DD`), the step is a round span of time (15 min, 1 h, 6 h, 1 day,
/// 7 days…); otherwise a round count.
pub fn label_steps(labels: &[String], fits: usize) -> Vec<usize> {
    let n = labels.len();
    let need = n.div_ceil(fits.max(1)).max(1);
    let step = match bucket_minutes(labels) {
        Some(m) => {
            const SPANS: [usize; 17] = [
                1, 2, 5, 10, 15, 30, 60, 120, 180, 360, 720, 1440, 2880, 4320, 10080, 20160, 43200,
            ];
            SPANS
                .iter()
                .filter(|s| *s % m == 0)
                .map(|s| s / m)
                .find(|s| *s >= need)
        }
        None => {
            const NICE: [usize; 18] = [
                1, 2, 3, 4, 5, 6, 10, 12, 24, 30, 48, 60, 72, 96, 120, 144, 168, 288,
            ];
            NICE.iter().copied().find(|s| *s >= need)
        }
    }
    .unwrap_or(need);
    (0..n).step_by(step).collect()
}

/// The minutes between buckets, read from the first two labels: their trailing `HH:MM`, or a
/// trailing `MM-DD` date (a day).
fn bucket_minutes(labels: &[String]) -> Option<usize> {
    let tail = |s: &str, len: usize| {
        let t: Vec<char> = s.trim().chars().collect();
        (t.len() >= len).then(|| t[t.len() - len..].to_vec())
    };
    let clock = |s: &str| {
        let t = tail(s, 5)?;
        let d = |c: char| c.to_digit(10).map(|d| d as usize);
        (t[2] == ':').then_some(())?;
        Some((d(t[0])? * 10 + d(t[1])?) * 60 + d(t[3])? * 10 + d(t[4])?)
    };
    let date = |s: &str| {
        let t = tail(s, 5)?;
        (t[2] == '-'
            && t.iter()
                .enumerate()
                .all(|(i, c)| i == 2 || c.is_ascii_digit()))
        .then_some(())
    };
    let (a, b) = (labels.first()?, labels.get(1)?);
    match (clock(a), clock(b)) {
        (Some(x), Some(y)) if x != y => Some((y + 1440 - x) % 1440),
        (Some(_), Some(_)) => Some(1440),
        _ => date(a).and(date(b)).map(|_| 1440),
    }
}

/// The x axis for `n` categories or buckets, with its thinned tick positions.
fn x_axis<DB: DrawingBackend>(
    area: &Area<DB>,
    labels: &[String],
    st: &TextStyle,
    plot_w: i32,
    look: Look,
) -> Result<Category> {
    let n = labels.len();
    // Labels of one report look alike: a sample gives their width.
    let mut widest = 0;
    for l in labels.iter().step_by(n.div_ceil(40).max(1)) {
        widest = widest.max(width(area, l, st)?);
    }
    let fits = (plot_w / (widest + look.px(18.0)).max(1)).max(1) as usize;
    let keys = label_steps(labels, fits).into_iter().map(at).collect();
    Ok(span(n).with_key_points(keys))
}

/// A value axis label area wide enough for the ticks and the axis name.
fn y_label_width<DB: DrawingBackend>(
    area: &Area<DB>,
    top: f64,
    st: &TextStyle,
    desc: &str,
    look: Look,
) -> Result<i32> {
    let ticks = width(area, &compact(top), st)?.max(width(area, &compact(top * 0.85), st)?);
    let desc_w = if desc.is_empty() { 0 } else { look.px(24.0) };
    Ok(ticks + look.px(14.0) + desc_w)
}

/// Axes, grid and labels of a time or category chart over `n` x positions.
fn time_axes<'a, DB: DrawingBackend + 'a>(
    area: &'a Area<DB>,
    c: &'a Chart,
    y_top: f64,
    look: Look,
) -> Result<ChartContext<'a, DB, Coords>> {
    let (w, _) = area.dim_in_pixel();
    let tick = text(look.size(12.5), MUTED);
    let y_w = y_label_width(area, y_top, &tick, &c.y_label, look)?;
    let plot_w = w as i32 - y_w - look.px(12.0);
    let xr = x_axis(area, &c.x_labels, &tick, plot_w, look)?;
    let mut cc = ChartBuilder::on(area)
        .margin_right(look.px(12.0))
        .margin_top(look.px(6.0))
        .x_label_area_size(look.px(30.0))
        .y_label_area_size(y_w)
        .build_cartesian_2d(xr, 0.0..y_top)
        .map_err(failed)?;
    let labels = &c.x_labels;
    let fmt_x = |v: &i32| label_of(labels, *v);
    let fmt_y = |v: &f64| compact(*v);
    cc.configure_mesh()
        .disable_x_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .label_style(tick.clone())
        .x_labels(c.x_labels.len() + 1)
        .y_labels(6)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .y_desc(c.y_label.as_str())
        .axis_desc_style(text(look.size(13.0), MUTED))
        .draw()
        .map_err(failed)?;
    Ok(cc)
}

/// The axis span of `n` buckets, half a bucket beyond the first and last.
fn span(n: usize) -> std::ops::Range<i32> {
    -U / 2..at(n) - U / 2
}

/// The label at axis position `v` (a key point, so a multiple of [`U`]).
fn label_of(labels: &[String], v: i32) -> String {
    if v < 0 || v % U != 0 {
        return String::new();
    }
    labels.get((v / U) as usize).cloned().unwrap_or_default()
}

/// Runs of consecutive finite values, as points.
fn runs(s: &Series, n: usize) -> Vec<Vec<(i32, f64)>> {
    let mut out: Vec<Vec<(i32, f64)>> = vec![];
    let mut cur = vec![];
    for i in 0..n {
        match value(s, i) {
            Some(v) => cur.push((at(i), v)),
            None if !cur.is_empty() => out.push(std::mem::take(&mut cur)),
            None => {}
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

fn max_of<'a>(series: impl Iterator<Item = &'a Series>, n: usize) -> f64 {
    series
        .flat_map(|s| (0..n).filter_map(move |i| value(s, i)))
        .fold(0.0, f64::max)
}

/// Draws one line; lone points (a bucket between gaps) as dots, all points as dots when few.
fn draw_line<DB: DrawingBackend>(
    cc: &mut ChartContext<DB, Coords>,
    s: &Series,
    n: usize,
    color: RGBColor,
    dashed: bool,
    look: Look,
) -> Result<()> {
    let stroke = look.px(2.2).max(1) as u32;
    let dot = look.px(2.8).max(2);
    for run in runs(s, n) {
        if dashed {
            cc.draw_series(DashedLineSeries::new(
                run.clone(),
                look.px(7.0),
                look.px(5.0),
                color.stroke_width(stroke),
            ))
            .map_err(failed)?;
        } else {
            cc.draw_series(LineSeries::new(run.clone(), color.stroke_width(stroke)))
                .map_err(failed)?;
        }
        if run.len() == 1 || n <= 31 {
            cc.draw_series(run.iter().map(|p| Circle::new(*p, dot, color.filled())))
                .map_err(failed)?;
        }
    }
    Ok(())
}

fn line<DB: DrawingBackend>(area: &Area<DB>, c: &Chart, look: Look) -> Result<()> {
    let n = c.x_labels.len();
    let top = nice_ceil(max_of(c.series.iter(), n));
    let mut cc = time_axes(area, c, top, look)?;
    let colors = palette::for_series(&c.series.iter().map(|s| &s.name).collect::<Vec<_>>());
    for (s, color) in c.series.iter().zip(colors) {
        draw_line(&mut cc, s, n, color, false, look)?;
    }
    Ok(())
}

/// Each of the first `n` x positions' total of the series stacked there (negatives as 0).
fn stacked_totals(c: &Chart, n: usize) -> Vec<f64> {
    (0..n)
        .map(|i| {
            c.series
                .iter()
                .filter_map(|s| value(s, i))
                .map(|v| v.max(0.0))
                .sum()
        })
        .collect()
}

fn stacked_bar<DB: DrawingBackend>(area: &Area<DB>, c: &Chart, look: Look) -> Result<()> {
    let n = c.x_labels.len();
    let totals = stacked_totals(c, n);
    let top = nice_ceil(totals.iter().copied().fold(0.0, f64::max));
    let mut cc = time_axes(area, c, top, look)?;
    let colors = palette::for_series(&c.series.iter().map(|s| &s.name).collect::<Vec<_>>());
    // Bars leave a gap while there is room for one.
    let plot_w = f64::from(cc.plotting_area().dim_in_pixel().0);
    let half = if plot_w / n as f64 >= 4.0 { 4 } else { U / 2 };
    let mut base = vec![0.0; n];
    for (s, color) in c.series.iter().zip(colors) {
        let mut bars = Vec::with_capacity(n);
        for (i, b) in base.iter_mut().enumerate() {
            let v = value(s, i).unwrap_or(0.0).max(0.0);
            if v > 0.0 {
                let x = at(i);
                bars.push(Rectangle::new(
                    [(x - half, *b), (x + half, *b + v)],
                    color.filled(),
                ));
                *b += v;
            }
        }
        cc.draw_series(bars).map_err(failed)?;
    }
    Ok(())
}

fn horizontal_bar<DB: DrawingBackend>(area: &Area<DB>, c: &Chart, look: Look) -> Result<()> {
    let (w, h) = area.dim_in_pixel();
    let name_st = text(look.size(13.5), TEXT);
    let tick = text(look.size(12.5), MUTED);
    let x_area = look.px(if c.y_label.is_empty() { 28.0 } else { 48.0 });
    // As many rows as read well; the rest are named in a note below.
    let row_min = look.size(13.5 * 1.45);
    let rows_fit = ((f64::from(h) - f64::from(x_area)) / row_min)
        .floor()
        .max(1.0) as usize;
    let all = c.x_labels.len();
    let (shown, more) = if all > rows_fit {
        (
            rows_fit.saturating_sub(1).max(1),
            all - rows_fit.saturating_sub(1).max(1),
        )
    } else {
        (all, 0)
    };
    let totals = stacked_totals(c, shown);
    // Room right of the longest bar for its figure.
    let top = nice_ceil(totals.iter().copied().fold(0.0, f64::max) * 1.12);

    let mut widest = 0;
    for l in &c.x_labels[..shown] {
        widest = widest.max(width(area, l, &name_st)?);
    }
    let name_w = (widest + look.px(12.0)).min(w as i32 * 2 / 5);
    let names: Vec<String> = c.x_labels[..shown]
        .iter()
        .map(|l| fit(area, l, &name_st, name_w - look.px(12.0)))
        .collect::<Result<_>>()?;

    let note_h = if more > 0 { look.px(20.0) } else { 0 };
    let plot = area.margin(0, note_h, 0, 0);
    let keys = (0..shown).map(at).collect();
    let mut cc = ChartBuilder::on(&plot)
        .margin_right(look.px(16.0))
        .x_label_area_size(x_area)
        .y_label_area_size(name_w)
        .build_cartesian_2d(0.0..top, span(shown).with_key_points(keys))
        .map_err(failed)?;
    // Row i of the data is drawn at row shown-1-i, so the first row is on top.
    let row_at = |i: usize| at(shown - 1 - i);
    let fmt_y = |v: &i32| label_of(&names, at(shown - 1) - *v);
    let fmt_x = |v: &f64| compact(*v);
    cc.configure_mesh()
        .disable_y_mesh()
        .bold_line_style(GRID)
        .light_line_style(TRANSPARENT)
        .axis_style(AXIS)
        .x_label_style(tick.clone())
        .y_label_style(name_st.clone())
        .x_labels(6)
        .y_labels(shown + 1)
        .x_label_formatter(&fmt_x)
        .y_label_formatter(&fmt_y)
        .x_desc(c.y_label.as_str())
        .axis_desc_style(text(look.size(13.0), MUTED))
        .draw()
        .map_err(failed)?;

    let colors = palette::for_series(&c.series.iter().map(|s| &s.name).collect::<Vec<_>>());
    let half = U * 32 / 100;
    let mut base = vec![0.0; shown];
    for (s, color) in c.series.iter().zip(colors) {
        let mut bars = Vec::new();
        for (i, b) in base.iter_mut().enumerate() {
            let v = value(s, i).unwrap_or(0.0).max(0.0);
            if v > 0.0 {
                let y = row_at(i);
                bars.push(Rectangle::new(
                    [(*b, y - half), (*b + v, y + half)],
                    color.filled(),
                ));
                *b += v;
            }
        }
        cc.draw_series(bars).map_err(failed)?;
    }
    let figure = text(look.size(12.5), MUTED).pos(Pos::new(HPos::Left, VPos::Center));
    let gap = look.px(6.0);
    cc.draw_series(totals.iter().enumerate().map(|(i, t)| {
        EmptyElement::at((*t, row_at(i))) + Text::new(compact(*t), (gap, 0), figure.clone())
    }))
    .map_err(failed)?;

    if more > 0 {
        let st = text(look.size(12.5), MUTED).pos(Pos::new(HPos::Left, VPos::Bottom));
        let (_, ah) = area.dim_in_pixel();
        area.draw_text(&format!("… and {more} more not shown"), &st, (0, ah as i32))
            .map_err(failed)?;
    }
    Ok(())
}

/// The band's fill.
const BAND: RGBColor = SERIES[0];

/// Which series of a Bands chart is which percentile, found by name.
struct BandRoles {
    p50: Option<usize>,
    p95: Option<usize>,
    p99: Option<usize>,
    avg: Option<usize>,
}

impl BandRoles {
    fn of(series: &[Series]) -> BandRoles {
        let find = |words: &[&str]| {
            series.iter().position(|s| {
                let n = s.name.to_ascii_lowercase();
                words.iter().any(|w| n.contains(w))
            })
        };
        BandRoles {
            p50: find(&["p50", "median"]),
            p95: find(&["p95"]),
            p99: find(&["p99"]),
            avg: find(&["avg", "average", "mean"]),
        }
    }

    /// The series bounding the shaded band: p50 to p99 (or p95).
    fn band(&self) -> Option<(usize, usize)> {
        Some((self.p50?, self.p99.or(self.p95)?))
    }

    /// A series' line colour, and whether it is dashed (the average).
    fn line_style(&self, i: usize) -> (RGBColor, bool) {
        if Some(i) == self.p50 {
            (SERIES[0], false)
        } else if Some(i) == self.p95 {
            (SERIES[1], false)
        } else if Some(i) == self.p99 {
            (SERIES[2], false)
        } else if Some(i) == self.avg {
            (RGBColor(0x44, 0x44, 0x44), true)
        } else {
            (SERIES[3 + i % 7], false)
        }
    }
}

/// Fills between two series where both have values.
fn fill_between<DB: DrawingBackend>(
    cc: &mut ChartContext<DB, Coords>,
    lo: &Series,
    hi: &Series,
    n: usize,
    style: ShapeStyle,
) -> Result<()> {
    let mut run: Vec<(i32, f64, f64)> = vec![];
    let mut flush = |run: &mut Vec<(i32, f64, f64)>| -> Result<()> {
        if run.len() >= 2 {
            let mut pts: Vec<(i32, f64)> = run.iter().map(|(x, _, h)| (*x, *h)).collect();
            pts.extend(run.iter().rev().map(|(x, l, _)| (*x, *l)));
            cc.draw_series(std::iter::once(Polygon::new(pts, style)))
                .map_err(failed)?;
        }
        run.clear();
        Ok(())
    };
    for i in 0..n {
        match (value(lo, i), value(hi, i)) {
            (Some(l), Some(h)) => run.push((at(i), l.min(h), l.max(h))),
            _ => flush(&mut run)?,
        }
    }
    flush(&mut run)
}

fn bands<DB: DrawingBackend>(area: &Area<DB>, c: &Chart, look: Look) -> Result<()> {
    let n = c.x_labels.len();
    let top = nice_ceil(max_of(c.series.iter(), n));
    let mut cc = time_axes(area, c, top, look)?;
    let roles = BandRoles::of(&c.series);
    if let Some((lo, hi)) = roles.band() {
        fill_between(
            &mut cc,
            &c.series[lo],
            &c.series[hi],
            n,
            BAND.mix(0.13).filled(),
        )?;
        // A deeper shade for the usual range, p50 to p95, when p99 bounds the outer band.
        if let (Some(p95), Some(_)) = (roles.p95, roles.p99) {
            fill_between(
                &mut cc,
                &c.series[lo],
                &c.series[p95],
                n,
                BAND.mix(0.17).filled(),
            )?;
        }
    }
    for (i, s) in c.series.iter().enumerate() {
        let (color, dashed) = roles.line_style(i);
        draw_line(&mut cc, s, n, color, dashed, look)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_numbers_read_short() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(950.0), "950");
        assert_eq!(compact(12.5), "12.5");
        assert_eq!(compact(1.25), "1.25");
        assert_eq!(compact(9999.0), "9999");
        assert_eq!(compact(45_000.0), "45k");
        assert_eq!(compact(1_250_000.0), "1.25M");
        assert_eq!(compact(3e9), "3B");
    }

    #[test]
    fn axis_tops_are_round_and_above_the_data() {
        assert_eq!(nice_ceil(0.0), 1.0);
        assert_eq!(nice_ceil(95.0), 100.0);
        assert_eq!(nice_ceil(101.0), 120.0);
        assert_eq!(nice_ceil(7.3), 8.0);
        assert!(nice_ceil(f64::NAN) > 0.0);
    }

    #[test]
    fn time_labels_are_thinned_on_round_spans() {
        let times = |n: usize, every: usize| -> Vec<String> {
            (0..n)
                .map(|i| format!("11-25 {:02}:{:02}", i * every / 60 % 24, i * every % 60))
                .collect()
        };
        // 288 five-minute buckets, 12 labels fit: every 2 h (24 buckets); 10 fit: every 3 h.
        assert_eq!(
            label_steps(&times(288, 5), 12),
            (0..288).step_by(24).collect::<Vec<_>>()
        );
        assert_eq!(
            label_steps(&times(288, 5), 10),
            (0..288).step_by(36).collect::<Vec<_>>()
        );
        // 48 hours, 10 fit: every 6 h.
        assert_eq!(
            label_steps(&times(48, 60), 10),
            (0..48).step_by(6).collect::<Vec<_>>()
        );
        // 30 days, 12 fit: every 3 days; 5 fit: every 7.
        let days: Vec<String> = (1..=30).map(|d| format!("2026-11-{d:02}")).collect();
        assert_eq!(
            label_steps(&days, 12),
            (0..30).step_by(3).collect::<Vec<_>>()
        );
        assert_eq!(
            label_steps(&days, 5),
            (0..30).step_by(7).collect::<Vec<_>>()
        );
        // Names: round counts.
        let names: Vec<String> = (0..24).map(|i| format!("api {i}")).collect();
        assert_eq!(label_steps(&names, 30), (0..24).collect::<Vec<_>>());
        assert_eq!(
            label_steps(&names, 7),
            (0..24).step_by(4).collect::<Vec<_>>()
        );
        assert_eq!(label_steps(&[], 10), Vec::<usize>::new());
        assert_eq!(label_steps(&names[..5], 0), vec![0]);
    }
}
