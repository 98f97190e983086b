//! Thai-safe text on a krilla surface: script runs, measuring and wrapping.
//!
//! krilla's `draw_text` shapes a whole call as one script, guessed from its first letter, so
//! `"INV-0001 ญู"` would be shaped as Latin and the Thai marks would collide. Every string is
//! therefore cut into Thai and non-Thai runs ([`script_runs`]) and each run is drawn on its own,
//! advanced by its width measured with rustybuzz (the shaper krilla uses, same version), which is
//! also how right-aligned amounts find their start.

use krilla::geom::Point;
use krilla::surface::Surface;
use krilla::text::{Font, TextDirection};

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
pub fn script_runs(text: &str) -> Vec<&str> {
    let mut runs = Vec::new();
    let mut start = 0;
    let mut current: Option<bool> = None;
    for (i, c) in text.char_indices() {
        if !is_strong(c) {
            continue;
        }
        let thai = is_thai(c);
        match current {
            Some(t) if t != thai => {
                runs.push(&text[start..i]);
                start = i;
                current = Some(thai);
            }
            Some(_) => {}
            None => current = Some(thai),
        }
    }
    if start < text.len() {
        runs.push(&text[start..]);
    }
    runs
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
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Weight {
    Regular,
    Bold,
}

/// The embedded Waree faces, for drawing (krilla) and measuring (rustybuzz).
pub struct Fonts {
    regular: Font,
    bold: Font,
    regular_face: rustybuzz::Face<'static>,
    bold_face: rustybuzz::Face<'static>,
}

impl Fonts {
    /// Parses the embedded fonts; `None` only if the bundled files were broken at build time.
    pub fn load() -> Option<Fonts> {
        Some(Fonts {
            regular: Font::new(WAREE.into(), 0)?,
            bold: Font::new(WAREE_BOLD.into(), 0)?,
            regular_face: rustybuzz::Face::from_slice(WAREE, 0)?,
            bold_face: rustybuzz::Face::from_slice(WAREE_BOLD, 0)?,
        })
    }

    fn pick(&self, weight: Weight) -> (&Font, &rustybuzz::Face<'static>) {
        match weight {
            Weight::Regular => (&self.regular, &self.regular_face),
            Weight::Bold => (&self.bold, &self.bold_face),
        }
    }

    /// The advance width of one script run at `size` points, shaped as krilla will shape it.
    fn run_width(&self, run: &str, weight: Weight, size: f32) -> f32 {
        let (_, face) = self.pick(weight);
        let mut buffer = rustybuzz::UnicodeBuffer::new();
        buffer.push_str(run);
        buffer.guess_segment_properties();
        let shaped = rustybuzz::shape(face, &[], buffer);
        let units: i32 = shaped.glyph_positions().iter().map(|p| p.x_advance).sum();
        units as f32 * size / face.units_per_em() as f32
    }

    /// The width of `text` at `size` points.
    pub fn width(&self, text: &str, weight: Weight, size: f32) -> f32 {
        script_runs(text)
            .into_iter()
            .map(|run| self.run_width(run, weight, size))
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
        let (font, _) = self.pick(weight);
        let mut pen = x;
        for run in script_runs(text) {
            surface.draw_text(
                Point::from_xy(pen, y),
                font.clone(),
                size,
                run,
                false,
                TextDirection::LeftToRight,
            );
            pen += self.run_width(run, weight, size);
        }
        pen - x
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
        let width = self.width(text, weight, size);
        self.draw(surface, text, (right - width, y), weight, size);
    }

    /// Breaks `text` into lines no wider than `max`: at spaces where it can, otherwise (Thai
    /// writes words without spaces) between characters, never before a Thai mark.
    pub fn wrap(&self, text: &str, weight: Weight, size: f32, max: f32) -> Vec<String> {
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
            for c in word.chars() {
                let mut next = line.clone();
                next.push(c);
                let breakable =
                    !line.is_empty() && !is_thai_mark(c) && !line.ends_with(is_thai_leading_vowel);
                if breakable && self.width(&next, weight, size) > max {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_thai_from_latin_keeping_neutrals_with_the_run_before() {
        assert_eq!(script_runs("INV-0001 ญู"), vec!["INV-0001 ", "ญู"]);
        assert_eq!(
            script_runs("ใบกำกับภาษี / Tax invoice"),
            vec!["ใบกำกับภาษี / ", "Tax invoice"]
        );
        assert_eq!(script_runs("(หนึ่งบาทถ้วน)"), vec!["(หนึ่งบาทถ้วน)"]);
        assert_eq!(script_runs("1,234.50"), vec!["1,234.50"]);
        assert_eq!(script_runs("ที่นี่ ผู้ใหญ่ น้ำ"), vec!["ที่นี่ ผู้ใหญ่ น้ำ"]);
        assert_eq!(script_runs("Plan ผู้ใหญ่ Pro"), vec!["Plan ", "ผู้ใหญ่ ", "Pro"]);
        assert!(script_runs("").is_empty());
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
}
