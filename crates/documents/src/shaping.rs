//! Text shaped once and drawn as glyphs: the fast path under [`crate::text::Fonts`].
//!
//! Why it exists: the output-VAT report of a busy month is 100,000 rows on thousands of pages,
//! and measuring every cell with rustybuzz and then handing the string to krilla's `draw_text`
//! (which parses the font again and shapes the string again) took over 30 seconds. Here:
//!
//! - a script run is cut at its spaces and each piece is shaped once per document and kept:
//!   customer names repeat their words (บริษัท, จำกัด, the farm's name), headers repeat on
//!   every page. Shaping the pieces apart gives the glyphs shaping the run whole gives, because
//!   Waree has no kerning or contextual substitution across a space (the tests compare both);
//! - in the regular face, a piece made only of [`NOMINAL`] characters (figures, amounts, dates,
//!   tax ids, document numbers) is not shaped at all: each character is its nominal glyph at its
//!   nominal advance, because Waree Regular has no kerning or ligature among them (the tests
//!   prove it pair by pair; the bold face kerns "11", so bold text is always shaped);
//! - the glyphs are drawn with krilla's `draw_glyphs`, exactly as `draw_text` would draw them.

use std::sync::{Arc, Mutex, PoisonError, RwLock};

use krilla::text::{GlyphId, KrillaGlyph};
use rustc_hash::FxHashMap;
use rustybuzz::{Direction, Script, ShapePlan, UnicodeBuffer};

/// The characters the regular face draws as their nominal glyphs whatever surrounds them.
pub const NOMINAL: &str = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ ,.-/()#:";

/// One shaped glyph in font units; `start..end` is its cluster's bytes in the shaped text, as
/// krilla computes it from rustybuzz's clusters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShapedGlyph {
    pub id: u32,
    pub x_advance: i32,
    pub x_offset: i32,
    pub y_offset: i32,
    pub y_advance: i32,
    pub start: u32,
    pub end: u32,
}

/// A piece shaped: its glyphs and their total advance.
struct Piece {
    glyphs: Vec<ShapedGlyph>,
    advance: i32,
}

/// Shaped pieces by their text.
type Pieces = FxHashMap<Box<str>, Arc<Piece>>;

/// One face's shaper with its caches. It lives as long as the document being drawn, and the
/// threads laying out a long report share it.
pub struct Shaper {
    face: rustybuzz::Face<'static>,
    units_per_em: f32,
    /// `NOMINAL` characters by ASCII code: glyph and advance; empty when the face kerns them.
    nominal: Vec<Option<(u32, i32)>>,
    /// One plan a script: building a plan costs about as much as shaping a short word.
    plans: Mutex<Vec<(Option<Script>, Arc<ShapePlan>)>>,
    /// Pieces already shaped, by the script of the run they came from (a report has two or
    /// three). Looked up for every word drawn or measured, hence the fast hash.
    pieces: RwLock<Vec<(Option<Script>, Pieces)>>,
}

impl Shaper {
    /// A shaper for `data`; `nominal` turns on the glyph-by-glyph path for [`NOMINAL`].
    pub fn new(data: &'static [u8], nominal: bool) -> Option<Shaper> {
        let face = rustybuzz::Face::from_slice(data, 0)?;
        let table = if nominal {
            let mut table = vec![None; 128];
            for c in NOMINAL.chars() {
                let id = face.glyph_index(c)?;
                let advance = face.glyph_hor_advance(id)?;
                table[c as usize] = Some((u32::from(id.0), i32::from(advance)));
            }
            table
        } else {
            Vec::new()
        };
        Some(Shaper {
            units_per_em: face.units_per_em() as f32,
            face,
            nominal: table,
            plans: Mutex::new(Vec::new()),
            pieces: RwLock::new(Vec::new()),
        })
    }

    pub fn units_per_em(&self) -> f32 {
        self.units_per_em
    }

    /// The advance of one script run in font units.
    pub fn run_advance(&self, run: &str) -> i32 {
        let script = run_script(run);
        pieces(run)
            .map(|(_, piece)| self.piece_advance(script, piece))
            .sum()
    }

    /// Appends the glyphs of one script run to `out` as krilla takes them, their clusters as
    /// bytes of a text holding the run at byte `at`; returns the run's advance in font units.
    pub fn run_glyphs(&self, run: &str, at: usize, out: &mut Vec<KrillaGlyph>) -> i32 {
        self.glyphs(run_script(run), run, at, out)
    }

    /// The words of one script run, each with the spaces after it, with the run's script and
    /// each word's advance in font units.
    pub fn run_words<'r>(
        &self,
        run: &'r str,
    ) -> (Option<Script>, impl Iterator<Item = (&'r str, i32)>) {
        let script = run_script(run);
        let words = run.split_inclusive(' ').map(move |word| {
            let advance = pieces(word)
                .map(|(_, piece)| self.piece_advance(script, piece))
                .sum();
            (word, advance)
        });
        (script, words)
    }

    /// [`Shaper::run_glyphs`] for part of a run whose script is `script`.
    pub fn glyphs(
        &self,
        script: Option<Script>,
        run: &str,
        at: usize,
        out: &mut Vec<KrillaGlyph>,
    ) -> i32 {
        pieces(run)
            .map(|(offset, piece)| self.piece_glyphs(script, piece, at + offset, out))
            .sum()
    }

    /// The advance of `piece`, looked up nominally or shaped once.
    fn piece_advance(&self, script: Option<Script>, piece: &str) -> i32 {
        match self.nominal_advance(piece) {
            Some(advance) => advance,
            None => self.shaped(script, piece).advance,
        }
    }

    /// Appends the glyphs of `piece` to `out`, their clusters moved by `offset`; returns the
    /// piece's advance.
    fn piece_glyphs(
        &self,
        script: Option<Script>,
        piece: &str,
        offset: usize,
        out: &mut Vec<KrillaGlyph>,
    ) -> i32 {
        let to_krilla = |g: &ShapedGlyph| {
            let upem = self.units_per_em;
            KrillaGlyph::new(
                GlyphId::new(g.id),
                g.x_advance as f32 / upem,
                g.x_offset as f32 / upem,
                g.y_offset as f32 / upem,
                g.y_advance as f32 / upem,
                offset + g.start as usize..offset + g.end as usize,
                None,
            )
        };
        if self.is_nominal(piece) {
            let glyphs = self.nominal_glyphs(piece);
            let advance = glyphs.clone().map(|g| g.x_advance).sum();
            out.extend(glyphs.map(|g| to_krilla(&g)));
            return advance;
        }
        let shaped = self.shaped(script, piece);
        out.extend(shaped.glyphs.iter().map(to_krilla));
        shaped.advance
    }

    /// `piece` shaped in `script`, from the cache or shaped now and kept.
    fn shaped(&self, script: Option<Script>, piece: &str) -> Arc<Piece> {
        // A poisoned cache is still a cache: a panic cannot leave a half-inserted piece.
        let found = self
            .pieces
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .find(|(s, _)| *s == script)
            .and_then(|(_, pieces)| pieces.get(piece))
            .cloned();
        found.unwrap_or_else(|| {
            let glyphs = self.shape(piece, script);
            let advance = glyphs.iter().map(|g| g.x_advance).sum();
            let shaped = Arc::new(Piece { glyphs, advance });
            let mut pieces = self.pieces.write().unwrap_or_else(PoisonError::into_inner);
            let index = match pieces.iter().position(|(s, _)| *s == script) {
                Some(index) => index,
                None => {
                    pieces.push((script, FxHashMap::default()));
                    pieces.len() - 1
                }
            };
            pieces[index].1.insert(piece.into(), Arc::clone(&shaped));
            shaped
        })
    }

    /// Whether `text` is drawn glyph by glyph, without shaping: every character of it
    /// [`NOMINAL`], in a face that allows it.
    pub fn is_nominal(&self, text: &str) -> bool {
        !self.nominal.is_empty()
            && text.bytes().all(|b| {
                self.nominal
                    .get(usize::from(b))
                    .is_some_and(Option::is_some)
            })
    }

    /// The advance of `piece` if it [`Shaper::is_nominal`].
    fn nominal_advance(&self, piece: &str) -> Option<i32> {
        if self.nominal.is_empty() {
            return None;
        }
        piece
            .bytes()
            .map(|b| Some(self.nominal.get(usize::from(b)).copied()??.1))
            .sum()
    }

    /// The glyphs of a piece that [`Shaper::is_nominal`], one a character.
    fn nominal_glyphs<'a>(
        &'a self,
        piece: &'a str,
    ) -> impl Iterator<Item = ShapedGlyph> + Clone + 'a {
        piece.bytes().enumerate().filter_map(|(i, b)| {
            let (id, x_advance) = self.nominal.get(usize::from(b)).copied()??;
            let i = i as u32;
            Some(ShapedGlyph {
                id,
                x_advance,
                x_offset: 0,
                y_offset: 0,
                y_advance: 0,
                start: i,
                end: i + 1,
            })
        })
    }

    /// Shapes `text` whole as krilla's `draw_text` would (left to right, the script guessed
    /// from `text` unless given), clusters as byte ranges of `text`.
    pub fn shape(&self, text: &str, script: Option<Script>) -> Vec<ShapedGlyph> {
        let mut buffer = UnicodeBuffer::new();
        buffer.push_str(text);
        if let Some(script) = script {
            buffer.set_script(script);
        }
        buffer.guess_segment_properties();
        buffer.set_direction(Direction::LeftToRight);
        let plan = self.plan(buffer.script());
        let shaped = rustybuzz::shape_with_plan(&self.face, &plan, buffer);
        let infos = shaped.glyph_infos();
        let positions = shaped.glyph_positions();
        infos
            .iter()
            .zip(positions)
            .enumerate()
            .map(|(i, (info, pos))| {
                // A cluster ends where the next cluster starts (krilla's rule).
                let end = infos[i + 1..]
                    .iter()
                    .find(|next| next.cluster != info.cluster)
                    .map_or(text.len() as u32, |next| next.cluster);
                ShapedGlyph {
                    id: info.glyph_id,
                    x_advance: pos.x_advance,
                    x_offset: pos.x_offset,
                    y_offset: pos.y_offset,
                    y_advance: pos.y_advance,
                    start: info.cluster,
                    end,
                }
            })
            .collect()
    }

    fn plan(&self, script: Script) -> Arc<ShapePlan> {
        // `UnicodeBuffer::script` answers Unknown where the buffer holds none.
        let script = Some(script).filter(|s| *s != rustybuzz::script::UNKNOWN);
        let mut plans = self.plans.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((_, plan)) = plans.iter().find(|(s, _)| *s == script) {
            return Arc::clone(plan);
        }
        let plan = Arc::new(ShapePlan::new(
            &self.face,
            Direction::LeftToRight,
            script,
            None,
            &[],
        ));
        plans.push((script, Arc::clone(&plan)));
        plan
    }
}

/// The script rustybuzz guesses for `run`: that of its first character with a script of its
/// own. Thai and ASCII are answered without a buffer; anything else asks rustybuzz.
pub fn run_script(run: &str) -> Option<Script> {
    let mut thai = false;
    let mut latin = false;
    for c in run.chars() {
        match c {
            '\u{0E00}'..='\u{0E7F}' => thai = true,
            c if c.is_ascii_alphabetic() => latin = true,
            c if c.is_ascii() => {}
            _ => return guessed_script(run),
        }
        if thai && latin {
            // Mixed: the first one decides, which only rustybuzz's table knows for sure.
            return guessed_script(run);
        }
    }
    if thai {
        Some(rustybuzz::script::THAI)
    } else if latin {
        Some(rustybuzz::script::LATIN)
    } else {
        None
    }
}

fn guessed_script(run: &str) -> Option<Script> {
    let mut buffer = UnicodeBuffer::new();
    buffer.push_str(run);
    buffer.guess_segment_properties();
    Some(buffer.script()).filter(|s| *s != rustybuzz::script::UNKNOWN)
}

/// `run` cut before and after each space: (byte offset, piece), spaces as pieces of their own.
fn pieces(run: &str) -> impl Iterator<Item = (usize, &str)> {
    run.split_inclusive(' ').flat_map(|part| {
        let word = part.strip_suffix(' ').unwrap_or(part);
        let offset = part.as_ptr() as usize - run.as_ptr() as usize;
        let space = (word.len() < part.len()).then(|| (offset + word.len(), " "));
        (!word.is_empty())
            .then_some((offset, word))
            .into_iter()
            .chain(space)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    static WAREE: &[u8] = include_bytes!("../fonts/Waree.ttf");
    static WAREE_BOLD: &[u8] = include_bytes!("../fonts/Waree-Bold.ttf");

    #[test]
    fn cuts_runs_at_spaces() {
        let cut: Vec<(usize, &str)> = pieces(" a  bc ").collect();
        assert_eq!(
            cut,
            vec![(0, " "), (1, "a"), (2, " "), (3, " "), (4, "bc"), (6, " ")]
        );
        assert_eq!(pieces("").count(), 0);
    }

    #[test]
    fn guesses_scripts_as_rustybuzz_does() {
        for run in [
            "1,234.50",
            "RT-2030-000001",
            "Co., Ltd.",
            "ผู้ใหญ่ 12",
            "(หนึ่งบาท)",
            "Ünal GmbH",
            "",
        ] {
            assert_eq!(run_script(run), guessed_script(run), "{run:?}");
        }
    }

    /// The regular face draws `NOMINAL` text as its nominal glyphs, in any script's run: every
    /// pair of them shapes as the two characters alone.
    #[test]
    fn the_regular_face_neither_kerns_nor_joins_figures() {
        let shaper = Shaper::new(WAREE, true).unwrap();
        for script in [
            None,
            Some(rustybuzz::script::LATIN),
            Some(rustybuzz::script::THAI),
        ] {
            for a in NOMINAL.chars() {
                for b in NOMINAL.chars() {
                    let pair = format!("{a}{b}");
                    assert!(shaper.is_nominal(&pair));
                    let nominal: Vec<ShapedGlyph> = shaper.nominal_glyphs(&pair).collect();
                    assert_eq!(shaper.shape(&pair, script), nominal, "{pair:?}");
                }
            }
        }
        // The bold face kerns some of them, so it has no nominal path.
        let bold = Shaper::new(WAREE_BOLD, false).unwrap();
        assert!(!bold.is_nominal("11"));
    }

    /// Pieces shaped apart and put together are the run shaped whole.
    #[test]
    fn pieces_put_together_are_the_run_shaped_whole() {
        let runs = [
            "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส",
            "สหกรณ์การเกษตรผู้ปลูกข้าวหอมมะลิทุ่งกุลาร้องไห้ จำกัด (ที่นี่ ผู้ใหญ่ น้ำ)",
            "บริษัท ฟาร์มสตรอว์เบอร์รีดอยแม่สลอง 9999 จำกัด",
            "Green Valley Durian 12 Co., Ltd.",
            "Office fit-out affluent",
            "สาขาที่ 00001",
            "RT-2030-000123",
            "-1,234,567.89",
            "  two  spaces ",
        ];
        for (data, nominal) in [(WAREE, true), (WAREE_BOLD, false)] {
            let shaper = Shaper::new(data, nominal).unwrap();
            for run in runs {
                let mut glyphs = Vec::new();
                let advance = shaper.run_glyphs(run, 0, &mut glyphs);
                let whole = shaper.shape(run, None);
                let upem = shaper.units_per_em;
                let expected: Vec<(u32, f32, f32, f32, std::ops::Range<usize>)> = whole
                    .iter()
                    .map(|g| {
                        let range = g.start as usize..g.end as usize;
                        (
                            g.id,
                            g.x_advance as f32 / upem,
                            g.x_offset as f32 / upem,
                            g.y_offset as f32 / upem,
                            range,
                        )
                    })
                    .collect();
                let composed: Vec<(u32, f32, f32, f32, std::ops::Range<usize>)> = glyphs
                    .iter()
                    .map(|g| {
                        (
                            g.glyph_id.to_u32(),
                            g.x_advance,
                            g.x_offset,
                            g.y_offset,
                            g.text_range.clone(),
                        )
                    })
                    .collect();
                assert_eq!(composed, expected, "{run:?}");
                assert_eq!(advance, whole.iter().map(|g| g.x_advance).sum::<i32>());
                assert_eq!(advance, shaper.run_advance(run));
            }
        }
    }
}
