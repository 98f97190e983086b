//! The accountant's reports as printed forms (SPEC §4.3), on landscape A4: the output-VAT
//! report (รายงานภาษีขาย) of a month and the withholding-tax certificates (50 ทวิ) received in
//! a year.
//!
//! Every page repeats the form's header — the title, the period in Thai (เดือน … ปี พ.ศ. …),
//! ชื่อผู้ประกอบการ, เลขประจำตัวผู้เสียภาษีอากร and สถานประกอบการ — and the table's column
//! headings, and says "หน้า n / N" at its foot; the totals row closes the last page. Rows are
//! laid out before anything is drawn, so the page count is known for the first footer.
//!
//! Like the invoice, the renderer computes nothing but layout: every figure, the totals
//! included, is the caller's (the billing crate's report, whose JSON carries the same numbers).
//!
//! A busy month is 100,000 rows on thousands of pages, so the drawing is shaped by cost: the
//! rows are measured on every core, each distinct word is shaped once ([`crate::shaping`]), a
//! row's line is one run of glyphs across its cells ([`crate::text::Baseline`]), what every page
//! repeats is one form XObject ([`Report::frame`]) and the words that come back from row to row
//! (dates, names, establishments) are drawn once each and placed ([`Stamps`]). The page streams
//! are compressed on krilla's worker threads while the next pages are drawn.

use chrono::NaiveDate;
use krilla::Document;
use krilla::graphic::Graphic;
use krilla::page::PageSettings;
use krilla::surface::Surface;
use satang_domain::money::Money;

use crate::Error;
use crate::draw::{A4_LONG, A4_SHORT, ACCENT, BLACK, GREY, Ink, RULE, SHADE, fill, rect};
use crate::format::{amount, buddhist_year, thai_month, thai_numeric_date};
use crate::stamps::Stamps;
use crate::text::{Fit, Fonts, Weight};

const PAGE_W: f32 = A4_LONG;
const PAGE_H: f32 = A4_SHORT;
const MARGIN: f32 = 36.0;
const RIGHT: f32 = PAGE_W - MARGIN;
const TABLE_W: f32 = RIGHT - MARGIN;
/// Where rows must stop, leaving room for the footer.
const BOTTOM: f32 = PAGE_H - MARGIN - 20.0;
/// The footer's baseline.
const FOOT: f32 = PAGE_H - MARGIN;

const BODY: f32 = 8.5;
const HEADING: f32 = 8.0;
const SMALL: f32 = 7.5;
const LEADING: f32 = 11.0;
/// Space between a cell's text and its column's edges.
const PAD: f32 = 4.0;
/// The `y` below the form's header, the same on every page.
const HEADER_H: f32 = MARGIN + 16.0 + 16.0 + 20.0 + 14.0 + 10.0;

/// Who files the report: the seller of the current settings.
#[derive(Debug, Clone, Default)]
pub struct ReportSeller {
    /// ชื่อผู้ประกอบการ: the Thai company name.
    pub name: String,
    /// เลขประจำตัวผู้เสียภาษีอากร, 13 digits.
    pub tax_id: Option<String>,
    /// สถานประกอบการ as the form names it: `สำนักงานใหญ่` or `สาขาที่ 00001`.
    pub establishment: String,
}

/// One tax document of the output-VAT report; amounts in satang, a credit note's negative.
#[derive(Debug, Clone)]
pub struct OutputVatLine {
    pub seq: usize,
    pub date: NaiveDate,
    pub number: String,
    pub buyer_name: String,
    pub buyer_tax_id: Option<String>,
    /// `สำนักงานใหญ่`, `สาขาที่ 00001`, or empty.
    pub branch: String,
    pub base_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
}

/// รายงานภาษีขาย of a month.
#[derive(Debug, Clone)]
pub struct OutputVatDocument {
    pub seller: ReportSeller,
    /// The month's first day.
    pub month: NaiveDate,
    pub lines: Vec<OutputVatLine>,
    pub total_base: i64,
    pub total_vat: i64,
    pub total: i64,
}

/// One withholding-tax certificate received; amounts in satang.
#[derive(Debug, Clone)]
pub struct WithholdingLine {
    pub seq: usize,
    pub date: NaiveDate,
    pub customer_name: String,
    pub customer_tax_id: Option<String>,
    /// `None` while the certificate has not arrived.
    pub certificate_no: Option<String>,
    /// The value before VAT the payment settled; `None` without a receipt.
    pub base_amount: Option<i64>,
    pub withholding_tax: i64,
}

/// The 50 ทวิ certificates received in a year.
#[derive(Debug, Clone)]
pub struct WithholdingReportDocument {
    pub seller: ReportSeller,
    /// The Gregorian year (printed in the Buddhist Era).
    pub year: i32,
    pub lines: Vec<WithholdingLine>,
    pub total_base: i64,
    pub total_withheld: i64,
}

/// Renders รายงานภาษีขาย as a PDF.
pub fn render_output_vat(doc: &OutputVatDocument) -> Result<Vec<u8>, Error> {
    output_vat(doc).render()
}

/// Renders the withholding-tax certificates of a year as a PDF.
pub fn render_withholding_report(doc: &WithholdingReportDocument) -> Result<Vec<u8>, Error> {
    withholding(doc).render()
}

fn output_vat(doc: &OutputVatDocument) -> Report<'_> {
    let money = |minor| amount(Money::thb(minor));
    Report {
        title: "รายงานภาษีขาย",
        period: format!(
            "เดือน {} ปี พ.ศ. {}",
            thai_month(doc.month),
            buddhist_year(chrono::Datelike::year(&doc.month))
        ),
        seller: &doc.seller,
        columns: vec![
            Column::new("ลำดับ", 32.0, Align::Centre),
            Column::new("วัน เดือน ปี", 58.0, Align::Centre).repeating(),
            Column::new("เลขที่เอกสาร", 86.0, Align::Left),
            Column::new("ชื่อผู้ซื้อสินค้า / ผู้รับบริการ", FLEX, Align::Left).repeating(),
            Column::new("เลขประจำตัว\nผู้เสียภาษีอากร\nของผู้ซื้อ", 88.0, Align::Left),
            Column::new("สถานประกอบการ\nของผู้ซื้อ", 80.0, Align::Left).repeating(),
            Column::new("มูลค่าสินค้าหรือบริการ", 98.0, Align::Right),
            Column::new("จำนวนเงินภาษีมูลค่าเพิ่ม", 106.0, Align::Right),
            Column::new("จำนวนเงินรวม", 84.0, Align::Right),
        ],
        rows: doc
            .lines
            .iter()
            .map(|l| {
                vec![
                    l.seq.to_string(),
                    thai_numeric_date(l.date),
                    l.number.clone(),
                    l.buyer_name.clone(),
                    l.buyer_tax_id.clone().unwrap_or_else(|| "-".into()),
                    if l.branch.is_empty() {
                        "-".into()
                    } else {
                        l.branch.clone()
                    },
                    money(l.base_amount),
                    money(l.vat_amount),
                    money(l.total),
                ]
            })
            .collect(),
        empty: "ไม่มีใบกำกับภาษีหรือใบลดหนี้ในเดือนนี้",
        totals: vec![
            String::new(),
            String::new(),
            String::new(),
            "รวม".into(),
            String::new(),
            String::new(),
            money(doc.total_base),
            money(doc.total_vat),
            money(doc.total),
        ],
    }
}

fn withholding(doc: &WithholdingReportDocument) -> Report<'_> {
    let money = |minor| amount(Money::thb(minor));
    Report {
        title: "รายงานหนังสือรับรองการหักภาษี ณ ที่จ่าย (50 ทวิ) ที่ได้รับ",
        period: format!("ปี พ.ศ. {}", buddhist_year(doc.year)),
        seller: &doc.seller,
        columns: vec![
            Column::new("ลำดับ", 32.0, Align::Centre),
            Column::new("วันที่ได้รับชำระ", 70.0, Align::Centre).repeating(),
            Column::new("ชื่อผู้จ่ายเงิน (ผู้หักภาษี ณ ที่จ่าย)", FLEX, Align::Left).repeating(),
            Column::new("เลขประจำตัว\nผู้เสียภาษีอากร\nของผู้จ่ายเงิน", 88.0, Align::Left),
            Column::new("เลขที่หนังสือรับรอง\n(50 ทวิ)", 120.0, Align::Left),
            Column::new("จำนวนเงินที่จ่าย\n(ก่อนภาษีมูลค่าเพิ่ม)", 100.0, Align::Right),
            Column::new("ภาษีที่ถูกหักไว้", 90.0, Align::Right),
        ],
        rows: doc
            .lines
            .iter()
            .map(|l| {
                vec![
                    l.seq.to_string(),
                    thai_numeric_date(l.date),
                    l.customer_name.clone(),
                    l.customer_tax_id.clone().unwrap_or_else(|| "-".into()),
                    l.certificate_no
                        .clone()
                        .unwrap_or_else(|| "(รอหนังสือรับรอง)".into()),
                    l.base_amount.map_or_else(|| "-".into(), money),
                    money(l.withholding_tax),
                ]
            })
            .collect(),
        empty: "ไม่มีภาษีถูกหัก ณ ที่จ่ายในปีนี้",
        totals: vec![
            String::new(),
            String::new(),
            "รวม".into(),
            String::new(),
            String::new(),
            money(doc.total_base),
            money(doc.total_withheld),
        ],
    }
}

/// A column that takes the width the others leave.
const FLEX: f32 = 0.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Align {
    Left,
    Centre,
    Right,
}

struct Column {
    /// Thai; a `\n` breaks it where the form does.
    heading: &'static str,
    width: f32,
    align: Align,
    /// Whether its words come back from row to row (dates, names, branches): drawn as
    /// [`Stamps`].
    repeats: bool,
}

impl Column {
    fn new(heading: &'static str, width: f32, align: Align) -> Column {
        Column {
            heading,
            width,
            align,
            repeats: false,
        }
    }

    fn repeating(self) -> Column {
        Column {
            repeats: true,
            ..self
        }
    }
}

/// A report before layout: the form's header, its columns, the rows as printed text and the
/// totals row.
struct Report<'a> {
    title: &'static str,
    period: String,
    seller: &'a ReportSeller,
    columns: Vec<Column>,
    rows: Vec<Vec<String>>,
    /// Said in place of the rows when there are none.
    empty: &'static str,
    totals: Vec<String>,
}

/// A row laid out: its cells' texts, their lines, and its height.
struct Laid<'r> {
    texts: &'r [String],
    cells: Vec<CellLines>,
    height: f32,
    /// The totals row: bold on a shade.
    totals: bool,
}

/// A cell laid out. Most cells are their text on one line, kept as its width only.
#[derive(Debug)]
enum CellLines {
    Empty,
    One(f32),
    /// Each line with its width.
    Many(Vec<(String, f32)>),
}

impl CellLines {
    fn len(&self) -> usize {
        match self {
            CellLines::Empty => 0,
            CellLines::One(_) => 1,
            CellLines::Many(lines) => lines.len(),
        }
    }

    /// Line `i` of a cell whose text is `text`, and its width.
    fn line<'a>(&'a self, text: &'a str, i: usize) -> Option<(&'a str, f32)> {
        match self {
            CellLines::Empty => None,
            CellLines::One(width) => (i == 0).then_some((text, *width)),
            CellLines::Many(lines) => lines.get(i).map(|(line, width)| (line.as_str(), *width)),
        }
    }
}

/// The columns' left edges and widths, the flexible one given what is left.
fn edges(columns: &[Column]) -> Vec<(f32, f32)> {
    let fixed: f32 = columns.iter().map(|c| c.width).sum();
    let flexible = columns.iter().filter(|c| c.width == FLEX).count().max(1) as f32;
    let rest = ((TABLE_W - fixed) / flexible).max(40.0);
    let mut x = MARGIN;
    columns
        .iter()
        .map(|c| {
            let w = if c.width == FLEX { rest } else { c.width };
            let edge = (x, w);
            x += w;
            edge
        })
        .collect()
}

/// Lays out one row of `texts`.
fn lay_out<'r>(
    fonts: &Fonts,
    edges: &[(f32, f32)],
    texts: &'r [String],
    weight: Weight,
) -> Laid<'r> {
    let cells: Vec<CellLines> = texts
        .iter()
        .zip(edges)
        .map(|(text, (_, w))| {
            if text.is_empty() {
                return CellLines::Empty;
            }
            match fonts.fit(text, weight, BODY, w - 2.0 * PAD) {
                Fit::Line(width) => CellLines::One(width),
                Fit::Lines(lines) => CellLines::Many(
                    lines
                        .into_iter()
                        .map(|line| {
                            let width = fonts.width(&line, weight, BODY);
                            (line, width)
                        })
                        .collect(),
                ),
            }
        })
        .collect();
    let lines = cells.iter().map(CellLines::len).max().unwrap_or(1).max(1);
    Laid {
        texts,
        cells,
        height: lines as f32 * LEADING + 6.0,
        totals: weight == Weight::Bold,
    }
}

/// Lays out `rows` on every core, a share each: most of a long report's layout is measuring
/// text, and the pages cannot be drawn before the last row is measured (the first footer says
/// how many pages there are).
fn lay_out_rows<'r>(fonts: &Fonts, edges: &[(f32, f32)], rows: &'r [Vec<String>]) -> Vec<Laid<'r>> {
    /// Fewer rows than this a thread are not worth the thread.
    const SHARE: usize = 2_000;
    let lay_out_share = |rows: &'r [Vec<String>]| -> Vec<Laid<'r>> {
        rows.iter()
            .map(|r| lay_out(fonts, edges, r, Weight::Regular))
            .collect()
    };
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(rows.len().div_ceil(SHARE));
    if threads <= 1 {
        return lay_out_share(rows);
    }
    std::thread::scope(|scope| {
        let shares: Vec<_> = rows
            .chunks(rows.len().div_ceil(threads))
            .map(|share| scope.spawn(move || lay_out_share(share)))
            .collect();
        let mut laid = Vec::with_capacity(rows.len() + 1);
        for share in shares {
            // A panic in a share is a panic here, as it would have been on one thread.
            laid.extend(
                share
                    .join()
                    .unwrap_or_else(|e| std::panic::resume_unwind(e)),
            );
        }
        laid
    })
}

/// A report laid out: where the columns are, their headings' lines, every row's lines (the
/// totals row last) and which rows each page holds.
struct Layout<'r> {
    edges: Vec<(f32, f32)>,
    headings: Vec<Vec<String>>,
    head_h: f32,
    rows: Vec<Laid<'r>>,
    /// Ranges of `rows`, one a page.
    pages: Vec<std::ops::Range<usize>>,
    /// The height of the "nothing this period" line on the first page, 0 with rows.
    empty_h: f32,
}

impl Report<'_> {
    fn layout(&self, fonts: &Fonts) -> Layout<'_> {
        let edges = edges(&self.columns);
        let headings: Vec<Vec<String>> = self
            .columns
            .iter()
            .zip(&edges)
            .map(|(c, (_, w))| {
                c.heading
                    .split('\n')
                    .flat_map(|part| fonts.wrap(part, Weight::Bold, HEADING, w - 2.0 * PAD))
                    .collect()
            })
            .collect();
        let head_h = headings.iter().map(Vec::len).max().unwrap_or(1) as f32 * 10.0 + 8.0;
        let mut rows = lay_out_rows(fonts, &edges, &self.rows);
        rows.push(lay_out(fonts, &edges, &self.totals, Weight::Bold));

        // As many rows a page as fit under the header; a row taller than a page goes alone.
        let table_top = HEADER_H + head_h;
        let empty_h = if self.rows.is_empty() {
            LEADING + 10.0
        } else {
            0.0
        };
        let mut pages: Vec<std::ops::Range<usize>> = std::iter::once(0..0).collect();
        let mut y = table_top + empty_h;
        for (i, row) in rows.iter().enumerate() {
            let page = pages.last_mut().expect("one page at least");
            if y + row.height > BOTTOM && page.end > page.start {
                pages.push(i..i);
                y = table_top;
            }
            pages.last_mut().expect("one page at least").end = i + 1;
            y += row.height;
        }
        Layout {
            edges,
            headings,
            head_h,
            rows,
            pages,
            empty_h,
        }
    }

    fn render(&self) -> Result<Vec<u8>, Error> {
        let fonts = Fonts::load().ok_or(Error::Font)?;
        let layout = self.layout(&fonts);
        let settings =
            PageSettings::from_wh(PAGE_W, PAGE_H).ok_or(Error::Pdf("page size".into()))?;
        let mut document = Document::new();
        document.set_metadata(
            krilla::metadata::Metadata::new()
                .title(format!("{} {}", self.title, self.period))
                .language("th".to_owned())
                .creator("Satang".to_owned()),
        );
        let ink = Ink { fonts: &fonts };
        let mut stamps = Stamps::default();
        let count = layout.pages.len();
        let mut frame: Option<Graphic> = None;
        for (i, range) in layout.pages.iter().enumerate() {
            let mut page = document.start_page_with(settings.clone());
            let mut s = page.surface();
            let frame = frame.get_or_insert_with(|| self.frame(&ink, &mut s, &layout));
            s.draw_graphic(frame.clone());
            let mut y = HEADER_H + layout.head_h;
            if i == 0 && self.rows.is_empty() {
                ink.text(
                    &mut s,
                    self.empty,
                    (MARGIN + PAD, y + 4.0 + LEADING),
                    Weight::Regular,
                    BODY,
                    GREY,
                );
                y += layout.empty_h;
            }
            for row in &layout.rows[range.clone()] {
                self.row(&fonts, &mut stamps, &mut s, &layout.edges, row, y);
                y += row.height;
            }
            let page_no = format!("หน้า {} / {count}", i + 1);
            ink.text_right(
                &mut s,
                &page_no,
                (RIGHT, FOOT),
                Weight::Regular,
                SMALL,
                GREY,
            );
            s.finish();
            page.finish();
        }
        document.finish().map_err(|e| Error::Pdf(format!("{e:?}")))
    }

    /// What every page shows alike — the form's header, the column headings and the footer
    /// without its page number — drawn once and placed on each page as one form XObject:
    /// a third of a page's content otherwise, written and compressed thousands of times.
    fn frame(&self, ink: &Ink, s: &mut Surface, layout: &Layout) -> Graphic {
        let mut builder = s.stream_builder();
        let mut frame = builder.surface();
        let y = self.header(ink, &mut frame);
        self.table_head(ink, &mut frame, layout, y);
        self.footer(ink, &mut frame);
        frame.finish();
        Graphic::new(builder.finish(), false)
    }

    /// The form's header; returns the `y` below it.
    fn header(&self, ink: &Ink, s: &mut Surface) -> f32 {
        let centre = PAGE_W / 2.0;
        let mut y = MARGIN + 16.0;
        ink.text_centred(s, self.title, (centre, y), Weight::Bold, 15.0, ACCENT);
        y += 16.0;
        ink.text_centred(s, &self.period, (centre, y), Weight::Bold, 11.0, BLACK);
        y += 20.0;
        self.fact(ink, s, "ชื่อผู้ประกอบการ", &self.seller.name, (MARGIN, y));
        y += 14.0;
        let tax_id = self.seller.tax_id.as_deref().unwrap_or("-");
        let after = self.fact(ink, s, "เลขประจำตัวผู้เสียภาษีอากร", tax_id, (MARGIN, y));
        let establishment = &self.seller.establishment;
        self.fact(ink, s, "สถานประกอบการ", establishment, (after + 36.0, y));
        y += 10.0;
        rect(s, (MARGIN, y - 4.0, TABLE_W, 0.8), ACCENT);
        y
    }

    /// A label in grey and its value after it; returns where the value ends.
    fn fact(
        &self,
        ink: &Ink,
        s: &mut Surface,
        label: &str,
        value: &str,
        (x, y): (f32, f32),
    ) -> f32 {
        ink.text(s, label, (x, y), Weight::Regular, BODY, GREY);
        let after = x + ink.fonts.width(label, Weight::Regular, BODY) + 8.0;
        ink.text(s, value, (after, y), Weight::Bold, 9.5, BLACK);
        after + ink.fonts.width(value, Weight::Bold, 9.5)
    }

    /// The shaded column headings, lines centred in their column; returns the first row's top.
    fn table_head(&self, ink: &Ink, s: &mut Surface, layout: &Layout, y: f32) -> f32 {
        let height = layout.head_h;
        rect(s, (MARGIN, y, TABLE_W, height), SHADE);
        for (lines, (x, w)) in layout.headings.iter().zip(&layout.edges) {
            for (i, line) in lines.iter().enumerate() {
                let base = y + 13.0 + i as f32 * 10.0;
                ink.text_centred(s, line, (x + w / 2.0, base), Weight::Bold, HEADING, BLACK);
            }
        }
        rect(s, (MARGIN, y + height - 0.8, TABLE_W, 0.8), ACCENT);
        y + height
    }

    /// One row with its top at `top`, and a rule under it. Each line of the row is one run of
    /// glyphs across the cells ([`crate::text::Baseline`]).
    fn row(
        &self,
        fonts: &Fonts,
        stamps: &mut Stamps,
        s: &mut Surface,
        edges: &[(f32, f32)],
        row: &Laid,
        top: f32,
    ) {
        let weight = if row.totals {
            rect(s, (MARGIN, top, TABLE_W, row.height), SHADE);
            Weight::Bold
        } else {
            Weight::Regular
        };
        fill(s, BLACK);
        let base = top + 3.0 + 9.0;
        let lines = row.cells.iter().map(CellLines::len).max().unwrap_or(0);
        for i in 0..lines {
            let y = base + i as f32 * LEADING;
            let mut line = fonts.baseline(weight, BODY);
            let cells = row
                .cells
                .iter()
                .zip(row.texts)
                .zip(edges)
                .zip(&self.columns);
            for (((cell, text), (x, w)), column) in cells {
                let Some((text, width)) = cell.line(text, i) else {
                    continue;
                };
                let x = match column.align {
                    Align::Left => x + PAD,
                    Align::Centre => x + w / 2.0 - width / 2.0,
                    Align::Right => x + w - PAD - width,
                };
                if column.repeats && !row.totals {
                    stamps.text(s, &mut line, text, (x, y), BLACK);
                } else {
                    line.push(text, x);
                }
            }
            line.draw(s, y);
        }
        let (rule, thickness) = if row.totals {
            (ACCENT, 0.8)
        } else {
            (RULE, 0.5)
        };
        rect(
            s,
            (MARGIN, top + row.height - thickness, TABLE_W, thickness),
            rule,
        );
    }

    /// The footer's rule and what the report is; the page number is drawn on each page.
    fn footer(&self, ink: &Ink, s: &mut Surface) {
        rect(s, (MARGIN, FOOT - 11.0, TABLE_W, 0.5), RULE);
        let what = format!("{} {}", self.title, self.period);
        ink.text(s, &what, (MARGIN, FOOT), Weight::Regular, SMALL, GREY);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seller() -> ReportSeller {
        ReportSeller {
            name: "บริษัท ฟาร์มไอคิว จำกัด".into(),
            tax_id: Some("0105557000126".into()),
            establishment: "สำนักงานใหญ่".into(),
        }
    }

    fn line(seq: usize) -> OutputVatLine {
        OutputVatLine {
            seq,
            date: NaiveDate::from_ymd_opt(2030, 3, 5).unwrap(),
            number: format!("RT-2030-{seq:06}"),
            buyer_name: "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส".into(),
            buyer_tax_id: Some("0503559000004".into()),
            branch: "สาขาที่ 00001".into(),
            base_amount: 10_000,
            vat_amount: 700,
            total: 10_700,
        }
    }

    fn output_vat_of(n: usize) -> OutputVatDocument {
        OutputVatDocument {
            seller: seller(),
            month: NaiveDate::from_ymd_opt(2030, 3, 1).unwrap(),
            lines: (1..=n).map(line).collect(),
            total_base: n as i64 * 10_000,
            total_vat: n as i64 * 700,
            total: n as i64 * 10_700,
        }
    }

    fn withholding_of(lines: Vec<WithholdingLine>) -> WithholdingReportDocument {
        WithholdingReportDocument {
            seller: ReportSeller::default(),
            year: 2030,
            total_base: lines.iter().filter_map(|l| l.base_amount).sum(),
            total_withheld: lines.iter().map(|l| l.withholding_tax).sum(),
            lines,
        }
    }

    #[test]
    fn headings_break_only_where_the_form_does_and_figures_fit() {
        let fonts = Fonts::load().unwrap();
        let vat = output_vat_of(1);
        let wht = withholding_of(Vec::new());
        for report in [output_vat(&vat), withholding(&wht)] {
            let layout = report.layout(&fonts);
            for (column, lines) in report.columns.iter().zip(&layout.headings) {
                let parts: Vec<&str> = column.heading.split('\n').collect();
                assert_eq!(lines, &parts, "{}", report.title);
            }
        }
        // A document's figures stay on one line, the largest amounts included.
        let mut big = line(1);
        big.date = NaiveDate::from_ymd_opt(2030, 12, 31).unwrap();
        big.base_amount = -123_456_789;
        big.vat_amount = -8_641_975;
        big.total = -132_098_764;
        let vat = OutputVatDocument {
            lines: vec![big],
            ..output_vat_of(0)
        };
        let report = output_vat(&vat);
        let layout = report.layout(&fonts);
        for (i, cell) in layout.rows[0].cells.iter().enumerate() {
            if i != 3 {
                assert_eq!(cell.len(), 1, "{}: {cell:?}", report.columns[i].heading);
            }
        }
    }

    #[test]
    fn long_months_run_to_several_pages_and_empty_ones_to_one() {
        let fonts = Fonts::load().unwrap();
        let empty = output_vat_of(0);
        let pages = output_vat(&empty).layout(&fonts).pages;
        assert_eq!((pages.len(), pages[0].clone()), (1, 0..1));
        assert!(render_output_vat(&empty).unwrap().starts_with(b"%PDF-"));
        let long = output_vat_of(120);
        let pages = output_vat(&long).layout(&fonts).pages;
        assert!(pages.len() >= 3, "{pages:?}");
        assert_eq!(pages.first().unwrap().start, 0);
        assert_eq!(pages.last().unwrap().end, 121, "every row and the totals");
        for pair in pages.windows(2) {
            assert_eq!(pair[0].end, pair[1].start);
            assert!(pair[1].end > pair[1].start);
        }
        assert!(render_output_vat(&long).unwrap().starts_with(b"%PDF-"));

        let wht = withholding_of(vec![WithholdingLine {
            seq: 1,
            date: NaiveDate::from_ymd_opt(2030, 3, 12).unwrap(),
            customer_name: "โรงสีข้าวสันทราย".into(),
            customer_tax_id: None,
            certificate_no: None,
            base_amount: None,
            withholding_tax: 300,
        }]);
        let pages = withholding(&wht).layout(&fonts).pages;
        assert_eq!(
            (pages.len(), pages[0].clone()),
            (1, 0..2),
            "a certificate and the totals"
        );
        assert!(
            render_withholding_report(&wht)
                .unwrap()
                .starts_with(b"%PDF-")
        );
    }
}
