//! Renders the printed reports through the public API. `cargo test -p satang-documents --
//! --ignored` also writes `/tmp/sample-output-vat.pdf` (three pages) and
//! `/tmp/sample-withholding.pdf` for a look with `pdftoppm -png -r 80`.

use std::process::Command;

use chrono::NaiveDate;
use satang_documents::{
    OutputVatDocument, OutputVatLine, ReportSeller, WithholdingLine, WithholdingReportDocument,
    render_output_vat, render_withholding_report,
};

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

fn seller() -> ReportSeller {
    ReportSeller {
        name: "บริษัท ฟาร์มไอคิว จำกัด".into(),
        tax_id: Some("0105557000126".into()),
        establishment: "สาขาที่ 00002".into(),
    }
}

/// `n` documents of March 2030, every fifth a credit note, some buyers with long names.
fn output_vat(n: usize) -> OutputVatDocument {
    let lines: Vec<OutputVatLine> = (1..=n)
        .map(|i| {
            let sign = if i % 5 == 0 { -1 } else { 1 };
            let base = sign * (i as i64 * 123_457);
            let vat = base * 7 / 100;
            OutputVatLine {
                seq: i,
                date: date(2030, 3, (i % 28 + 1) as u32),
                number: format!("RT-2030-{i:06}"),
                buyer_name: if i % 3 == 0 {
                    "สหกรณ์การเกษตรผู้ปลูกข้าวหอมมะลิทุ่งกุลาร้องไห้ จำกัด (ที่นี่ ผู้ใหญ่ น้ำ)".into()
                } else {
                    "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส".into()
                },
                buyer_tax_id: (i % 4 != 0).then(|| "0503559000004".into()),
                branch: if i % 2 == 0 {
                    "สำนักงานใหญ่".into()
                } else {
                    "สาขาที่ 00001".into()
                },
                base_amount: base,
                vat_amount: vat,
                total: base + vat,
            }
        })
        .collect();
    OutputVatDocument {
        seller: seller(),
        month: date(2030, 3, 1),
        total_base: lines.iter().map(|l| l.base_amount).sum(),
        total_vat: lines.iter().map(|l| l.vat_amount).sum(),
        total: lines.iter().map(|l| l.total).sum(),
        lines,
    }
}

fn withholding() -> WithholdingReportDocument {
    let lines = vec![
        WithholdingLine {
            seq: 1,
            date: date(2030, 3, 12),
            customer_name: "โรงสีข้าวสันทราย".into(),
            customer_tax_id: Some("0503559000004".into()),
            certificate_no: Some("50ทวิ-2573-0042".into()),
            base_amount: Some(1_000_000),
            withholding_tax: 30_000,
        },
        WithholdingLine {
            seq: 2,
            date: date(2030, 7, 1),
            customer_name: "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส".into(),
            customer_tax_id: None,
            certificate_no: None,
            base_amount: None,
            withholding_tax: 300,
        },
    ];
    WithholdingReportDocument {
        seller: seller(),
        year: 2030,
        total_base: 1_000_000,
        total_withheld: 30_300,
        lines,
    }
}

fn pages(pdf: &[u8]) -> usize {
    String::from_utf8_lossy(pdf).matches("/Type/Page/").count()
}

#[test]
fn reports_are_pdfs_with_the_thai_font_embedded() {
    for pdf in [
        render_output_vat(&output_vat(3)).unwrap(),
        render_withholding_report(&withholding()).unwrap(),
    ] {
        assert!(pdf.starts_with(b"%PDF"), "not a PDF");
        let text = String::from_utf8_lossy(&pdf);
        assert!(text.contains("Waree"), "the font is not embedded by name");
        assert!(text.contains("/FontFile2"), "no embedded TrueType font");
        assert_eq!(pages(&pdf), 1);
    }
}

#[test]
fn a_long_month_continues_on_further_pages() {
    let pdf = render_output_vat(&output_vat(90)).unwrap();
    assert!(pages(&pdf) >= 3, "90 documents on {} page(s)", pages(&pdf));
    let empty = render_output_vat(&output_vat(0)).unwrap();
    assert_eq!(pages(&empty), 1);
}

/// Repeated words (dates, names, establishments) are drawn once each and placed: 900 rows of
/// the same 28 dates, two names and two establishments hold no more drawn words than 90 rows.
#[test]
fn a_longer_month_adds_pages_not_drawn_words() {
    let forms = |pdf: &[u8]| pdf.windows(13).filter(|w| w == b"/Subtype/Form").count();
    let (short, long) = (
        render_output_vat(&output_vat(90)).unwrap(),
        render_output_vat(&output_vat(900)).unwrap(),
    );
    assert!(pages(&long) > 5 * pages(&short));
    assert_eq!(forms(&long), forms(&short));
}

/// What a reader extracts from the printed form (`pdftotext -layout`): each document's line
/// with its number, Buddhist-Era date, tax id, establishment and amounts, the buyer's name
/// whole once its lines are put together, and the header on every page.
#[test]
fn every_row_reads_back_as_printed() {
    let found = Command::new("pdftotext").arg("-v").output().is_ok();
    assert!(
        found || std::env::var("SATANG_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "pdftotext is required when SATANG_REQUIRE_TOOLS=1"
    );
    if !found {
        eprintln!("SKIPPED: pdftotext missing");
        return;
    }
    let doc = output_vat(60);
    let path = std::env::temp_dir().join(format!("satang-report-{}.pdf", std::process::id()));
    std::fs::write(&path, render_output_vat(&doc).unwrap()).unwrap();
    let out = Command::new("pdftotext")
        .args(["-enc", "UTF-8", "-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let squeezed = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
    let money = |minor: i64| {
        satang_documents::amount(satang_domain::money::Money::thb(minor)).replace(',', "")
    };
    let lines: Vec<&str> = text.lines().collect();
    for line in &doc.lines {
        let at = lines
            .iter()
            .position(|l| l.contains(&line.number))
            .unwrap_or_else(|| panic!("{} in\n{text}", line.number));
        let row = lines[at].replace(',', "");
        let date = format!(
            "{}/{}/{}",
            chrono::Datelike::day(&line.date),
            chrono::Datelike::month(&line.date),
            chrono::Datelike::year(&line.date) + 543
        );
        let tax_id = line.buyer_tax_id.as_deref().unwrap_or("-");
        for part in [
            date.as_str(),
            tax_id,
            &money(line.base_amount),
            &money(line.total),
        ] {
            assert!(
                row.contains(part),
                "{part} on {}'s line: {row}",
                line.number
            );
        }
        assert!(squeezed(&row).contains(&squeezed(&line.branch)), "{row}");
        // The name may run onto the next lines: it starts on this one and ends a little below.
        let name = squeezed(&line.buyer_name);
        let start: String = name.chars().take(12).collect();
        let end = squeezed(line.buyer_name.rsplit(' ').next().unwrap());
        let below = squeezed(&lines[at..lines.len().min(at + 3)].concat());
        assert!(squeezed(&row).contains(&start), "{name} on {row}");
        assert!(below.contains(&end), "{name} ends below {row}");
    }
    let pages = text.matches("หน้า ").count();
    assert!(pages >= 3, "{text}");
    assert_eq!(
        text.matches("รายงานภาษีขาย").count(),
        2 * pages,
        "title and footer"
    );
    assert!(text.contains(&format!("หน้า {pages} / {pages}")), "{text}");
}

#[test]
#[ignore = "writes /tmp/sample-output-vat.pdf and /tmp/sample-withholding.pdf for a visual check"]
fn write_samples() {
    std::fs::write(
        "/tmp/sample-output-vat.pdf",
        render_output_vat(&output_vat(70)).unwrap(),
    )
    .unwrap();
    std::fs::write(
        "/tmp/sample-withholding.pdf",
        render_withholding_report(&withholding()).unwrap(),
    )
    .unwrap();
}
