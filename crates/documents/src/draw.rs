//! The pen every printed document shares: A4 in points, the palette, filled rectangles (rules
//! are thin ones) and text in a colour through the shaped Thai runs of [`crate::text`].
//!
//! Coordinates are PDF points from the top-left corner; a text `y` is its baseline.

use krilla::color::rgb;
use krilla::geom::{PathBuilder, Rect};
use krilla::num::NormalizedF32;
use krilla::paint::Fill;
use krilla::surface::Surface;

use crate::text::{Fonts, Weight};

/// A4's short and long sides in points.
pub const A4_SHORT: f32 = 595.28;
pub const A4_LONG: f32 = 841.89;

pub type Colour = (u8, u8, u8);

pub const BLACK: Colour = (0x1a, 0x1a, 0x1a);
pub const GREY: Colour = (0x66, 0x66, 0x66);
pub const RULE: Colour = (0xbb, 0xbb, 0xbb);
pub const SHADE: Colour = (0xee, 0xf3, 0xee);
pub const ACCENT: Colour = (0x1f, 0x6b, 0x3a);

pub fn fill(surface: &mut Surface, (r, g, b): Colour) {
    surface.set_fill(Some(Fill {
        paint: rgb::Color::new(r, g, b).into(),
        opacity: NormalizedF32::ONE,
        rule: Default::default(),
    }));
}

/// A filled rectangle (rules are thin rectangles): top-left corner, width, height.
pub fn rect(surface: &mut Surface, (x, y, w, h): (f32, f32, f32, f32), colour: Colour) {
    let mut path = PathBuilder::new();
    if let Some(r) = Rect::from_xywh(x, y, w, h) {
        path.push_rect(r);
    }
    if let Some(path) = path.finish() {
        fill(surface, colour);
        surface.draw_path(&path);
    }
}

/// The drawing helpers, bound to the fonts. Each document adds its own blocks to it.
pub struct Ink<'a> {
    pub fonts: &'a Fonts,
}

impl Ink<'_> {
    /// `text` from (`x`, baseline `y`).
    pub fn text(
        &self,
        s: &mut Surface,
        text: &str,
        at: (f32, f32),
        weight: Weight,
        size: f32,
        colour: Colour,
    ) {
        fill(s, colour);
        self.fonts.draw(s, text, at, weight, size);
    }

    /// `text` ending at `x`.
    pub fn text_right(
        &self,
        s: &mut Surface,
        text: &str,
        at: (f32, f32),
        weight: Weight,
        size: f32,
        colour: Colour,
    ) {
        fill(s, colour);
        self.fonts.draw_right(s, text, at, weight, size);
    }

    /// `text` centred on `x`.
    pub fn text_centred(
        &self,
        s: &mut Surface,
        text: &str,
        (x, y): (f32, f32),
        weight: Weight,
        size: f32,
        colour: Colour,
    ) {
        let width = self.fonts.width(text, weight, size);
        self.text(s, text, (x - width / 2.0, y), weight, size, colour);
    }
}
