//! The e-Tax XML of a tax document (SPEC §4.2): ETDA's e-Tax Invoice & e-Receipt v2.1
//! (ขมธอ. 3-2560, guideline `ER3-2560`), one CrossIndustryInvoice message per document:
//!
//! | type code | root element                            |
//! |-----------|-----------------------------------------|
//! | 388, T02, T03 | `TaxInvoice_CrossIndustryInvoice`   |
//! | T01       | `Receipt_CrossIndustryInvoice`          |
//! | 81, 80    | `DebitCreditNote_CrossIndustryInvoice`  |
//!
//! Pure: the input is an [`EtaxDocument`] with every figure already decided; the output the
//! UTF-8 bytes of the unsigned message (a signature is appended as `ds:Signature` later).
//! Written with quick-xml, which escapes every text and attribute.

use chrono::NaiveDateTime;
use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

use crate::Error;

/// A party (seller or buyer) as it appears on the document.
#[derive(Debug, Clone, Default)]
pub struct EtaxParty {
    pub name: String,
    /// 13 digits; with the branch it is the `TXID` registration.
    pub tax_id: Option<String>,
    /// `00000` for the head office.
    pub branch_code: Option<String>,
    pub address: Option<EtaxAddress>,
}

/// An address in ETDA's unstructured form (lines, postcode, country).
#[derive(Debug, Clone, Default)]
pub struct EtaxAddress {
    pub line_one: String,
    pub line_two: Option<String>,
    pub postcode: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    /// The 6-digit TISI 1099 subdistrict code: with it a Thai address is also written in
    /// ETDA's structured form (province `CountrySubDivisionID`, district `CityName`,
    /// subdistrict `CitySubDivisionName`, `BuildingNumber`), which a seller's must be.
    pub subdistrict_code: Option<String>,
    /// House number (บ้านเลขที่), at most 16 characters.
    pub building_number: Option<String>,
}

/// One line; amounts in minor units, before VAT.
#[derive(Debug, Clone)]
pub struct EtaxLine {
    pub name: String,
    pub quantity: i64,
    pub unit_amount: i64,
    pub net_amount: i64,
    pub vat_amount: i64,
}

/// The document a credit note corrects.
#[derive(Debug, Clone)]
pub struct EtaxReference {
    pub number: String,
    pub issued_at: NaiveDateTime,
    pub type_code: String,
    /// Its value before VAT.
    pub base_amount: i64,
}

#[derive(Debug, Clone)]
pub struct EtaxDocument {
    /// 388, T02, T03, T01, 81 or 80.
    pub type_code: String,
    /// The Thai document name (`ใบกำกับภาษี`, `ใบเสร็จรับเงิน/ใบกำกับภาษี`, `ใบรับ`, `ใบลดหนี้`).
    pub name: String,
    pub number: String,
    /// Bangkok local time.
    pub issued_at: NaiveDateTime,
    /// Why a credit note was issued: its ETDA purpose code and free text.
    pub purpose_code: Option<String>,
    pub purpose: Option<String>,
    pub seller: EtaxParty,
    pub buyer: EtaxParty,
    pub reference: Option<EtaxReference>,
    /// ISO 4217.
    pub currency: String,
    pub vat_rate_bps: i64,
    pub lines: Vec<EtaxLine>,
    /// Sum of the lines' net amounts.
    pub line_total: i64,
    pub allowance: i64,
    pub base_amount: i64,
    pub vat_amount: i64,
    pub total: i64,
}

/// The message's kind, from the type code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EtaxKind {
    TaxInvoice,
    Receipt,
    DebitCreditNote,
}

impl EtaxKind {
    pub fn of(type_code: &str) -> Option<EtaxKind> {
        match type_code {
            "388" | "T02" | "T03" | "T04" | "T05" => Some(EtaxKind::TaxInvoice),
            "T01" => Some(EtaxKind::Receipt),
            "80" | "81" => Some(EtaxKind::DebitCreditNote),
            _ => None,
        }
    }

    /// The schema's stem: `TaxInvoice`, `Receipt`, `DebitCreditNote` (file and namespace names).
    pub const fn stem(self) -> &'static str {
        match self {
            EtaxKind::TaxInvoice => "TaxInvoice",
            EtaxKind::Receipt => "Receipt",
            EtaxKind::DebitCreditNote => "DebitCreditNote",
        }
    }
}

/// Minor units as a decimal with two places: `123450` → `1234.50`.
pub fn decimal(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    let a = minor.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

fn datetime(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%dT%H:%M:%S").to_string()
}

struct Xml {
    w: Writer<Vec<u8>>,
}

impl Xml {
    fn start(&mut self, name: &str, attrs: &[(&str, &str)]) -> Result<(), Error> {
        let mut e = BytesStart::new(name);
        for a in attrs {
            e.push_attribute(*a);
        }
        self.w.write_event(Event::Start(e)).map_err(xml_error)
    }

    fn end(&mut self, name: &str) -> Result<(), Error> {
        self.w
            .write_event(Event::End(BytesEnd::new(name)))
            .map_err(xml_error)
    }

    fn text_attrs(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) -> Result<(), Error> {
        self.start(name, attrs)?;
        self.w
            .write_event(Event::Text(BytesText::new(text)))
            .map_err(xml_error)?;
        self.end(name)
    }

    fn text(&mut self, name: &str, text: &str) -> Result<(), Error> {
        self.text_attrs(name, &[], text)
    }
}

fn xml_error(e: impl std::fmt::Display) -> Error {
    Error::Xml(e.to_string())
}

/// The unsigned e-Tax XML of `doc`.
pub fn render_etax_xml(doc: &EtaxDocument) -> Result<Vec<u8>, Error> {
    let kind = EtaxKind::of(&doc.type_code)
        .ok_or_else(|| Error::Xml(format!("no e-Tax message for type {}", doc.type_code)))?;
    let stem = kind.stem();
    let root = format!("rsm:{stem}_CrossIndustryInvoice");
    let rsm = format!("urn:etda:uncefact:data:standard:{stem}_CrossIndustryInvoice:2");
    let ram = format!(
        "urn:etda:uncefact:data:standard:{stem}_ReusableAggregateBusinessInformationEntity:2"
    );
    let mut x = Xml {
        w: Writer::new(Vec::new()),
    };
    x.w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)))
        .map_err(xml_error)?;
    x.start(
        &root,
        &[("xmlns:rsm", rsm.as_str()), ("xmlns:ram", ram.as_str())],
    )?;

    x.start("rsm:ExchangedDocumentContext", &[])?;
    x.start("ram:GuidelineSpecifiedDocumentContextParameter", &[])?;
    x.text_attrs(
        "ram:ID",
        &[("schemeAgencyID", "ETDA"), ("schemeVersionID", "v2.1")],
        "ER3-2560",
    )?;
    x.end("ram:GuidelineSpecifiedDocumentContextParameter")?;
    x.end("rsm:ExchangedDocumentContext")?;

    let issued = datetime(doc.issued_at);
    x.start("rsm:ExchangedDocument", &[])?;
    x.text("ram:ID", &doc.number)?;
    x.text("ram:Name", &doc.name)?;
    x.text("ram:TypeCode", &doc.type_code)?;
    x.text("ram:IssueDateTime", &issued)?;
    if let Some(p) = &doc.purpose {
        x.text("ram:Purpose", p)?;
    }
    if let Some(p) = &doc.purpose_code {
        x.text("ram:PurposeCode", p)?;
    }
    x.text("ram:CreationDateTime", &issued)?;
    x.end("rsm:ExchangedDocument")?;

    x.start("rsm:SupplyChainTradeTransaction", &[])?;
    x.start("ram:ApplicableHeaderTradeAgreement", &[])?;
    party(&mut x, "ram:SellerTradeParty", &doc.seller)?;
    party(&mut x, "ram:BuyerTradeParty", &doc.buyer)?;
    if let Some(r) = &doc.reference {
        x.start("ram:AdditionalReferencedDocument", &[])?;
        x.text("ram:IssuerAssignedID", &r.number)?;
        x.text("ram:IssueDateTime", &datetime(r.issued_at))?;
        x.text("ram:ReferenceTypeCode", &r.type_code)?;
        x.end("ram:AdditionalReferencedDocument")?;
    }
    x.end("ram:ApplicableHeaderTradeAgreement")?;
    x.start("ram:ApplicableHeaderTradeDelivery", &[])?;
    x.end("ram:ApplicableHeaderTradeDelivery")?;

    let rate = decimal(doc.vat_rate_bps);
    x.start("ram:ApplicableHeaderTradeSettlement", &[])?;
    x.text_attrs(
        "ram:InvoiceCurrencyCode",
        &[("listID", "ISO 4217 3A")],
        &doc.currency,
    )?;
    x.start("ram:ApplicableTradeTax", &[])?;
    x.text("ram:TypeCode", "VAT")?;
    x.text("ram:CalculatedRate", &rate)?;
    x.text("ram:BasisAmount", &decimal(doc.base_amount))?;
    x.text("ram:CalculatedAmount", &decimal(doc.vat_amount))?;
    x.end("ram:ApplicableTradeTax")?;
    if doc.allowance != 0 {
        x.start("ram:SpecifiedTradeAllowanceCharge", &[])?;
        x.text("ram:ChargeIndicator", "false")?;
        x.text("ram:ActualAmount", &decimal(doc.allowance))?;
        x.end("ram:SpecifiedTradeAllowanceCharge")?;
    }
    x.start("ram:SpecifiedTradeSettlementHeaderMonetarySummation", &[])?;
    if kind == EtaxKind::DebitCreditNote {
        // The corrected document's value, the value it should have had, and the difference.
        let original = doc.reference.as_ref().map_or(0, |r| r.base_amount);
        x.text("ram:OriginalInformationAmount", &decimal(original))?;
        x.text("ram:LineTotalAmount", &decimal(original - doc.base_amount))?;
        x.text("ram:DifferenceInformationAmount", &decimal(doc.base_amount))?;
    } else {
        x.text("ram:LineTotalAmount", &decimal(doc.line_total))?;
    }
    if doc.allowance != 0 {
        x.text("ram:AllowanceTotalAmount", &decimal(doc.allowance))?;
    }
    x.text("ram:TaxBasisTotalAmount", &decimal(doc.base_amount))?;
    x.text("ram:TaxTotalAmount", &decimal(doc.vat_amount))?;
    x.text("ram:GrandTotalAmount", &decimal(doc.total))?;
    x.end("ram:SpecifiedTradeSettlementHeaderMonetarySummation")?;
    x.end("ram:ApplicableHeaderTradeSettlement")?;

    for (i, l) in doc.lines.iter().enumerate() {
        x.start("ram:IncludedSupplyChainTradeLineItem", &[])?;
        x.start("ram:AssociatedDocumentLineDocument", &[])?;
        x.text("ram:LineID", &(i + 1).to_string())?;
        x.end("ram:AssociatedDocumentLineDocument")?;
        x.start("ram:SpecifiedTradeProduct", &[])?;
        x.text("ram:Name", &l.name)?;
        x.end("ram:SpecifiedTradeProduct")?;
        x.start("ram:SpecifiedLineTradeAgreement", &[])?;
        x.start("ram:GrossPriceProductTradePrice", &[])?;
        x.text("ram:ChargeAmount", &decimal(l.unit_amount))?;
        x.end("ram:GrossPriceProductTradePrice")?;
        x.end("ram:SpecifiedLineTradeAgreement")?;
        x.start("ram:SpecifiedLineTradeDelivery", &[])?;
        x.text_attrs(
            "ram:BilledQuantity",
            &[("unitCode", "C62")],
            &l.quantity.to_string(),
        )?;
        x.end("ram:SpecifiedLineTradeDelivery")?;
        x.start("ram:SpecifiedLineTradeSettlement", &[])?;
        x.start("ram:ApplicableTradeTax", &[])?;
        x.text("ram:TypeCode", "VAT")?;
        x.text("ram:CalculatedRate", &rate)?;
        x.text("ram:BasisAmount", &decimal(l.net_amount))?;
        x.text("ram:CalculatedAmount", &decimal(l.vat_amount))?;
        x.end("ram:ApplicableTradeTax")?;
        x.start("ram:SpecifiedTradeSettlementLineMonetarySummation", &[])?;
        x.text("ram:TaxTotalAmount", &decimal(l.vat_amount))?;
        x.text("ram:NetLineTotalAmount", &decimal(l.net_amount))?;
        x.text(
            "ram:NetIncludingTaxesLineTotalAmount",
            &decimal(l.net_amount + l.vat_amount),
        )?;
        x.end("ram:SpecifiedTradeSettlementLineMonetarySummation")?;
        x.end("ram:SpecifiedLineTradeSettlement")?;
        x.end("ram:IncludedSupplyChainTradeLineItem")?;
    }
    x.end("rsm:SupplyChainTradeTransaction")?;
    x.end(&root)?;
    Ok(x.w.into_inner())
}

fn party(x: &mut Xml, element: &str, p: &EtaxParty) -> Result<(), Error> {
    x.start(element, &[])?;
    x.text("ram:Name", &p.name)?;
    x.start("ram:SpecifiedTaxRegistration", &[])?;
    match &p.tax_id {
        Some(id) => {
            let branch = p.branch_code.as_deref().unwrap_or("00000");
            x.text_attrs("ram:ID", &[("schemeID", "TXID")], &format!("{id}{branch}"))?;
        }
        None => x.text_attrs("ram:ID", &[("schemeID", "OTHR")], "N/A")?,
    }
    x.end("ram:SpecifiedTaxRegistration")?;
    if let Some(a) = &p.address {
        x.start("ram:PostalTradeAddress", &[])?;
        if let Some(pc) = &a.postcode {
            x.text("ram:PostcodeCode", pc)?;
        }
        x.text("ram:LineOne", &a.line_one)?;
        if let Some(l2) = &a.line_two {
            x.text("ram:LineTwo", l2)?;
        }
        let code = a
            .subdistrict_code
            .as_deref()
            .filter(|c| c.len() == 6 && c.is_ascii());
        if let Some(code) = code {
            x.text("ram:CityName", &code[..4])?;
            x.text("ram:CitySubDivisionName", code)?;
        }
        x.text_attrs(
            "ram:CountryID",
            &[("schemeID", "3166-1 alpha-2")],
            &a.country,
        )?;
        if let Some(code) = code {
            x.text("ram:CountrySubDivisionID", &code[..2])?;
            if let Some(n) = &a.building_number {
                x.text("ram:BuildingNumber", n)?;
            }
        }
        x.end("ram:PostalTradeAddress")?;
    }
    x.end(element)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals() {
        assert_eq!(decimal(123450), "1234.50");
        assert_eq!(decimal(7), "0.07");
        assert_eq!(decimal(-1500), "-15.00");
        assert_eq!(decimal(700), "7.00");
    }

    #[test]
    fn escapes_text() {
        let doc = EtaxDocument {
            type_code: "T01".into(),
            name: "ใบรับ".into(),
            number: "RT-2026-000001".into(),
            issued_at: NaiveDateTime::default(),
            purpose_code: None,
            purpose: None,
            seller: EtaxParty {
                name: "A & B <Co>".into(),
                ..EtaxParty::default()
            },
            buyer: EtaxParty::default(),
            reference: None,
            currency: "THB".into(),
            vat_rate_bps: 700,
            lines: vec![],
            line_total: 0,
            allowance: 0,
            base_amount: 0,
            vat_amount: 0,
            total: 0,
        };
        let xml = String::from_utf8(render_etax_xml(&doc).unwrap()).unwrap();
        assert!(xml.contains("A &amp; B &lt;Co&gt;"), "{xml}");
        assert!(xml.contains("<rsm:Receipt_CrossIndustryInvoice"));
    }
}
