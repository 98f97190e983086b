//! The tax invoice / receipt layout on A4: seller header and title, buyer block, the lines table
//! (continued on further pages when long), totals with the total in Thai words, and the
//! PromptPay QR for what is still due.
//!
//! Coordinates are PDF points from the top-left corner; `y` is a text baseline unless it says
//! otherwise. Labels are bilingual (Thai first) because the buyer's accountant reads Thai and
//! foreign subsidiaries read English.

use krilla::Document;
use krilla::page::PageSettings;
use krilla::surface::Surface;
use satang_domain::baht_text;
use satang_domain::money::{Currency, Money};

use crate::draw::{A4_LONG, A4_SHORT, ACCENT, BLACK, Colour, GREY, Ink, RULE, SHADE, fill, rect};
use crate::format::{amount, branch_label, rate_percent, thai_date, thai_period};
use crate::qr::{draw_qr, promptpay_qr_payload};
use crate::text::{Fonts, Weight};
use crate::{DocumentStatus, Error, InvoiceDocument, Line};

const PAGE_W: f32 = A4_SHORT;
const PAGE_H: f32 = A4_LONG;
const MARGIN: f32 = 40.0;
const RIGHT: f32 = PAGE_W - MARGIN;
/// Where rows and totals must stop, leaving room for the footer.
const BOTTOM: f32 = PAGE_H - MARGIN - 24.0;

/// Table columns: left edges of the text columns, right edges of the number columns.
const COL_DESC: f32 = MARGIN + 4.0;
const COL_DESC_W: f32 = 186.0;
const COL_PERIOD: f32 = 236.0;
const COL_PERIOD_W: f32 = 124.0;
const COL_QTY_R: f32 = 400.0;
const COL_UNIT_R: f32 = 475.0;
const COL_AMOUNT_R: f32 = RIGHT - 4.0;

/// The seller's lines wrap before the number and dates on the right.
const FACTS_X: f32 = RIGHT - 175.0;
const SELLER_W: f32 = FACTS_X - MARGIN - 12.0;

const BODY: f32 = 9.0;
const SMALL: f32 = 8.0;
const LEADING: f32 = 12.0;

const QR_SIZE: f32 = 118.0;
/// Height reserved for the totals and the QR block below the table.
const TOTALS_H: f32 = 200.0;

const STAMP: Colour = (0xc0, 0x20, 0x20);

/// A file a PDF/A-3 carries as its associated file (`/AF`): the tax document's e-Tax XML.
#[derive(Debug, Clone)]
pub struct Attachment {
    /// File name, e.g. `RT-2030-000001.xml`.
    pub name: String,
    pub mime_type: String,
    pub description: String,
    pub data: Vec<u8>,
    /// When the file was made (UTC); also the PDF's creation date.
    pub modified: chrono::DateTime<chrono::Utc>,
}

/// Renders `doc` as a PDF.
pub fn render_invoice(doc: &InvoiceDocument) -> Result<Vec<u8>, Error> {
    render(doc, None)
}

/// Renders `doc` as a PDF/A-3b carrying `file` as an associated file (relationship
/// `Alternative`: the XML is the same document in machine-readable form).
pub fn render_pdfa3(doc: &InvoiceDocument, file: &Attachment) -> Result<Vec<u8>, Error> {
    render(doc, Some(file))
}

fn pdf_date(t: chrono::DateTime<chrono::Utc>) -> krilla::metadata::DateTime {
    use chrono::{Datelike, Timelike};
    krilla::metadata::DateTime::new(u16::try_from(t.year()).unwrap_or(1970))
        .month(t.month() as u8)
        .day(t.day() as u8)
        .hour(t.hour() as u8)
        .minute(t.minute() as u8)
        .second(t.second() as u8)
        .utc_offset_hour(0)
        .utc_offset_minute(0)
}

fn render(doc: &InvoiceDocument, file: Option<&Attachment>) -> Result<Vec<u8>, Error> {
    let fonts = Fonts::load().ok_or(Error::Font)?;
    let rows: Vec<Row> = doc
        .lines
        .iter()
        .map(|l| Row::new(&fonts, l, doc.currency))
        .collect();
    let settings = PageSettings::from_wh(PAGE_W, PAGE_H).ok_or(Error::Pdf("page size".into()))?;
    let mut document = match file {
        None => Document::new(),
        Some(file) => {
            let configuration = krilla::configure::ConfigurationBuilder::new()
                .with_archival_validator(krilla::configure::Archival::A3_B)
                .finish()
                .map_err(|e| Error::Pdf(format!("{e:?}")))?;
            let mut document = Document::new_with(krilla::SerializeSettings {
                configuration,
                ..krilla::SerializeSettings::default()
            });
            let title = match &doc.title {
                Some((th, _)) => format!("{th} {}", doc.number),
                None => doc.number.clone(),
            };
            document.set_metadata(
                krilla::metadata::Metadata::new()
                    .title(title)
                    .language("th".to_owned())
                    .creator("Satang".to_owned())
                    .creation_date(pdf_date(file.modified)),
            );
            let embedded = krilla::embed::EmbeddedFile {
                path: file.name.clone(),
                mime_type: krilla::embed::MimeType::new(&file.mime_type),
                description: Some(file.description.clone()),
                association_kind: krilla::embed::AssociationKind::Alternative,
                data: file.data.clone().into(),
                modification_date: Some(pdf_date(file.modified)),
                compress: None,
                location: None,
            };
            document
                .embed_file(embedded)
                .ok_or_else(|| Error::Pdf(format!("{} embedded twice", file.name)))?;
            document
        }
    };
    let mut next_row = 0;
    let mut page_no = 1;
    loop {
        let mut page = document.start_page_with(settings.clone());
        let mut s = page.surface();
        let ink = Ink { fonts: &fonts };
        let mut y = if page_no == 1 {
            ink.header(&mut s, doc)
        } else {
            ink.continuation_header(&mut s, doc, page_no)
        };
        if next_row < rows.len() || page_no == 1 {
            y = ink.table_head(&mut s, y, doc.currency);
        }
        let mut drawn_here = 0;
        while let Some(row) = rows.get(next_row) {
            // A row taller than a page is drawn anyway (clipped) rather than looping forever.
            if y + row.height > BOTTOM && drawn_here > 0 {
                break;
            }
            drawn_here += 1;
            ink.row(&mut s, row, y);
            y += row.height;
            next_row += 1;
        }
        let done = next_row == rows.len() && y + TOTALS_H <= BOTTOM;
        if done {
            ink.totals(&mut s, doc, y + 10.0);
        }
        ink.footer(&mut s, doc, page_no);
        s.finish();
        page.finish();
        if done {
            break;
        }
        page_no += 1;
    }
    document.finish().map_err(|e| Error::Pdf(format!("{e:?}")))
}

/// One table row, wrapped once so that its height is known before drawing (for page breaks).
struct Row {
    description: Vec<String>,
    period: Vec<String>,
    quantity: String,
    unit: String,
    amount: String,
    height: f32,
}

impl Row {
    fn new(fonts: &Fonts, line: &Line, currency: Currency) -> Row {
        let description = fonts.wrap(&line.description, Weight::Regular, BODY, COL_DESC_W);
        let period = match line.period {
            Some((start, end)) => fonts.wrap(
                &thai_period(start, end),
                Weight::Regular,
                SMALL,
                COL_PERIOD_W,
            ),
            None => Vec::new(),
        };
        let lines = description.len().max(period.len()).max(1);
        Row {
            description,
            period,
            quantity: line.quantity.to_string(),
            unit: amount(Money::new(line.unit_amount, currency)),
            amount: amount(Money::new(line.amount, currency)),
            height: lines as f32 * LEADING + 8.0,
        }
    }
}

impl Ink<'_> {
    /// Seller, title, number and dates, buyer. Returns the `y` below it.
    fn header(&self, s: &mut Surface, doc: &InvoiceDocument) -> f32 {
        let seller = &doc.seller;
        // Left: the seller.
        let mut y = MARGIN + 14.0;
        self.text(s, &seller.name_th, (MARGIN, y), Weight::Bold, 14.0, ACCENT);
        if !seller.name_en.is_empty() {
            y += 15.0;
            self.text(
                s,
                &seller.name_en,
                (MARGIN, y),
                Weight::Regular,
                10.0,
                BLACK,
            );
        }
        y += 4.0;
        for line in &seller.address {
            for part in self.fonts.wrap(line, Weight::Regular, BODY, SELLER_W) {
                y += LEADING;
                self.text(s, &part, (MARGIN, y), Weight::Regular, BODY, BLACK);
            }
        }
        if let Some(tax_id) = &seller.tax_id {
            y += LEADING;
            let line = format!("เลขประจำตัวผู้เสียภาษี / Tax ID {tax_id}");
            self.text(s, &line, (MARGIN, y), Weight::Regular, BODY, BLACK);
            y += LEADING;
            let branch = branch_label(seller.branch_code.as_deref().unwrap_or("00000"));
            self.text(s, &branch, (MARGIN, y), Weight::Regular, BODY, BLACK);
        }
        let contact: Vec<String> = [
            seller.phone.as_ref().map(|p| format!("โทร / Tel {p}")),
            seller.email.as_ref().map(|e| format!("อีเมล / Email {e}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !contact.is_empty() {
            for part in self
                .fonts
                .wrap(&contact.join(" · "), Weight::Regular, BODY, SELLER_W)
            {
                y += LEADING;
                self.text(s, &part, (MARGIN, y), Weight::Regular, BODY, BLACK);
            }
        }

        // Right: the title, number and dates.
        let (title_th, title_en) = match (&doc.title, doc.tax_invoice, doc.status) {
            (Some((th, en)), _, _) => (th.as_str(), en.as_str()),
            (None, false, _) => ("ใบแจ้งหนี้", "Invoice"),
            (None, true, DocumentStatus::Paid) => {
                ("ใบเสร็จรับเงิน / ใบกำกับภาษี", "Receipt / Tax invoice")
            }
            (None, true, _) => ("ใบแจ้งหนี้ / ใบกำกับภาษี", "Invoice / Tax invoice"),
        };
        let mut ry = MARGIN + 16.0;
        self.text_right(s, title_th, (RIGHT, ry), Weight::Bold, 16.0, ACCENT);
        ry += 15.0;
        self.text_right(s, title_en, (RIGHT, ry), Weight::Regular, 10.0, BLACK);
        if doc.status == DocumentStatus::Void {
            ry += 18.0;
            self.text_right(s, "ยกเลิก / VOID", (RIGHT, ry), Weight::Bold, 14.0, STAMP);
        }
        ry += 8.0;
        let mut facts = vec![
            ("เลขที่ / No.", doc.number.clone()),
            ("วันที่ / Date", thai_date(doc.issue_date)),
        ];
        if let Some(due) = doc.due_date {
            facts.push(("ครบกำหนด / Due date", thai_date(due)));
        }
        if let Some(paid) = doc.paid_date {
            facts.push(("วันที่ชำระ / Paid on", thai_date(paid)));
        }
        for (label, value) in facts {
            ry += 14.0;
            self.text(s, label, (FACTS_X, ry), Weight::Regular, BODY, GREY);
            self.text_right(s, &value, (RIGHT, ry), Weight::Bold, BODY, BLACK);
        }

        let mut y = y.max(ry) + 12.0;
        rect(s, (MARGIN, y, RIGHT - MARGIN, 0.8), ACCENT);
        y += 18.0;
        self.buyer(s, doc, y)
    }

    /// The buyer block; returns the `y` below it.
    fn buyer(&self, s: &mut Surface, doc: &InvoiceDocument, mut y: f32) -> f32 {
        let buyer = &doc.buyer;
        self.text(
            s,
            "ลูกค้า / Customer",
            (MARGIN, y),
            Weight::Regular,
            SMALL,
            GREY,
        );
        y += 14.0;
        let legal = buyer.legal_name.as_deref().filter(|l| !l.is_empty());
        self.text(
            s,
            legal.unwrap_or(&buyer.name),
            (MARGIN, y),
            Weight::Bold,
            11.0,
            BLACK,
        );
        if legal.is_some_and(|l| l != buyer.name) {
            y += LEADING;
            self.text(s, &buyer.name, (MARGIN, y), Weight::Regular, BODY, BLACK);
        }
        for line in &buyer.address {
            y += LEADING;
            self.text(s, line, (MARGIN, y), Weight::Regular, BODY, BLACK);
        }
        if let Some(tax_id) = &buyer.tax_id {
            y += LEADING;
            let branch = branch_label(buyer.branch_code.as_deref().unwrap_or("00000"));
            let line = format!("เลขประจำตัวผู้เสียภาษี / Tax ID {tax_id}  {branch}");
            self.text(s, &line, (MARGIN, y), Weight::Regular, BODY, BLACK);
        }
        y + 16.0
    }

    /// Later pages repeat only who, what and which page.
    fn continuation_header(&self, s: &mut Surface, doc: &InvoiceDocument, page_no: usize) -> f32 {
        let y = MARGIN + 12.0;
        self.text(
            s,
            &doc.seller.name_th,
            (MARGIN, y),
            Weight::Bold,
            11.0,
            ACCENT,
        );
        let right = format!("{}  (ต่อ / continued, หน้า / page {page_no})", doc.number);
        self.text_right(s, &right, (RIGHT, y), Weight::Regular, BODY, BLACK);
        rect(s, (MARGIN, y + 8.0, RIGHT - MARGIN, 0.8), ACCENT);
        y + 22.0
    }

    /// The shaded column headings; returns the `y` where the first row starts (its top).
    fn table_head(&self, s: &mut Surface, y: f32, currency: Currency) -> f32 {
        rect(s, (MARGIN, y, RIGHT - MARGIN, 30.0), SHADE);
        let (th, en) = (y + 12.0, y + 24.0);
        let code = currency.code();
        let heads: [(&str, &str, f32, bool); 5] = [
            ("รายการ", "Description", COL_DESC, false),
            ("ช่วงเวลา", "Period", COL_PERIOD, false),
            ("จำนวน", "Qty", COL_QTY_R, true),
            ("ราคาต่อหน่วย", "Unit price", COL_UNIT_R, true),
            ("จำนวนเงิน", "Amount", COL_AMOUNT_R, true),
        ];
        for (thai, english, x, right) in heads {
            let english = if x == COL_AMOUNT_R {
                format!("{english} ({code})")
            } else {
                english.to_owned()
            };
            if right {
                self.text_right(s, thai, (x, th), Weight::Bold, SMALL, BLACK);
                self.text_right(s, &english, (x, en), Weight::Regular, SMALL, GREY);
            } else {
                self.text(s, thai, (x, th), Weight::Bold, SMALL, BLACK);
                self.text(s, &english, (x, en), Weight::Regular, SMALL, GREY);
            }
        }
        y + 30.0
    }

    /// One row with its top at `top`, and a rule under it.
    fn row(&self, s: &mut Surface, row: &Row, top: f32) {
        let base = top + 4.0 + 9.0;
        for (i, line) in row.description.iter().enumerate() {
            let y = base + i as f32 * LEADING;
            self.text(s, line, (COL_DESC, y), Weight::Regular, BODY, BLACK);
        }
        for (i, line) in row.period.iter().enumerate() {
            let y = base + i as f32 * LEADING;
            self.text(s, line, (COL_PERIOD, y), Weight::Regular, SMALL, GREY);
        }
        self.text_right(
            s,
            &row.quantity,
            (COL_QTY_R, base),
            Weight::Regular,
            BODY,
            BLACK,
        );
        self.text_right(
            s,
            &row.unit,
            (COL_UNIT_R, base),
            Weight::Regular,
            BODY,
            BLACK,
        );
        self.text_right(
            s,
            &row.amount,
            (COL_AMOUNT_R, base),
            Weight::Regular,
            BODY,
            BLACK,
        );
        rect(
            s,
            (MARGIN, top + row.height - 0.5, RIGHT - MARGIN, 0.5),
            RULE,
        );
    }

    /// Totals on the right, the QR on the left, from `top` down.
    fn totals(&self, s: &mut Surface, doc: &InvoiceDocument, top: f32) {
        let money = |minor| amount(Money::new(minor, doc.currency));
        let label_x = RIGHT - 220.0;
        let mut y = top + 10.0;
        let line =
            |ink: &Self, s: &mut Surface, label: &str, value: String, strong: bool, y: &mut f32| {
                let weight = if strong {
                    Weight::Bold
                } else {
                    Weight::Regular
                };
                if strong {
                    rect(
                        s,
                        (label_x - 6.0, *y - 11.0, RIGHT - label_x + 6.0, 16.0),
                        SHADE,
                    );
                }
                ink.text(s, label, (label_x, *y), weight, BODY, BLACK);
                ink.text_right(s, &value, (COL_AMOUNT_R, *y), weight, BODY, BLACK);
                *y += 16.0;
            };
        line(
            self,
            s,
            "รวมเป็นเงิน / Subtotal",
            money(doc.subtotal),
            false,
            &mut y,
        );
        if doc.discount != 0 {
            let label = if doc.discount_codes.is_empty() {
                "ส่วนลด / Discount".to_owned()
            } else {
                format!("ส่วนลด / Discount ({})", doc.discount_codes.join(", "))
            };
            line(self, s, &label, money(-doc.discount), false, &mut y);
        }
        let rate = rate_percent(doc.vat_rate_bps);
        let vat = format!("ภาษีมูลค่าเพิ่ม {rate}% / VAT {rate}%");
        line(self, s, &vat, money(doc.vat_amount), false, &mut y);
        line(
            self,
            s,
            "จำนวนเงินรวมทั้งสิ้น / Total",
            money(doc.total),
            true,
            &mut y,
        );
        if doc.currency == Currency::Thb {
            for words in self.fonts.wrap(
                &format!("({})", baht_text(doc.total)),
                Weight::Regular,
                BODY,
                RIGHT - label_x,
            ) {
                self.text_right(
                    s,
                    &words,
                    (COL_AMOUNT_R, y - 2.0),
                    Weight::Regular,
                    BODY,
                    ACCENT,
                );
                y += LEADING;
            }
            y += 4.0;
        }
        let adjustments = [
            ("หักเครดิตคงเหลือ / Credit applied", doc.credit_applied),
            ("ลดหนี้ / Credited", doc.amount_credited),
            ("ภาษีหัก ณ ที่จ่าย / Withholding tax", doc.withholding_tax),
        ];
        for (label, value) in adjustments {
            if value != 0 {
                line(self, s, label, money(-value), false, &mut y);
            }
        }
        if doc.withholding_tax != 0 && !doc.withholding_certificates.is_empty() {
            let label = format!(
                "50 ทวิ เลขที่ / Certificate no. {}",
                doc.withholding_certificates.join(", ")
            );
            line(self, s, &label, String::new(), false, &mut y);
        }
        line(
            self,
            s,
            "ชำระแล้ว / Paid",
            money(-doc.amount_paid),
            false,
            &mut y,
        );
        line(
            self,
            s,
            "ยอดค้างชำระ / Amount due",
            money(doc.amount_due),
            true,
            &mut y,
        );

        if let Some(payload) = promptpay_qr_payload(doc) {
            fill(s, BLACK);
            if draw_qr(s, &payload, (MARGIN - 6.0, top), QR_SIZE) {
                let x = MARGIN + QR_SIZE + 2.0;
                let mut cy = top + 28.0;
                self.text(
                    s,
                    "สแกนเพื่อชำระเงินด้วยพร้อมเพย์",
                    (x, cy),
                    Weight::Bold,
                    BODY,
                    ACCENT,
                );
                cy += LEADING;
                self.text(
                    s,
                    "Scan to pay with PromptPay",
                    (x, cy),
                    Weight::Regular,
                    BODY,
                    BLACK,
                );
                cy += LEADING + 4.0;
                let due = format!("{} {}", money(doc.amount_due), doc.currency.code());
                self.text(s, &due, (x, cy), Weight::Bold, 11.0, BLACK);
                if let Some(id) = &doc.seller.promptpay_id {
                    cy += LEADING + 2.0;
                    self.text(
                        s,
                        &format!("พร้อมเพย์ / PromptPay {id}"),
                        (x, cy),
                        Weight::Regular,
                        SMALL,
                        GREY,
                    );
                }
            }
        }
    }

    fn footer(&self, s: &mut Surface, doc: &InvoiceDocument, page_no: usize) {
        let y = PAGE_H - MARGIN;
        rect(s, (MARGIN, y - 12.0, RIGHT - MARGIN, 0.5), RULE);
        self.text(s, &doc.number, (MARGIN, y), Weight::Regular, SMALL, GREY);
        let page = format!("หน้า / Page {page_no}");
        self.text_right(s, &page, (RIGHT, y), Weight::Regular, SMALL, GREY);
    }
}
