//! Reports (SPEC §4.3) through the HTTP API, on both databases: a March with an invoice paid in
//! two partial payments (the second with withholding tax) and then credited, and a second
//! invoice paid at once; the output-VAT report's rows and totals checked to the satang against
//! `/api/tax-documents`, its CSV (BOM, baht with two decimals) read back by Python's `csv`
//! module, its XLSX by `calamine` and its printed form (PDF) by `pdftotext -layout`; the
//! withholding certificates of the year, likewise; a member refused; bad periods and formats
//! refused.

use std::io::{Cursor, Write};
use std::process::{Command, Stdio};

use calamine::{Data, Reader, Xlsx};
use serde_json::{Value, json};

use crate::common::billing::{credit_note_of_ten_baht, member_token, set_clock, set_date};
use crate::common::{Backend, TestApp, expect_problem, ok, spawn_clocked_on, tool_missing};
use crate::console_pages::plain_baht;
use crate::invoice_pdf::{pdf_layout_text, squeezed};
use crate::tax_documents::{customer, invoice, list, pay, seller_profile};

both_backends!(output_vat_and_withholding_reports_add_up,);

/// Python's `csv` module reads the body (BOM-aware `utf-8-sig`) into a JSON array of rows.
pub(crate) fn parse_csv(body: &[u8]) -> Option<Vec<Vec<String>>> {
    let script = "import csv, io, json, sys\n\
                  text = sys.stdin.buffer.read().decode('utf-8-sig')\n\
                  print(json.dumps(list(csv.reader(io.StringIO(text, newline='')))))";
    let mut child = match Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(c) => c,
        Err(_) => {
            tool_missing("python3", "the CSV is not read back without python3");
            return None;
        }
    };
    child.stdin.take().unwrap().write_all(body).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "python3's csv refused the report");
    Some(serde_json::from_slice(&out.stdout).unwrap())
}

/// The seller `seller_profile` sets, as the printed forms' header names it.
const SELLER_HEADER: [&str; 6] = [
    "ชื่อผู้ประกอบการ",
    "บริษัท ฟาร์มไอคิว จำกัด",
    "เลขประจำตัวผู้เสียภาษีอากร",
    "0105557000126",
    "สถานประกอบการ",
    "สำนักงานใหญ่",
];

/// The report at `path` as its printed form: a PDF attachment named `filename`, and its text
/// as `pdftotext -layout` reads it (`None` without the tool, outside CI).
async fn printed(app: &TestApp, admin: &str, path: &str, filename: &str) -> Option<String> {
    let res = app.get(path, admin).await;
    assert_eq!(res.status(), 200, "{path}");
    assert_eq!(res.headers()["content-type"], "application/pdf");
    assert_eq!(
        res.headers()["content-disposition"],
        format!("attachment; filename=\"{filename}\"").as_str()
    );
    let body = res.bytes().await.unwrap();
    assert!(body.starts_with(b"%PDF-"), "{path}: a PDF");
    let text = pdf_layout_text(&body)?;
    // Thai runs may come out with spaces between them: compare without whitespace.
    let flat = squeezed(&text);
    for words in SELLER_HEADER {
        assert!(flat.contains(&squeezed(words)), "{words} in\n{text}");
    }
    Some(text)
}

/// The line of `text` that holds every one of `figures` (the totals row, as printed).
fn line_with<'a>(text: &'a str, figures: &[String]) -> Option<&'a str> {
    text.lines()
        .find(|line| figures.iter().all(|f| line.contains(f.as_str())))
}

fn baht(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", minor.abs() / 100, minor.abs() % 100)
}

async fn output_vat_and_withholding_reports_add_up(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-03-05").await else {
        return;
    };
    seller_profile(&app, &admin, "payment").await;
    let farm = customer(&app, &admin, "ไร่ผู้ใหญ่น้ำใส").await;
    let mill = customer(&app, &admin, "โรงสีข้าวสันทราย").await;

    // Invoice A: 100.00 + VAT 7.00 = 107.00, paid 50.00 then 57.00 of which 3.00 withheld.
    let a = invoice(&app, &admin, farm, &[(1, 10_000)]).await;
    pay(
        &app,
        &admin,
        &a,
        json!({"amount": 5000, "method": "bank_transfer"}),
    )
    .await;
    let admin = set_date(&app, "2030-03-12").await;
    pay(
        &app,
        &admin,
        &a,
        json!({"amount": 5400, "method": "bank_transfer",
               "withholding_tax": {"amount": 300, "certificate_no": "WHT-2030-0007"}}),
    )
    .await;
    // A credit note of 10.00 + VAT on A.
    let a_id = a["id"].as_str().unwrap();
    credit_note_of_ten_baht(&app, &admin, a_id).await;
    // Invoice B: 3 × 45.50 = 136.50 + VAT 9.555 → 9.56, paid at once on the last day of March
    // (23:30 Bangkok is still March, though 16:30 UTC).
    let b = invoice(&app, &admin, mill, &[(3, 4550)]).await;
    let admin = set_clock(&app, "2030-03-31T16:30:00Z").await;
    let b_total = b["total"].as_i64().unwrap();
    pay(
        &app,
        &admin,
        &b,
        json!({"amount": b_total, "method": "promptpay"}),
    )
    .await;
    // April: an invoice paid on 1 April 00:30 Bangkok belongs to April's report.
    let c = invoice(&app, &admin, mill, &[(1, 2000)]).await;
    let admin = set_clock(&app, "2030-03-31T17:30:00Z").await;
    let c_total = c["total"].as_i64().unwrap();
    pay(
        &app,
        &admin,
        &c,
        json!({"amount": c_total, "method": "cash"}),
    )
    .await;

    let docs = list(&app, &admin, "from=2030-03-01&to=2030-03-31").await;
    assert_eq!(
        docs.len(),
        4,
        "two receipts of A, the credit note, B's receipt"
    );
    let report = ok(app
        .get("/api/reports/output-vat?month=2030-03", &admin)
        .await)
    .await;
    let rows = report["rows"].as_array().unwrap();
    assert_eq!(rows.len(), docs.len());
    for (i, (row, doc)) in rows.iter().zip(&docs).enumerate() {
        let sign = if doc["type"] == "credit_note" { -1 } else { 1 };
        assert_eq!(row["seq"], json!(i + 1));
        assert_eq!(row["number"], doc["number"]);
        assert_eq!(row["tax_document_id"], doc["id"]);
        assert_eq!(row["buyer_tax_id"], "0503559000004");
        assert_eq!(row["branch"], "สาขาที่ 00001");
        for f in ["base_amount", "vat_amount", "total"] {
            assert_eq!(
                row[f].as_i64().unwrap(),
                sign * doc[f].as_i64().unwrap(),
                "{f}"
            );
        }
    }
    assert_eq!(rows[0]["date"], "2030-03-05");
    assert_eq!(rows[3]["date"], "2030-03-31");
    assert_eq!(rows[0]["buyer_name"], "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส");
    assert_eq!(rows[2]["type"], "credit_note");
    let signed = |f: &str| -> i64 {
        docs.iter()
            .map(|d| {
                let s = if d["type"] == "credit_note" { -1 } else { 1 };
                s * d[f].as_i64().unwrap()
            })
            .sum()
    };
    // To the satang: A 100.00 − 10.00 credited + B 136.50; VAT 7.00 − 0.70 + 9.56.
    assert_eq!(
        report["total_base"].as_i64().unwrap(),
        signed("base_amount")
    );
    assert_eq!(report["total_base"], json!(10_000 - 1_000 + 13_650));
    assert_eq!(report["total_vat"].as_i64().unwrap(), signed("vat_amount"));
    assert_eq!(report["total_vat"], json!(700 - 70 + 956));
    assert_eq!(report["total"].as_i64().unwrap(), signed("total"));

    let april = ok(app
        .get("/api/reports/output-vat?month=2030-04", &admin)
        .await)
    .await;
    assert_eq!(april["rows"].as_array().unwrap().len(), 1);
    assert_eq!(april["total"], json!(c_total));
    assert_eq!(april["rows"][0]["date"], "2030-04-01");

    // CSV: BOM, header, one line a document, the totals line; baht with two decimals.
    let res = app
        .get("/api/reports/output-vat?month=2030-03&format=csv", &admin)
        .await;
    assert_eq!(res.status(), 200);
    assert!(
        res.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = res.bytes().await.unwrap();
    assert!(body.starts_with(b"\xEF\xBB\xBF"), "UTF-8 byte order mark");
    if let Some(lines) = parse_csv(&body) {
        assert_eq!(lines.len(), 1 + rows.len() + 1);
        assert_eq!(lines[0][0], "ลำดับ");
        for (line, row) in lines[1..].iter().zip(rows) {
            assert_eq!(line[0], row["seq"].to_string());
            assert_eq!(line[1], row["date"].as_str().unwrap());
            assert_eq!(line[2], row["number"].as_str().unwrap());
            assert_eq!(line[4], "0503559000004");
            assert_eq!(line[6], baht(row["base_amount"].as_i64().unwrap()));
            assert_eq!(line[7], baht(row["vat_amount"].as_i64().unwrap()));
        }
        assert_eq!(lines[3][6], "-10.00");
        assert_eq!(lines[3][7], "-0.70");
        let last = lines.last().unwrap();
        assert_eq!(last[6], baht(report["total_base"].as_i64().unwrap()));
        assert_eq!(last[7], "15.86");
        assert_eq!(last[8], baht(report["total"].as_i64().unwrap()));
    }

    // XLSX: the same rows, read back by calamine; money as numbers, dates as dates.
    let res = app
        .get("/api/reports/output-vat?month=2030-03&format=xlsx", &admin)
        .await;
    assert_eq!(res.status(), 200);
    assert_eq!(
        res.headers()["content-type"],
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    );
    assert_eq!(
        res.headers()["content-disposition"],
        "attachment; filename=\"output-vat-2030-03.xlsx\""
    );
    let body = res.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(body)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(cells.len(), 1 + rows.len() + 1);
    assert_eq!(cells[0][0], Data::String("ลำดับ".into()));
    let baht_of = |minor: &Value| minor.as_i64().unwrap() as f64 / 100.0;
    for (line, row) in cells[1..].iter().zip(rows) {
        assert_eq!(line[0], Data::Float(row["seq"].as_f64().unwrap()));
        match &line[1] {
            Data::DateTime(d) => assert_eq!(
                d.as_datetime().unwrap().date().to_string(),
                row["date"].as_str().unwrap()
            ),
            other => panic!("not a date: {other:?}"),
        }
        assert_eq!(
            line[2],
            Data::String(row["number"].as_str().unwrap().into())
        );
        assert_eq!(line[6], Data::Float(baht_of(&row["base_amount"])));
        assert_eq!(line[7], Data::Float(baht_of(&row["vat_amount"])));
    }
    let last = cells.last().unwrap();
    assert_eq!(last[3], Data::String("รวม".into()));
    assert_eq!(last[7], Data::Float(15.86));
    assert_eq!(last[8], Data::Float(baht_of(&report["total"])));

    // PDF: the Thai form, its header, every document of the month and the JSON's totals.
    let pdf = printed(
        &app,
        &admin,
        "/api/reports/output-vat?month=2030-03&format=pdf",
        "output-vat-2030-03.pdf",
    )
    .await;
    if let Some(text) = pdf {
        let flat = squeezed(&text);
        for words in [
            "รายงานภาษีขาย",
            "เดือน มีนาคม ปี พ.ศ. 2573",
            "มูลค่าสินค้าหรือบริการ",
            "จำนวนเงินภาษีมูลค่าเพิ่ม",
            "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส",
            "สาขาที่ 00001",
            "หน้า 1 / 1",
        ] {
            assert!(flat.contains(&squeezed(words)), "{words} in\n{text}");
        }
        for row in rows {
            let number = row["number"].as_str().unwrap();
            let line = text
                .lines()
                .find(|l| l.contains(number))
                .unwrap_or_else(|| panic!("{number} in\n{text}"));
            // Each document's line: its Buddhist-Era date and its figures, signed.
            let date = chrono::NaiveDate::parse_from_str(row["date"].as_str().unwrap(), "%Y-%m-%d")
                .unwrap();
            let thai_date = format!(
                "{}/{}/{}",
                chrono::Datelike::day(&date),
                chrono::Datelike::month(&date),
                chrono::Datelike::year(&date) + 543
            );
            for part in [
                thai_date,
                "0503559000004".to_owned(),
                plain_baht(row["base_amount"].as_i64().unwrap()),
                plain_baht(row["vat_amount"].as_i64().unwrap()),
                plain_baht(row["total"].as_i64().unwrap()),
            ] {
                assert!(line.contains(&part), "{part} on {number}'s line: {line}");
            }
        }
        assert!(text.contains("-10.00") && text.contains("-0.70"), "{text}");
        let totals: Vec<String> = ["total_base", "total_vat", "total"]
            .iter()
            .map(|f| plain_baht(report[f].as_i64().unwrap()))
            .collect();
        let line = line_with(&text, &totals).unwrap_or_else(|| panic!("{totals:?} in\n{text}"));
        assert!(line.contains("รวม"), "the totals row: {line}");
        assert!(totals.contains(&"15.86".to_owned()));
    }
    // A month without documents is a form that says so, with zero totals.
    if let Some(text) = printed(
        &app,
        &admin,
        "/api/reports/output-vat?month=2030-02&format=pdf",
        "output-vat-2030-02.pdf",
    )
    .await
    {
        let flat = squeezed(&text);
        assert!(
            flat.contains(&squeezed("เดือน กุมภาพันธ์ ปี พ.ศ. 2573")),
            "{text}"
        );
        assert!(flat.contains("ไม่มีใบกำกับภาษี"), "{text}");
        assert!(!text.contains("RT-2030-"), "{text}");
        let line = line_with(&text, &["รวม".to_owned(), "0.00".to_owned()]);
        assert!(line.is_some(), "a totals row of zeros in\n{text}");
    }

    // Withholding certificates of 2030: A's second payment, its base the receipt's.
    let wht = ok(app
        .get("/api/reports/withholding-certificates?year=2030", &admin)
        .await)
    .await;
    let certs = wht["rows"].as_array().unwrap();
    assert_eq!(certs.len(), 1);
    assert_eq!(certs[0]["certificate_no"], "WHT-2030-0007");
    assert_eq!(certs[0]["date"], "2030-03-12");
    assert_eq!(certs[0]["customer_tax_id"], "0503559000004");
    assert_eq!(certs[0]["base_amount"], docs[1]["base_amount"]);
    assert_eq!(certs[0]["withholding_tax"], json!(300));
    assert_eq!(wht["total_withheld"], json!(300));
    assert_eq!(wht["total_base"], docs[1]["base_amount"]);
    let res = app
        .get(
            "/api/reports/withholding-certificates?year=2030&format=csv",
            &admin,
        )
        .await;
    assert_eq!(res.status(), 200);
    let body = res.bytes().await.unwrap();
    assert!(body.starts_with(b"\xEF\xBB\xBF"));
    if let Some(lines) = parse_csv(&body) {
        assert_eq!(lines.len(), 3);
        assert_eq!(lines[1][4], "WHT-2030-0007");
        assert_eq!(lines[1][6], "3.00");
        assert_eq!(lines[2][6], "3.00");
    }
    let res = app
        .get(
            "/api/reports/withholding-certificates?year=2030&format=xlsx",
            &admin,
        )
        .await;
    assert_eq!(res.status(), 200);
    let xlsx = res.bytes().await.unwrap().to_vec();
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx)).unwrap();
    let sheet = book.worksheet_range_at(0).unwrap().unwrap();
    let cells: Vec<&[Data]> = sheet.rows().collect();
    assert_eq!(cells.len(), 3);
    assert_eq!(cells[1][4], Data::String("WHT-2030-0007".into()));
    assert_eq!(cells[1][6], Data::Float(3.0));
    let pdf = printed(
        &app,
        &admin,
        "/api/reports/withholding-certificates?year=2030&format=pdf",
        "withholding-certificates-2030.pdf",
    )
    .await;
    if let Some(text) = pdf {
        let flat = squeezed(&text);
        for words in ["หนังสือรับรองการหักภาษี ณ ที่จ่าย (50 ทวิ)", "ปี พ.ศ. 2573"]
        {
            assert!(flat.contains(&squeezed(words)), "{words} in\n{text}");
        }
        let line = text
            .lines()
            .find(|l| l.contains("WHT-2030-0007"))
            .unwrap_or_else(|| panic!("the certificate in\n{text}"));
        for part in [
            "12/3/2573".to_owned(),
            "0503559000004".to_owned(),
            plain_baht(certs[0]["base_amount"].as_i64().unwrap()),
            "3.00".to_owned(),
        ] {
            assert!(
                line.contains(&part),
                "{part} on the certificate's line: {line}"
            );
        }
        let totals = [
            plain_baht(wht["total_base"].as_i64().unwrap()),
            plain_baht(wht["total_withheld"].as_i64().unwrap()),
        ];
        let line = text
            .lines()
            .filter(|l| l.contains("รวม"))
            .find(|l| totals.iter().all(|t| l.contains(t.as_str())))
            .unwrap_or_else(|| panic!("the totals {totals:?} in\n{text}"));
        assert!(!line.contains("WHT-"), "a row of its own: {line}");
    }
    let none: Value = ok(app
        .get("/api/reports/withholding-certificates?year=2029", &admin)
        .await)
    .await;
    assert!(none["rows"].as_array().unwrap().is_empty());

    // A member of the customer may read its documents, not the reports, in no format.
    let owner = member_token(&app, "owner@farm.example", farm, "owner").await;
    expect_problem(
        app.get("/api/reports/output-vat?month=2030-03&format=pdf", &owner)
            .await,
        403,
    )
    .await;
    expect_problem(
        app.get("/api/reports/output-vat?month=2030-03", &owner)
            .await,
        403,
    )
    .await;
    expect_problem(
        app.get("/api/reports/withholding-certificates?year=2030", &owner)
            .await,
        403,
    )
    .await;
    // The OpenAPI document names the printed form: `pdf` among `format`'s values, its type.
    let doc = ok(app.get("/api/openapi.json", &admin).await).await;
    for path in [
        "/api/reports/output-vat",
        "/api/reports/withholding-certificates",
    ] {
        let op = &doc["paths"][path]["get"];
        let format = op["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "format")
            .unwrap_or_else(|| panic!("{path} has a format: {op}"));
        let schema = format["schema"].to_string();
        for value in ["json", "csv", "xlsx", "pdf"] {
            assert!(schema.contains(&format!("\"{value}\"")), "{path}: {schema}");
        }
        assert!(
            op["responses"]["200"]["content"]["application/pdf"].is_object(),
            "{path}: {op}"
        );
    }
    // Bad periods and formats are 400 problems.
    for q in [
        "output-vat",
        "output-vat?month=2030-13",
        "output-vat?month=03/2030",
        "output-vat?month=2030-03&format=pdfx",
        "output-vat?month=2030-03&format=xls",
        "withholding-certificates?year=30",
        "withholding-certificates?year=2030&format=xml",
        "withholding-certificates?year=2030&format=PDF",
        "output-vat?month=2030-13&format=pdf",
    ] {
        expect_problem(app.get(&format!("/api/reports/{q}"), &admin).await, 400).await;
    }
}
