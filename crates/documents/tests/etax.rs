//! The e-Tax XML of each kind, checked with libxml2's `xmllint` against ETDA's XSD when
//! `SATANG_ETAX_SCHEMAS` names ETDA's folder (the Schematron runs in the server's black-box
//! tests, `crates/satang/tests/it/tax_documents.rs`, which also cover both databases).

use std::path::PathBuf;
use std::process::Command;

use chrono::NaiveDate;
use satang_documents::{
    EtaxAddress, EtaxDocument, EtaxKind, EtaxLine, EtaxParty, EtaxReference, render_etax_xml,
};

fn sample(type_code: &str, name: &str) -> EtaxDocument {
    let at = NaiveDate::from_ymd_opt(2030, 3, 10)
        .unwrap()
        .and_hms_opt(10, 0, 0)
        .unwrap();
    EtaxDocument {
        type_code: type_code.into(),
        name: name.into(),
        number: "RT-2030-000001".into(),
        issued_at: at,
        purpose_code: None,
        purpose: None,
        seller: EtaxParty {
            name: "บริษัท ฟาร์มไอคิว จำกัด".into(),
            tax_id: Some("0105557000126".into()),
            branch_code: Some("00000".into()),
            address: Some(EtaxAddress {
                line_one: "1 ถนนพหลโยธิน".into(),
                line_two: Some("พญาไท กรุงเทพมหานคร".into()),
                postcode: Some("10400".into()),
                country: "TH".into(),
                subdistrict_code: Some("103701".into()),
                building_number: Some("1".into()),
            }),
        },
        buyer: EtaxParty {
            name: "ห้างหุ้นส่วนจำกัด ไร่ผู้ใหญ่น้ำใส".into(),
            tax_id: Some("0503559000004".into()),
            branch_code: Some("00001".into()),
            address: Some(EtaxAddress {
                line_one: "12 หมู่ 3".into(),
                line_two: Some("แม่ริม เชียงใหม่".into()),
                postcode: Some("50180".into()),
                country: "TH".into(),
                subdistrict_code: None,
                building_number: None,
            }),
        },
        reference: None,
        currency: "THB".into(),
        vat_rate_bps: 700,
        lines: vec![EtaxLine {
            name: "ค่าบริการ & ค่าที่ปรึกษา".into(),
            quantity: 1,
            unit_amount: 10_000,
            net_amount: 10_000,
            vat_amount: 700,
        }],
        line_total: 10_000,
        allowance: 0,
        base_amount: 10_000,
        vat_amount: 700,
        total: 10_700,
    }
}

fn documents() -> Vec<EtaxDocument> {
    let mut credit = sample("81", "ใบลดหนี้");
    credit.purpose_code = Some("CDNS99".into());
    credit.purpose = Some("ลดราคาค่าบริการ".into());
    credit.reference = Some(EtaxReference {
        number: "RT-2030-000001".into(),
        issued_at: credit.issued_at,
        type_code: "T03".into(),
        base_amount: 10_000,
    });
    // Two lines and a discount: 80.00 + 40.00 − 20.00 = 100.00 before VAT.
    let mut tax_invoice = sample("388", "ใบกำกับภาษี");
    tax_invoice.lines = vec![
        EtaxLine {
            name: "ค่าบริการรายเดือน".into(),
            quantity: 2,
            unit_amount: 4_000,
            net_amount: 8_000,
            vat_amount: 467,
        },
        EtaxLine {
            name: "ค่าติดตั้ง".into(),
            quantity: 1,
            unit_amount: 4_000,
            net_amount: 4_000,
            vat_amount: 233,
        },
    ];
    tax_invoice.line_total = 12_000;
    tax_invoice.allowance = 2_000;
    let mut anonymous = sample("T01", "ใบรับ");
    anonymous.buyer = EtaxParty {
        name: "ลูกค้าทั่วไป".into(),
        ..EtaxParty::default()
    };
    vec![
        tax_invoice,
        anonymous,
        sample("T03", "ใบเสร็จรับเงิน/ใบกำกับภาษี"),
        sample("T01", "ใบรับ"),
        credit,
    ]
}

#[test]
fn every_kind_is_valid_against_etdas_xsd() {
    let out_dir = std::env::var_os("SATANG_ETAX_OUT").map(PathBuf::from);
    let schemas = std::env::var_os("SATANG_ETAX_SCHEMAS").map(PathBuf::from);
    for (i, doc) in documents().into_iter().enumerate() {
        let xml = render_etax_xml(&doc).unwrap();
        let stem = EtaxKind::of(&doc.type_code).unwrap().stem();
        if let Some(dir) = &out_dir {
            std::fs::write(dir.join(format!("{i}-{}.xml", doc.type_code)), &xml).unwrap();
        }
        let Some(schemas) = &schemas else {
            eprintln!("SKIPPED: SATANG_ETAX_SCHEMAS not set");
            continue;
        };
        let dir = tempfile_dir();
        let file = dir.join(format!("{}.xml", doc.type_code));
        std::fs::write(&file, &xml).unwrap();
        let xsd = schemas.join(format!(
            "ETDA/data/standard/{stem}_CrossIndustryInvoice_2p1.xsd"
        ));
        let out = Command::new("xmllint")
            .arg("--noout")
            .arg("--schema")
            .arg(&xsd)
            .arg(&file)
            .output()
            .expect("xmllint (Debian libxml2-utils)");
        assert!(
            out.status.success(),
            "{}: {}",
            doc.type_code,
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("satang-etax-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tool(name: &str) -> bool {
    let found = Command::new(name).arg("--version").output().is_ok();
    assert!(
        found || std::env::var("SATANG_REQUIRE_TOOLS").as_deref() != Ok("1"),
        "{name} is required when SATANG_REQUIRE_TOOLS=1"
    );
    found
}

/// Every kind signed with a PKCS#12 made by the openssl command line verifies under libxmlsec1
/// (`xmlsec1 --verify`, the signing certificate as the trusted one), and stops verifying once a
/// byte of the message changes.
#[test]
fn every_kind_signed_verifies_with_xmlsec1() {
    if !tool("openssl") || !tool("xmlsec1") {
        eprintln!("SKIPPED: openssl / xmlsec1 missing");
        return;
    }
    let dir = tempfile_dir();
    let (key, cert, p12) = (dir.join("k.pem"), dir.join("c.pem"), dir.join("s.p12"));
    let ok = |c: &mut Command| {
        let out = c.output().unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ok(Command::new("openssl")
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-utf8", "-subj",
        ])
        .arg("/C=TH/O=A \\, B & <C>/CN=ฟาร์มไอคิว")
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert));
    ok(Command::new("openssl")
        .args(["pkcs12", "-export", "-passout", "pass:pw"])
        .arg("-inkey")
        .arg(&key)
        .arg("-in")
        .arg(&cert)
        .arg("-out")
        .arg(&p12));
    let signer =
        satang_documents::EtaxSigner::from_pkcs12(&std::fs::read(&p12).unwrap(), "pw").unwrap();
    assert!(
        satang_documents::EtaxSigner::from_pkcs12(&std::fs::read(&p12).unwrap(), "wrong").is_err()
    );
    // An upload is told why a file cannot sign.
    use satang_documents::Pkcs12Error;
    let read = |data: &[u8], password: &str| {
        satang_documents::EtaxSigner::read_pkcs12(data, password).map(|s| s.subject().to_owned())
    };
    let file = std::fs::read(&p12).unwrap();
    assert_eq!(read(&file, "wrong"), Err(Pkcs12Error::WrongPassword));
    assert_eq!(
        read(b"not a certificate", "pw"),
        Err(Pkcs12Error::NotPkcs12)
    );
    assert_eq!(read(&[], "pw"), Err(Pkcs12Error::NotPkcs12));
    assert_eq!(
        read(&std::fs::read(&cert).unwrap(), "pw"),
        Err(Pkcs12Error::NotPkcs12)
    );
    let now = chrono::Utc::now();
    assert!(signer.not_before() <= now && now < signer.not_after());
    assert!(signer.serial().bytes().all(|b| b.is_ascii_digit()));
    assert!(signer.issuer().contains("CN="), "{}", signer.issuer());
    let at = chrono::Utc::now();
    for (i, doc) in documents().into_iter().enumerate() {
        let xml = render_etax_xml(&doc).unwrap();
        let signed = signer.sign(&xml, &format!("d{i}"), at).unwrap();
        let verify = |bytes: &[u8]| {
            let file = dir.join(format!("signed-{i}.xml"));
            std::fs::write(&file, bytes).unwrap();
            let out = Command::new("xmlsec1")
                .arg("--verify")
                .arg("--trusted-pem")
                .arg(&cert)
                .args([
                    "--id-attr:Id",
                    "http://uri.etsi.org/01903/v1.3.2#:SignedProperties",
                ])
                .arg(&file)
                .output()
                .unwrap();
            (
                out.status.success(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
            )
        };
        let (verified, err) = verify(&signed);
        assert!(
            verified,
            "{}: {err}\n{}",
            doc.type_code,
            String::from_utf8_lossy(&signed)
        );
        let text = String::from_utf8(signed).unwrap();
        let tampered = text.replacen("RT-2030-000001", "RT-2030-000002", 1);
        assert_ne!(tampered, text);
        assert!(
            !verify(tampered.as_bytes()).0,
            "{} tampered verifies",
            doc.type_code
        );
    }
}
