//! Text measured and drawn the way a browser would: a plotters backend wrapper.
//!
//! plotters' own ab_glyph text path drops each glyph's side bearing (Chinese names come out
//! unevenly spaced) and scales glyphs by line height rather than by em, so PNG text came out
//! smaller than the same chart's SVG text. [`Typeset`] wraps a backend and
//! - measures text for both outputs at the em size the SVG asks the browser for
//!   (`font-size = size / 1.24`, plotters' convention), with the loaded font's advances and
//!   kerning, so layout (legend, truncation, label areas) fits what is shown;
//! - draws text itself on bitmaps: glyphs placed at their sub-pixel positions with their
//!   bearings, anchored like the SVG (`dy` of 0.76em / 0.5ex / -0.5ex), rotated for the
//!   vertical axis name, blended by coverage.
//!
//! Everything else is passed to the wrapped backend unchanged.

use ab_glyph::{point, Font, FontRef, PxScale, ScaleFont};
use plotters_backend::text_anchor::{HPos, VPos};
use plotters_backend::{
    BackendColor, BackendCoord, BackendStyle, BackendTextStyle, DrawingBackend, DrawingErrorKind,
};

/// plotters' ratio of a text style's size to its em (the SVG backend writes `size / 1.24`).
const SIZE_PER_EM: f64 = 1.24;

pub(crate) struct Typeset<B> {
    inner: B,
    font: &'static FontRef<'static>,
    /// Draw glyphs here (bitmaps); otherwise hand text to the wrapped backend (SVG `<text>`).
    draw_glyphs: bool,
}

impl<B: DrawingBackend> Typeset<B> {
    pub fn new(inner: B, font: &'static FontRef<'static>, draw_glyphs: bool) -> Typeset<B> {
        Typeset {
            inner,
            font,
            draw_glyphs,
        }
    }
}

/// Positioned glyphs of one line of text, from a caret at x = 0 on the baseline y = 0.
struct Line<'f> {
    font: ab_glyph::PxScaleFont<&'f FontRef<'static>>,
    glyphs: Vec<ab_glyph::Glyph>,
    width: f32,
    em: f32,
}

fn lay_out<'f>(font: &'f FontRef<'static>, text: &str, size: f64) -> Line<'f> {
    let em = (size / SIZE_PER_EM) as f32;
    let upem = font.units_per_em().unwrap_or(1000.0);
    // PxScale is the height from descent to ascent; the em is a fraction of it.
    let scaled = font.as_scaled(PxScale::from(em * font.height_unscaled() / upem));
    let mut caret = 0.0f32;
    let mut prev = None;
    let mut glyphs = Vec::with_capacity(text.len());
    for c in text.chars() {
        let id = scaled.glyph_id(c);
        if let Some(p) = prev {
            caret += scaled.kern(p, id);
        }
        glyphs.push(id.with_scale_and_position(scaled.scale(), point(caret, 0.0)));
        caret += scaled.h_advance(id);
        prev = Some(id);
    }
    Line {
        font: scaled,
        glyphs,
        width: caret,
        em,
    }
}

impl<B: DrawingBackend> DrawingBackend for Typeset<B> {
    type ErrorType = B::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.inner.get_size()
    }

    fn ensure_prepared(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.ensure_prepared()
    }

    fn present(&mut self) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.present()
    }

    fn draw_pixel(
        &mut self,
        point: BackendCoord,
        color: BackendColor,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_pixel(point, color)
    }

    fn draw_line<S: BackendStyle>(
        &mut self,
        from: BackendCoord,
        to: BackendCoord,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_line(from, to, style)
    }

    fn draw_rect<S: BackendStyle>(
        &mut self,
        upper_left: BackendCoord,
        bottom_right: BackendCoord,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_rect(upper_left, bottom_right, style, fill)
    }

    fn draw_path<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_path(path, style)
    }

    fn draw_circle<S: BackendStyle>(
        &mut self,
        center: BackendCoord,
        radius: u32,
        style: &S,
        fill: bool,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.draw_circle(center, radius, style, fill)
    }

    fn fill_polygon<S: BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        vert: I,
        style: &S,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.fill_polygon(vert, style)
    }

    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        size: (u32, u32),
        src: &[u8],
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        self.inner.blit_bitmap(pos, size, src)
    }

    fn estimate_text_size<S: BackendTextStyle>(
        &self,
        text: &str,
        style: &S,
    ) -> Result<(u32, u32), DrawingErrorKind<B::ErrorType>> {
        let line = lay_out(self.font, text, style.size());
        Ok((line.width.ceil() as u32, line.em.ceil() as u32))
    }

    fn draw_text<S: BackendTextStyle>(
        &mut self,
        text: &str,
        style: &S,
        pos: BackendCoord,
    ) -> Result<(), DrawingErrorKind<B::ErrorType>> {
        if !self.draw_glyphs {
            return self.inner.draw_text(text, style, pos);
        }
        let color = style.color();
        if color.alpha == 0.0 || text.is_empty() {
            return Ok(());
        }
        let line = lay_out(self.font, text, style.size());
        let anchor = style.anchor();
        let dx = match anchor.h_pos {
            HPos::Left => 0.0,
            HPos::Center => -line.width / 2.0,
            HPos::Right => -line.width,
        }
        .round() as i32;
        // Where the baseline sits below the anchor, as the SVG's dy puts it (1ex ≈ 0.5em;
        // a little more for Chinese, whose glyphs sit higher than a Latin x-height).
        let dy = match anchor.v_pos {
            VPos::Top => 0.76 * line.em,
            VPos::Center => 0.32 * line.em,
            VPos::Bottom => -0.25 * line.em,
        }
        .round() as i32;
        let transform = style.transform();
        let (w, h) = self.inner.get_size();
        let mut result = Ok(());
        for g in &line.glyphs {
            let Some(outline) = line.font.outline_glyph(g.clone()) else {
                continue; // a space
            };
            let b = outline.px_bounds();
            outline.draw(|x, y, coverage| {
                if result.is_err() || coverage <= 0.0 {
                    return;
                }
                let gx = b.min.x as i32 + x as i32 + dx;
                let gy = b.min.y as i32 + y as i32 + dy;
                let (tx, ty) = transform.transform(gx, gy);
                let (px, py) = (pos.0 + tx, pos.1 + ty);
                if px < 0 || py < 0 || px >= w as i32 || py >= h as i32 {
                    return;
                }
                let c = BackendColor {
                    alpha: color.alpha * f64::from(coverage.min(1.0)),
                    rgb: color.rgb,
                };
                result = self.inner.draw_pixel((px, py), c);
            });
            if result.is_err() {
                break;
            }
        }
        result
    }
}
