//! Renders whole documents through the public API. `cargo test -p satang-documents -- --ignored`
//! also writes `/tmp/sample-invoice.pdf` for a look with `pdftoppm -png -r 80`.

use chrono::NaiveDate;
use satang_documents::{
    Buyer, DocumentStatus, InvoiceDocument, Line, Seller, promptpay_qr_payload, render_invoice,
};
use satang_domain::money::Currency;

fn date(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap()
}

/// An open invoice whose text exercises the Thai marks that collide when shaped as Latin.
fn sample() -> InvoiceDocument {
    let lines = vec![
        Line {
            description: "แพ็กเกจฟาร์มอัจฉริยะ Smart Farm Pro (ที่นี่ ผู้ใหญ่ น้ำ)".into(),
            period: Some((date(2026, 11, 1), date(2026, 12, 1))),
            quantity: 1,
            unit_amount: 290_000,
            amount: 290_000,
        },
        Line {
            description: "เซนเซอร์ความชื้นในดิน Soil moisture sensor seat".into(),
            period: Some((date(2026, 11, 1), date(2026, 12, 1))),
            quantity: 12,
            unit_amount: 15_050,
            amount: 180_600,
        },
        Line {
            description: "ค่าติดตั้ง / Installation".into(),
            period: None,
            quantity: 1,
            unit_amount: 1_234_550,
            amount: 1_234_550,
        },
    ];
    InvoiceDocument {
        seller: Seller {
            name_th: "บริษัท สตางค์ อะกริเทค จำกัด".into(),
            name_en: "Satang Agritech Co., Ltd.".into(),
            tax_id: Some("0105556000009".into()),
            branch_code: Some("00000".into()),
            address: vec![
                "99/1 ถนนพหลโยธิน แขวงสามเสนใน".into(),
                "เขตพญาไท กรุงเทพมหานคร 10400".into(),
            ],
            phone: Some("02-123-4567".into()),
            email: Some("billing@satang.example".into()),
            promptpay_id: Some("0105556000009".into()),
        },
        buyer: Buyer {
            name: "ไร่ผู้ใหญ่น้ำใส".into(),
            legal_name: Some("ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส".into()),
            tax_id: Some("0503559000004".into()),
            branch_code: Some("00001".into()),
            address: vec!["12 หมู่ 3 ตำบลที่นี่ อำเภอแม่ริม เชียงใหม่ 50180".into()],
        },
        number: "INV-2026-000042".into(),
        tax_invoice: true,
        title: None,
        status: DocumentStatus::Open,
        issue_date: date(2026, 11, 24),
        due_date: Some(date(2026, 12, 24)),
        paid_date: None,
        currency: Currency::Thb,
        lines,
        subtotal: 1_705_150,
        discount: 5_150,
        discount_codes: vec!["RICE-20".into()],
        vat_rate_bps: 700,
        vat_amount: 119_000,
        total: 1_819_000,
        credit_applied: 0,
        amount_credited: 0,
        withholding_tax: 51_000,
        withholding_certificates: vec!["50ทวิ-2569-0042".into()],
        amount_paid: 1_000_000,
        amount_due: 768_000,
    }
}

#[test]
fn renders_a_pdf_with_the_font_embedded() {
    let pdf = render_invoice(&sample()).unwrap();
    assert!(pdf.starts_with(b"%PDF"), "not a PDF");
    let text = String::from_utf8_lossy(&pdf);
    assert!(text.contains("Waree"), "the font is not embedded by name");
    assert!(
        text.contains("/FontFile2"),
        "no embedded TrueType font program"
    );
}

#[test]
fn the_qr_is_for_the_amount_due_of_payable_invoices_only() {
    let doc = sample();
    let payload = promptpay_qr_payload(&doc).unwrap();
    assert!(payload.contains("54077680.00"), "{payload}");

    for (status, due) in [
        (DocumentStatus::Paid, 768_000),
        (DocumentStatus::Void, 768_000),
        (DocumentStatus::Open, 0),
    ] {
        let other = InvoiceDocument {
            status,
            amount_due: due,
            ..sample()
        };
        assert_eq!(promptpay_qr_payload(&other), None, "{status:?} {due}");
        assert!(render_invoice(&other).unwrap().starts_with(b"%PDF"));
    }
    let mut no_id = sample();
    no_id.seller.promptpay_id = None;
    assert_eq!(promptpay_qr_payload(&no_id), None);
}

#[test]
fn long_invoices_continue_on_further_pages() {
    let mut doc = sample();
    let line = doc.lines[0].clone();
    doc.lines = vec![line; 60];
    let pdf = render_invoice(&doc).unwrap();
    let pages = String::from_utf8_lossy(&pdf).matches("/Type/Page/").count();
    assert!(pages >= 2, "60 lines on {pages} page(s)");
}

#[test]
#[ignore = "writes /tmp/sample-invoice.pdf for a visual check"]
fn write_sample() {
    std::fs::write(
        "/tmp/sample-invoice.pdf",
        render_invoice(&sample()).unwrap(),
    )
    .unwrap();
    let mut long = sample();
    long.lines = vec![long.lines[1].clone(); 40];
    std::fs::write(
        "/tmp/sample-invoice-long.pdf",
        render_invoice(&long).unwrap(),
    )
    .unwrap();
}
