//! Thai-safe text on a krilla surface: script runs, measuring, wrapping and drawing.
//!
//! A shaper given a whole string shapes it as one script, guessed from its first letter, so
//! `"INV-0001 ญู"` would be shaped as Latin and the Thai marks would collide. Every string is
//! therefore cut into Thai and non-Thai runs ([`script_runs`]) and each run is shaped on its own
//! with rustybuzz (the shaper krilla uses, same version) through [`crate::shaping`], which keeps
//! what it shaped; the width of a run is the sum of its advances, which is also how
//! right-aligned amounts find their start. The glyphs of a line, all its runs and, in a table,
//! all its cells, go to krilla in one call ([`Baseline`]).

use std::sync::{PoisonError, RwLock};

use krilla::geom::Point;
use krilla::surface::Surface;
use krilla::text::{Font, KrillaGlyph};
use rustc_hash::FxHashMap;

use crate::shaping::Shaper;

static WAREE: &[u8] = include_bytes!("../fonts/Waree.ttf");
static WAREE_BOLD: &[u8] = include_bytes!("../fonts/Waree-Bold.ttf");

/// Is `c` in the Thai block (letters, vowels, tone marks, digits)?
fn is_thai(c: char) -> bool {
    ('\u{0E00}'..='\u{0E7F}').contains(&c)
}

/// Does `c` carry a script of its own? Spaces, digits and punctuation do not: they join the run
/// they are in, as a shaper would treat them.
fn is_strong(c: char) -> bool {
    is_thai(c) || c.is_alphabetic()
}

/// Cuts `text` into maximal runs whose letters are all Thai or all non-Thai; neutral characters
/// (spaces, digits, punctuation) stay with the run before them, or the next one at the start.
pub fn script_runs(text: &str) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        // The script of the run: that of its first letter.
        let mut letters = rest.char_indices().filter(|(_, c)| is_strong(*c));
        let thai = letters.next().map(|(_, c)| is_thai(c));
        let end = letters
            .find(|(_, c)| Some(is_thai(*c)) != thai)
            .map_or(rest.len(), |(i, _)| i);
        let (run, after) = rest.split_at(end);
        rest = after;
        Some(run)
    })
}

/// Thai marks above and below a consonant, the vowels written after it (ะ า ำ ๅ) and the
/// repetition mark ๆ: a line must never be broken before one.
fn is_thai_mark(c: char) -> bool {
    matches!(c, '\u{0E30}'..='\u{0E3A}' | '\u{0E45}'..='\u{0E4E}')
}

/// Thai vowels written before their consonant: a line must never end with one.
fn is_thai_leading_vowel(c: char) -> bool {
    ('\u{0E40}'..='\u{0E44}').contains(&c)
}

/// Regular or bold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Weight {
    Regular,
    Bold,
}

/// A word cut to a width: its weight, the bits of its size and of the width, the word.
type CutWordKey = (Weight, u32, u32, String);

/// The embedded Waree faces, for drawing (krilla) and for shaping and measuring (rustybuzz,
/// through the caching [`Shaper`]). One `Fonts` serves one document: its caches grow with the
/// distinct words the document holds, and threads laying the document out share them.
pub struct Fonts {
    regular: Font,
    bold: Font,
    regular_shaper: Shaper,
    bold_shaper: Shaper,
    /// How [`Fonts::wrap`] cut a word too wide for its line, by weight, size, width and word:
    /// long Thai names repeat, and cutting one measures it at every character.
    cut_words: RwLock<FxHashMap<CutWordKey, (Vec<String>, String)>>,
}

impl Fonts {
    /// Parses the embedded fonts; `None` only if the bundled files were broken at build time.
    pub fn load() -> Option<Fonts> {
        Some(Fonts {
            regular: Font::new(WAREE.into(), 0)?,
            bold: Font::new(WAREE_BOLD.into(), 0)?,
            regular_shaper: Shaper::new(WAREE, true)?,
            bold_shaper: Shaper::new(WAREE_BOLD, false)?,
            cut_words: RwLock::new(FxHashMap::default()),
        })
    }

    pub(crate) fn pick(&self, weight: Weight) -> (&Font, &Shaper) {
        match weight {
            Weight::Regular => (&self.regular, &self.regular_shaper),
            Weight::Bold => (&self.bold, &self.bold_shaper),
        }
    }

    /// Font units to points at `size`.
    pub(crate) fn points(&self, units: i32, weight: Weight, size: f32) -> f32 {
        let (_, shaper) = self.pick(weight);
        units as f32 * size / shaper.units_per_em()
    }

    /// The width of `text` at `size` points.
    pub fn width(&self, text: &str, weight: Weight, size: f32) -> f32 {
        let (_, shaper) = self.pick(weight);
        script_runs(text)
            .map(|run| self.points(shaper.run_advance(run), weight, size))
            .sum()
    }

    /// The width of `text` shaped whole, run by run, bypassing the caches: for the prefixes
    /// [`Fonts::wrap`] tries when it cuts a word, which are seen once.
    fn width_uncached(&self, text: &str, weight: Weight, size: f32) -> f32 {
        let (_, shaper) = self.pick(weight);
        script_runs(text)
            .map(|run| {
                let units = shaper.shape(run, None).iter().map(|g| g.x_advance).sum();
                self.points(units, weight, size)
            })
            .sum()
    }

    /// Draws `text` with its baseline starting at (`x`, `y`); returns the width drawn.
    pub fn draw(
        &self,
        surface: &mut Surface,
        text: &str,
        (x, y): (f32, f32),
        weight: Weight,
        size: f32,
    ) -> f32 {
        let mut line = self.baseline(weight, size);
        let width = line.push(text, x);
        line.draw(surface, y);
        width
    }

    /// Draws `text` so that it ends at `right`.
    pub fn draw_right(
        &self,
        surface: &mut Surface,
        text: &str,
        (right, y): (f32, f32),
        weight: Weight,
        size: f32,
    ) {
        let mut line = self.baseline(weight, size);
        line.push_right(text, right);
        line.draw(surface, y);
    }

    /// An empty line of text in `weight` at `size`, to be filled with [`Baseline::push`].
    pub fn baseline(&self, weight: Weight, size: f32) -> Baseline<'_> {
        Baseline {
            fonts: self,
            weight,
            size,
            start: 0.0,
            pen: 0.0,
            text: String::new(),
            glyphs: Vec::new(),
        }
    }

    /// Breaks `text` into lines no wider than `max`: at spaces where it can, otherwise (Thai
    /// writes words without spaces) between characters, never before a Thai mark.
    pub fn wrap(&self, text: &str, weight: Weight, size: f32, max: f32) -> Vec<String> {
        match self.fit(text, weight, size, max) {
            Fit::Line(_) => vec![text.to_owned()],
            Fit::Lines(lines) => lines,
        }
    }

    /// [`Fonts::wrap`], saying when `text` is a line as it is and how wide.
    pub fn fit(&self, text: &str, weight: Weight, size: f32, max: f32) -> Fit {
        // Most cells fit on their line: one measure, and the lines below would say the same.
        let single_spaced = !text.starts_with(' ') && !text.ends_with(' ') && !text.contains("  ");
        if single_spaced {
            let width = self.width(text, weight, size);
            if width <= max {
                return Fit::Line(width);
            }
        }
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if self.width(&candidate, weight, size) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            // The word alone may still be too wide: cut it between clusters.
            let (full, rest) = self.cut_word(word, weight, size, max);
            lines.extend(full);
            line = rest;
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        Fit::Lines(lines)
    }

    /// `word` put on a fresh line and cut where it overflows `max`: the full lines, and the
    /// rest that starts the next one. Remembered, as the same long words come back.
    fn cut_word(&self, word: &str, weight: Weight, size: f32, max: f32) -> (Vec<String>, String) {
        let key = (weight, size.to_bits(), max.to_bits(), word.to_owned());
        let found = self
            .cut_words
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            .cloned();
        if let Some(cut) = found {
            return cut;
        }
        let mut lines = Vec::new();
        let mut line = String::new();
        for c in word.chars() {
            let mut next = line.clone();
            next.push(c);
            let breakable =
                !line.is_empty() && !is_thai_mark(c) && !line.ends_with(is_thai_leading_vowel);
            if breakable && self.width_uncached(&next, weight, size) > max {
                lines.push(std::mem::take(&mut line));
                next = c.to_string();
            }
            line = next;
        }
        let cut = (lines, line);
        self.cut_words
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, cut.clone());
        cut
    }
}

/// How a text fits a width: on one line as it is, this wide, or broken into these lines.
pub enum Fit {
    Line(f32),
    Lines(Vec<String>),
}

/// Texts in one face and size on one baseline — a table row's cells — drawn as a single run
/// of glyphs, whatever their scripts: each text lands where it was pushed, the gap before it
/// given to the previous glyph's advance. krilla wraps every drawing call in a graphics state
/// and a text object of its own, and a report page of separate cells was mostly those wrappers
/// (more to write, and more to compress).
pub struct Baseline<'a> {
    fonts: &'a Fonts,
    weight: Weight,
    size: f32,
    /// Where the first glyph starts.
    start: f32,
    /// Where the last glyph ends.
    pen: f32,
    /// The texts pushed, one after the other: the glyphs' clusters index it.
    text: String,
    glyphs: Vec<KrillaGlyph>,
}

impl<'a> Baseline<'a> {
    pub fn fonts(&self) -> &'a Fonts {
        self.fonts
    }

    pub fn weight(&self) -> Weight {
        self.weight
    }

    pub fn size(&self) -> f32 {
        self.size
    }

    /// Adds `text` starting at `x`; returns its width.
    pub fn push(&mut self, text: &str, x: f32) -> f32 {
        let (_, shaper) = self.fonts.pick(self.weight);
        match self.glyphs.last_mut() {
            Some(last) => last.x_advance += (x - self.pen) / self.size,
            None => self.start = x,
        }
        self.pen = x;
        for run in script_runs(text) {
            let units = shaper.run_glyphs(run, self.text.len(), &mut self.glyphs);
            self.text.push_str(run);
            self.pen += self.fonts.points(units, self.weight, self.size);
        }
        self.pen - x
    }

    /// Adds `text` ending at `right`.
    pub fn push_right(&mut self, text: &str, right: f32) {
        let width = self.fonts.width(text, self.weight, self.size);
        self.push(text, right - width);
    }

    /// Draws the line with its baseline at `y`, in the surface's fill.
    pub fn draw(self, surface: &mut Surface, y: f32) {
        if self.glyphs.is_empty() {
            return;
        }
        let (font, _) = self.fonts.pick(self.weight);
        surface.draw_glyphs(
            Point::from_xy(self.start, y),
            &self.glyphs,
            font.clone(),
            &self.text,
            self.size,
            false,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_thai_from_latin_keeping_neutrals_with_the_run_before() {
        assert_eq!(
            script_runs("INV-0001 ญู").collect::<Vec<_>>(),
            vec!["INV-0001 ", "ญู"]
        );
        assert_eq!(
            script_runs("ใบกำกับภาษี / Tax invoice").collect::<Vec<_>>(),
            vec!["ใบกำกับภาษี / ", "Tax invoice"]
        );
        assert_eq!(
            script_runs("(หนึ่งบาทถ้วน)").collect::<Vec<_>>(),
            vec!["(หนึ่งบาทถ้วน)"]
        );
        assert_eq!(
            script_runs("1,234.50").collect::<Vec<_>>(),
            vec!["1,234.50"]
        );
        assert_eq!(
            script_runs("ที่นี่ ผู้ใหญ่ น้ำ").collect::<Vec<_>>(),
            vec!["ที่นี่ ผู้ใหญ่ น้ำ"]
        );
        assert_eq!(
            script_runs("Plan ผู้ใหญ่ Pro").collect::<Vec<_>>(),
            vec!["Plan ", "ผู้ใหญ่ ", "Pro"]
        );
        assert_eq!(script_runs("").count(), 0);
    }

    #[test]
    fn measures_and_wraps_without_splitting_marks() {
        let fonts = Fonts::load().unwrap();
        let one = fonts.width("น", Weight::Regular, 10.0);
        assert!(one > 0.0);
        // Marks have no advance of their own.
        assert!(
            (fonts.width("น้ำ", Weight::Regular, 10.0) - fonts.width("นำ", Weight::Regular, 10.0))
                .abs()
                < 0.01
        );
        assert!(fonts.width("ab", Weight::Bold, 20.0) > fonts.width("ab", Weight::Regular, 10.0));

        for text in ["ผู้ใหญ่ที่นี่น้ำเมื่อไร", "หอมมะลิทุ่งกุลาน้ำตาลมากๆ"]
        {
            for width in [2.0, 3.0, 4.0] {
                let lines = fonts.wrap(text, Weight::Regular, 10.0, one * width);
                assert!(lines.len() > 1);
                assert_eq!(lines.concat(), text);
                for l in &lines {
                    assert!(!l.starts_with(is_thai_mark), "{lines:?}");
                    assert!(!l.ends_with(is_thai_leading_vowel), "{lines:?}");
                }
            }
        }
        assert_eq!(
            fonts.wrap("Monthly fee", Weight::Regular, 10.0, 1000.0),
            vec!["Monthly fee"]
        );
    }

    /// [`Fonts::wrap`] as it was before the caches and the one-line shortcut: every candidate
    /// line shaped whole. It says where lines break.
    fn wrap_shaping_everything(
        fonts: &Fonts,
        text: &str,
        weight: Weight,
        size: f32,
        max: f32,
    ) -> Vec<String> {
        let width = |t: &str| fonts.width_uncached(t, weight, size);
        let mut lines = Vec::new();
        let mut line = String::new();
        for word in text.split(' ').filter(|w| !w.is_empty()) {
            let candidate = if line.is_empty() {
                word.to_owned()
            } else {
                format!("{line} {word}")
            };
            if width(&candidate) <= max {
                line = candidate;
                continue;
            }
            if !line.is_empty() {
                lines.push(std::mem::take(&mut line));
            }
            for c in word.chars() {
                let mut next = line.clone();
                next.push(c);
                let breakable =
                    !line.is_empty() && !is_thai_mark(c) && !line.ends_with(is_thai_leading_vowel);
                if breakable && width(&next) > max {
                    lines.push(std::mem::take(&mut line));
                    next = c.to_string();
                }
                line = next;
            }
        }
        if !line.is_empty() || lines.is_empty() {
            lines.push(line);
        }
        lines
    }

    /// Names as the bench's book makes them, and a few odd ones, in a report's name column and
    /// narrower: the cached measures break every line where shaping everything did, and a
    /// text's width is the same whichever way it is measured.
    #[test]
    fn wraps_where_shaping_everything_did() {
        let fonts = Fonts::load().unwrap();
        let mut texts: Vec<String> = [
            "ผู้ใหญ่ที่นี่น้ำเมื่อไร",
            "สหกรณ์การเกษตรผู้ปลูกข้าวหอมมะลิทุ่งกุลาร้องไห้ จำกัด (ที่นี่ ผู้ใหญ่ น้ำ)",
            "Green Valley Durian 1234 Co., Ltd.",
            "Office fit-out   affluent ",
            " INV-0001 ญู",
            "Plan ผู้ใหญ่ Pro 11",
            "",
        ]
        .map(str::to_owned)
        .to_vec();
        let forms = [
            ("สหกรณ์การเกษตร", " จำกัด"),
            ("บริษัท ฟาร์ม", " จำกัด"),
            ("ห้างหุ้นส่วนจำกัด ไร่", ""),
            ("วิสาหกิจชุมชน", ""),
        ];
        let products = ["ข้าวหอมมะลิ", "มันสำปะหลัง", "สตรอว์เบอร์รี", "ปาล์มน้ำมัน"];
        let places = ["ดอยแม่สลอง", "วังน้ำเขียว", "ดำเนินสะดวก", "บ้านแพ้ว"];
        for (i, (prefix, suffix)) in forms.iter().enumerate() {
            for (j, product) in products.iter().enumerate() {
                let place = places[(i + j) % places.len()];
                texts.push(format!("{prefix}{product}{place} {}{suffix}", 7 + 997 * j));
            }
        }
        for weight in [Weight::Regular, Weight::Bold] {
            for max in [129.9, 72.0, 40.0] {
                for text in &texts {
                    assert_eq!(
                        fonts.wrap(text, weight, 8.5, max),
                        wrap_shaping_everything(&fonts, text, weight, 8.5, max),
                        "{text:?} in {max} {weight:?}"
                    );
                }
            }
            for text in &texts {
                assert_eq!(
                    fonts.width(text, weight, 8.5),
                    fonts.width_uncached(text, weight, 8.5),
                    "{text:?}"
                );
            }
        }
    }
}
