//! Words drawn once and placed many times: a long report's repeated texts — its dates, the
//! buyers' establishments, the words of their names — each drawn once as a form XObject and
//! placed wherever it appears.
//!
//! Why: krilla's cost of drawing text is per glyph, and more per Thai cluster of several
//! glyphs (each is written inside its own `/ActualText` span); on a report of thousands of
//! pages the same few thousand words were a large share of that work and of the pages'
//! content (100,000 rows: a fifth less CPU, a quarter smaller file). A placed word is a
//! transform and a `Do`. What a reader sees and extracts is the same: the word's glyphs, where
//! they were, spaces included.

use krilla::geom::{Point, Transform};
use krilla::graphic::Graphic;
use krilla::surface::Surface;
use rustc_hash::FxHashMap;
use rustybuzz::Script;

use crate::draw::{Colour, fill};
use crate::text::{Baseline, Fonts, Weight, script_runs};

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Stamp {
    weight: Weight,
    /// The size's bits: sizes are a handful of constants.
    size: u32,
    colour: Colour,
    /// The script of the run the word came from, which it was shaped in.
    script: Option<Script>,
    word: Box<str>,
}

/// The words drawn so far in one document. Its graphics belong to that document only.
#[derive(Default)]
pub struct Stamps {
    drawn: FxHashMap<Stamp, Graphic>,
}

impl Stamps {
    /// Adds `text` from `x` to the line `line` will draw at baseline `y`: each word that needs
    /// shaping as its stamp, placed now; figures (glyph for character anyway, and rarely the
    /// same twice) pushed onto `line`'s run of glyphs.
    pub fn text(
        &mut self,
        s: &mut Surface,
        line: &mut Baseline,
        text: &str,
        (x, y): (f32, f32),
        colour: Colour,
    ) {
        let (fonts, weight, size) = (line.fonts(), line.weight(), line.size());
        let (_, shaper) = fonts.pick(weight);
        let mut pen = x;
        for run in script_runs(text) {
            let (script, words) = shaper.run_words(run);
            for (word, units) in words {
                if shaper.is_nominal(word) {
                    line.push(word, pen);
                } else {
                    let stamp = Stamp {
                        weight,
                        size: size.to_bits(),
                        colour,
                        script,
                        word: word.into(),
                    };
                    let graphic = match self.drawn.get(&stamp) {
                        Some(graphic) => graphic.clone(),
                        None => {
                            let graphic = draw_stamp(s, fonts, &stamp, size);
                            self.drawn.insert(stamp, graphic.clone());
                            graphic
                        }
                    };
                    s.push_transform(&Transform::from_translate(pen, y));
                    s.draw_graphic(graphic);
                    s.pop();
                }
                pen += fonts.points(units, weight, size);
            }
        }
    }
}

/// The stamp's word drawn with its baseline's start at the origin.
fn draw_stamp(s: &mut Surface, fonts: &Fonts, stamp: &Stamp, size: f32) -> Graphic {
    let (font, shaper) = fonts.pick(stamp.weight);
    let mut glyphs = Vec::new();
    shaper.glyphs(stamp.script, &stamp.word, 0, &mut glyphs);
    let mut builder = s.stream_builder();
    let mut surface = builder.surface();
    fill(&mut surface, stamp.colour);
    surface.draw_glyphs(
        Point::from_xy(0.0, 0.0),
        &glyphs,
        font.clone(),
        &stamp.word,
        size,
        false,
    );
    surface.finish();
    Graphic::new(builder.finish(), false)
}
