//! PNG output: the bundled font's metrics, a bitmap backend that draws text itself, and the
//! encoder.

use super::DEJAVU_SANS;
use crate::{Error, Result};
use plotters::prelude::*;
use plotters_backend::BackendCoord;

/// The bundled font, parsed once.
fn font() -> &'static ab_glyph::FontRef<'static> {
    static FONT_REF: std::sync::OnceLock<ab_glyph::FontRef<'static>> = std::sync::OnceLock::new();
    FONT_REF.get_or_init(|| {
        ab_glyph::FontRef::try_from_slice(DEJAVU_SANS).expect("the bundled font is valid TrueType")
    })
}

/// Glyph scale for a plotters text size: the em size SVG viewers use (plotters writes
/// `font-size = size / 1.24`), so PNG and SVG text have the same size.
fn px_scale(size: f64) -> ab_glyph::PxScale {
    use ab_glyph::Font;
    let f = font();
    let upem = f.units_per_em().unwrap_or(2048.0);
    ab_glyph::PxScale::from((size / 1.24) as f32 * f.height_unscaled() / upem)
}

/// Width, ascent and descent (pixels) of a line of text, with kerning.
pub(in crate::plots) fn text_metrics(text: &str, size: f64) -> (f32, f32, f32) {
    use ab_glyph::{Font, ScaleFont};
    let sf = font().as_scaled(px_scale(size));
    let mut w = 0.0f32;
    let mut prev: Option<ab_glyph::GlyphId> = None;
    for c in text.chars() {
        let id = sf.glyph_id(c);
        if let Some(p) = prev {
            w += sf.kern(p, id);
        }
        w += sf.h_advance(id);
        prev = Some(id);
    }
    (w, sf.ascent(), sf.descent())
}

/// The bitmap backend with its text drawn here: plotters 0.3.7's `ab_glyph` text drops each
/// glyph's side bearing and rounds every advance, which spaces letters unevenly. Glyphs are
/// placed at sub-pixel positions with kerning, on a common baseline; anchors and rotations
/// follow plotters' conventions.
pub(super) struct PngBackend<'a>(pub(super) BitMapBackend<'a>);

type PngError<'a> =
    plotters_backend::DrawingErrorKind<<BitMapBackend<'a> as DrawingBackend>::ErrorType>;

impl<'a> DrawingBackend for PngBackend<'a> {
    type ErrorType = <BitMapBackend<'a> as DrawingBackend>::ErrorType;

    fn get_size(&self) -> (u32, u32) {
        self.0.get_size()
    }
    fn ensure_prepared(&mut self) -> std::result::Result<(), PngError<'a>> {
        self.0.ensure_prepared()
    }
    fn present(&mut self) -> std::result::Result<(), PngError<'a>> {
        self.0.present()
    }
    fn draw_pixel(
        &mut self,
        p: BackendCoord,
        c: plotters_backend::BackendColor,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_pixel(p, c)
    }
    fn draw_line<S: plotters_backend::BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_line(a, b, s)
    }
    fn draw_rect<S: plotters_backend::BackendStyle>(
        &mut self,
        a: BackendCoord,
        b: BackendCoord,
        s: &S,
        fill: bool,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_rect(a, b, s, fill)
    }
    fn draw_path<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        path: I,
        s: &S,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_path(path, s)
    }
    fn draw_circle<S: plotters_backend::BackendStyle>(
        &mut self,
        c: BackendCoord,
        r: u32,
        s: &S,
        fill: bool,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.draw_circle(c, r, s, fill)
    }
    fn fill_polygon<S: plotters_backend::BackendStyle, I: IntoIterator<Item = BackendCoord>>(
        &mut self,
        v: I,
        s: &S,
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.fill_polygon(v, s)
    }
    fn blit_bitmap(
        &mut self,
        pos: BackendCoord,
        dim: (u32, u32),
        src: &[u8],
    ) -> std::result::Result<(), PngError<'a>> {
        self.0.blit_bitmap(pos, dim, src)
    }

    fn estimate_text_size<T: plotters_backend::BackendTextStyle>(
        &self,
        text: &str,
        style: &T,
    ) -> std::result::Result<(u32, u32), PngError<'a>> {
        let (w, a, d) = text_metrics(text, style.size());
        Ok((w.ceil() as u32, (a - d).ceil() as u32))
    }

    fn draw_text<T: plotters_backend::BackendTextStyle>(
        &mut self,
        text: &str,
        style: &T,
        pos: BackendCoord,
    ) -> std::result::Result<(), PngError<'a>> {
        use ab_glyph::{Font, ScaleFont};
        use plotters_backend::text_anchor::{HPos as H, VPos as V};
        let color = style.color();
        if color.alpha == 0.0 {
            return Ok(());
        }
        let (width, ascent, descent) = text_metrics(text, style.size());
        let height = ascent - descent;
        let dx = match style.anchor().h_pos {
            H::Left => 0.0,
            H::Right => -width,
            H::Center => -width / 2.0,
        };
        let dy = match style.anchor().v_pos {
            V::Top => 0.0,
            V::Center => -height / 2.0,
            V::Bottom => -height,
        };
        let trans = style.transform();
        let sf = font().as_scaled(px_scale(style.size()));
        let (w, h) = self.0.get_size();
        let mut caret = dx;
        let mut prev: Option<ab_glyph::GlyphId> = None;
        for c in text.chars() {
            let id = sf.glyph_id(c);
            if let Some(p) = prev {
                caret += sf.kern(p, id);
            }
            prev = Some(id);
            let glyph = id.with_scale_and_position(sf.scale(), ab_glyph::point(caret, dy + ascent));
            caret += sf.h_advance(id);
            let Some(outline) = font().outline_glyph(glyph) else {
                continue;
            };
            let b = outline.px_bounds();
            let mut pixels = Vec::new();
            outline.draw(|x, y, cov| {
                if cov > 0.0 {
                    pixels.push((b.min.x as i32 + x as i32, b.min.y as i32 + y as i32, cov));
                }
            });
            for (x, y, cov) in pixels {
                let (x, y) = trans.transform(x, y);
                let (x, y) = (pos.0 + x, pos.1 + y);
                if x >= 0 && y >= 0 && (x as u32) < w && (y as u32) < h {
                    let mut c = color;
                    c.alpha *= f64::from(cov.min(1.0));
                    self.0.draw_pixel((x, y), c)?;
                }
            }
        }
        Ok(())
    }
}

pub(super) fn encode_png(rgb: &[u8], w: u32, h: u32) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let err = |e: png::EncodingError| Error::encode("PNG", e);
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut wr = enc.write_header().map_err(err)?;
        wr.write_image_data(rgb).map_err(err)?;
        wr.finish().map_err(err)?;
    }
    Ok(out)
}
