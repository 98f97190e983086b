//! Reports (SPEC §4.3) through the HTTP API, on both databases: a March with an invoice paid in
//! two partial payments (the second with withholding tax) and then credited, and a second
//! invoice paid at once; the output-VAT report's rows and totals checked to the satang against
//! `/api/tax-documents`, its CSV (BOM, baht with two decimals) read back by Python's `csv`
//! module and its XLSX by `calamine`; the withholding certificates of the year; a member
//! refused; bad periods refused.

use std::io::{Cursor, Write};
use std::process::{Command, Stdio};

use calamine::{Data, Reader, Xlsx};
use serde_json::{Value, json};

use crate::common::billing::{credit_note_of_ten_baht, member_token, set_clock, set_date};
use crate::common::{Backend, expect_problem, ok, spawn_clocked_on, tool_missing};
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
    let none: Value = ok(app
        .get("/api/reports/withholding-certificates?year=2029", &admin)
        .await)
    .await;
    assert!(none["rows"].as_array().unwrap().is_empty());

    // A member of the customer may read its documents, not the reports.
    let owner = member_token(&app, "owner@farm.example", farm, "owner").await;
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
    // Bad periods and formats are 400 problems.
    for q in [
        "output-vat",
        "output-vat?month=2030-13",
        "output-vat?month=03/2030",
        "output-vat?month=2030-03&format=pdfx",
        "output-vat?month=2030-03&format=xls",
        "withholding-certificates?year=30",
        "withholding-certificates?year=2030&format=xml",
    ] {
        expect_problem(app.get(&format!("/api/reports/{q}"), &admin).await, 400).await;
    }
}
