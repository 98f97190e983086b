//! The customer import (SPEC §2.14, the fields of §2.3): one customer per CSV row.
//!
//! - **Columns**: [`COLUMNS`] — `POST /api/customers`'s fields with the address flattened
//!   (`address_line1` … `address_country`) and `metadata` as a JSON object; only `name` is
//!   required in the header.
//! - **The same checks as one create**: each row goes through the validation of
//!   `POST /api/customers` ([`ValidateCustomer`], given by the caller: it lives at the API's
//!   edge), so lengths, e-mail form, the tax id's check digit, Thai text and the address rules
//!   are exactly the create's; a refused field is named by its column.
//! - **Every row needs a tax id or an e-mail**: they are how an import recognises a customer
//!   it (or anyone) created before.
//! - **Duplicates** — two rows of the file with the same tax id and branch (a company's branches
//!   are separate customers) or the same e-mail (ignoring case) — refuse the later row. A row
//!   whose tax id and branch or e-mail belongs to a stored customer (deleted ones included) is
//!   refused too, unless that customer is the row itself: same name, tax id, branch and
//!   e-mail. Such a row is **skipped** (reported with the customer's id), so running the same
//!   file again creates nothing and reports every row as already present.
//! - **Events and audit**: every customer created has its `customer.created` event (webhooks)
//!   and audit entry, as a single create has, written in batches.
//! - Imports take turns (on PostgreSQL an advisory lock), so two runs of one file cannot both
//!   find a customer missing.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use satang_domain::CustomerStatus;
use satang_store::audit::{self, Actor};
use satang_store::customers::{self, CustomerFields};
use satang_store::imports::{self as store, KnownCustomer, Reader};
use satang_store::{Db, Tx, outbox};

use super::{
    BATCH_ROWS, Existing, ImportOptions, ImportReport, Message, RecordImport, RefusedField,
    RowError, SkippedRow, Table, nul_error, run,
};
use crate::Result;
use crate::customers::creation_records;

/// The columns a customer import may have.
pub const COLUMNS: [&str; 18] = [
    "name",
    "legal_name",
    "tax_id",
    "branch_code",
    "email",
    "phone",
    "billing_email",
    "address_line1",
    "address_line2",
    "address_subdistrict",
    "address_district",
    "address_province",
    "address_postal_code",
    "address_country",
    "currency",
    "locale",
    "payment_terms_days",
    "metadata",
];

/// One row as `POST /api/customers` would receive it: text as written, empty cells absent.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerInput {
    pub name: String,
    pub legal_name: Option<String>,
    pub tax_id: Option<String>,
    pub branch_code: Option<String>,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub billing_email: Option<String>,
    /// Present when any address cell is.
    pub address: Option<AddressInput>,
    pub currency: Option<String>,
    pub locale: Option<String>,
    pub payment_terms_days: Option<i64>,
    pub metadata: Option<Map<String, Value>>,
}

/// The `address_…` cells of a row.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressInput {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub subdistrict: Option<String>,
    pub district: Option<String>,
    pub province: Option<String>,
    pub postal_code: Option<String>,
    pub country: Option<String>,
}

/// The checks of `POST /api/customers`: the fields to store, or every refused field named as
/// the API names it (`tax_id`, `address.postal_code`), in both languages.
pub type ValidateCustomer =
    dyn Fn(CustomerInput) -> Result<CustomerFields, Vec<RefusedField>> + Send + Sync;

/// A row that passed the checks, on its way to be created or skipped.
#[derive(Debug)]
pub(crate) struct Candidate {
    line: u64,
    fields: CustomerFields,
}

/// Imports the customers of `csv` (see the module's rules). `Ok` with
/// [`ImportReport::refused`] when a bad row (or header) kept the import from writing anything.
pub async fn import_customers(
    db: &Db,
    actor: &Actor,
    csv: &str,
    options: ImportOptions,
    validate: &ValidateCustomer,
    now: DateTime<Utc>,
) -> Result<ImportReport> {
    run(&CustomerImport { validate }, db, actor, csv, options, now).await
}

struct CustomerImport<'a> {
    validate: &'a ValidateCustomer,
}

impl RecordImport for CustomerImport<'_> {
    type Candidate = Candidate;
    type New = Candidate;
    const COLUMNS: &'static [&'static str] = &COLUMNS;
    const REQUIRED: &'static [&'static str] = &["name"];

    fn check(&self, table: &Table, errors: &mut Vec<RowError>) -> Vec<Candidate> {
        let candidates = checked_rows(table, self.validate, errors);
        without_repeats(candidates, errors)
    }

    async fn sort_out(
        &self,
        reader: &mut Reader<'_>,
        candidates: Vec<Candidate>,
        errors: &mut Vec<RowError>,
    ) -> Result<(Vec<Candidate>, Vec<SkippedRow>)> {
        let (tax_ids, emails) = keys_of(&candidates);
        let known = store::customers_by_keys(reader, &tax_ids, &emails).await?;
        Ok(sort_out(candidates, &known, errors))
    }

    async fn create_all(
        &self,
        tx: &mut Tx,
        actor: &Actor,
        new: &[Candidate],
        now: DateTime<Utc>,
    ) -> Result<()> {
        create_all(tx, actor, new, now).await
    }
}

/// Each row checked as a create would check it: the candidates, and the errors of the others.
fn checked_rows(
    table: &Table,
    validate: &ValidateCustomer,
    errors: &mut Vec<RowError>,
) -> Vec<Candidate> {
    let mut candidates = Vec::with_capacity(table.rows.len());
    for row in &table.rows {
        let (input, mut row_errors) = input_of(table.cells(row), row.line);
        match validate(input) {
            Ok(fields) if row_errors.is_empty() => {
                if fields.tax_id.is_none() && fields.email.is_none() {
                    errors.push(RowError::new(
                        row.line,
                        "tax_id",
                        Message::new(
                            "a row needs a tax_id or an email: they are how an import \
                             recognises a customer it already holds",
                            "แต่ละแถวต้องมี tax_id หรือ email เพื่อให้การนำเข้ารู้ว่าลูกค้ารายใดมีอยู่แล้ว",
                        ),
                    ));
                } else {
                    candidates.push(Candidate {
                        line: row.line,
                        fields,
                    });
                }
            }
            Ok(_) => errors.append(&mut row_errors),
            Err(refused) => {
                errors.append(&mut row_errors);
                errors.extend(
                    refused
                        .into_iter()
                        .map(|e| RowError::new(row.line, &column_of(&e.field), e.message)),
                );
            }
        }
    }
    candidates
}

/// The create request a row's cells make, and the cells that are not even of the right type.
fn input_of<'a>(
    cells: impl Iterator<Item = (&'static str, &'a str)>,
    line: u64,
) -> (CustomerInput, Vec<RowError>) {
    let mut input = CustomerInput::default();
    let mut address = AddressInput::default();
    let mut errors = Vec::new();
    for (column, cell) in cells {
        if cell.contains('\0') {
            errors.push(nul_error(line, column));
            continue;
        }
        let text = Some(cell.to_owned());
        match column {
            "name" => input.name = cell.to_owned(),
            "legal_name" => input.legal_name = text,
            "tax_id" => input.tax_id = text,
            "branch_code" => input.branch_code = text,
            "email" => input.email = text,
            "phone" => input.phone = text,
            "billing_email" => input.billing_email = text,
            "address_line1" => address.line1 = text,
            "address_line2" => address.line2 = text,
            "address_subdistrict" => address.subdistrict = text,
            "address_district" => address.district = text,
            "address_province" => address.province = text,
            "address_postal_code" => address.postal_code = text,
            "address_country" => address.country = text,
            "currency" => input.currency = text,
            "locale" => input.locale = text,
            "payment_terms_days" => match cell.trim().parse() {
                Ok(days) => input.payment_terms_days = Some(days),
                Err(_) => errors.push(RowError::new(
                    line,
                    column,
                    Message::new("must be a whole number of days", "ต้องเป็นจำนวนวันเต็ม"),
                )),
            },
            "metadata" => match serde_json::from_str(cell) {
                Ok(Value::Object(map)) => input.metadata = Some(map),
                _ => errors.push(RowError::new(
                    line,
                    column,
                    Message::new(
                        "must be a JSON object, e.g. {\"crm_id\": \"A-17\"}",
                        "ต้องเป็นออบเจกต์ JSON เช่น {\"crm_id\": \"A-17\"}",
                    ),
                )),
            },
            _ => {}
        }
    }
    if address != AddressInput::default() {
        input.address = Some(address);
    }
    (input, errors)
}

/// The column of a field as the create's validation names it: `address.line1` →
/// `address_line1`.
fn column_of(field: &str) -> String {
    field.replacen("address.", "address_", 1)
}

/// A row's tax id and branch, if it has a tax id.
fn tax_key(f: &CustomerFields) -> Option<(&str, Option<&str>)> {
    f.tax_id.as_deref().map(|t| (t, f.branch_code.as_deref()))
}

/// E-mails compare ignoring ASCII case (what both databases' `lower` folds).
fn email_key(email: Option<&str>) -> Option<String> {
    email.map(str::to_ascii_lowercase)
}

/// The candidates that repeat no earlier row's tax id and branch or e-mail; the others become
/// errors naming the earlier line.
fn without_repeats(candidates: Vec<Candidate>, errors: &mut Vec<RowError>) -> Vec<Candidate> {
    let mut tax_lines: HashMap<(String, Option<String>), u64> = HashMap::new();
    let mut email_lines: HashMap<String, u64> = HashMap::new();
    let mut kept = Vec::with_capacity(candidates.len());
    for c in candidates {
        let mut repeats = false;
        if let Some((tax_id, branch)) = tax_key(&c.fields) {
            match tax_lines.entry((tax_id.to_owned(), branch.map(str::to_owned))) {
                Entry::Occupied(first) => {
                    repeats = true;
                    errors.push(RowError::new(
                        c.line,
                        "tax_id",
                        Message::new(
                            format!("the same tax id and branch as line {}", first.get()),
                            format!("เลขประจำตัวผู้เสียภาษีและสาขาซ้ำกับบรรทัดที่ {}", first.get()),
                        ),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert(c.line);
                }
            }
        }
        if let Some(email) = email_key(c.fields.email.as_deref()) {
            match email_lines.entry(email) {
                Entry::Occupied(first) => {
                    repeats = true;
                    errors.push(RowError::new(
                        c.line,
                        "email",
                        Message::new(
                            format!("the same e-mail as line {}", first.get()),
                            format!("อีเมลซ้ำกับบรรทัดที่ {}", first.get()),
                        ),
                    ));
                }
                Entry::Vacant(slot) => {
                    slot.insert(c.line);
                }
            }
        }
        if !repeats {
            kept.push(c);
        }
    }
    kept
}

/// The tax ids and e-mails to look up (distinct).
fn keys_of(candidates: &[Candidate]) -> (Vec<String>, Vec<String>) {
    let mut tax_ids: Vec<String> = candidates
        .iter()
        .filter_map(|c| c.fields.tax_id.clone())
        .collect();
    tax_ids.sort_unstable();
    tax_ids.dedup();
    let mut emails: Vec<String> = candidates
        .iter()
        .filter_map(|c| email_key(c.fields.email.as_deref()))
        .collect();
    emails.sort_unstable();
    emails.dedup();
    (tax_ids, emails)
}

/// Splits the candidates by what the database holds: new ones, rows already present (skipped),
/// and rows colliding with another customer (errors).
fn sort_out(
    candidates: Vec<Candidate>,
    known: &[KnownCustomer],
    errors: &mut Vec<RowError>,
) -> (Vec<Candidate>, Vec<SkippedRow>) {
    let mut by_tax: HashMap<(&str, Option<&str>), Vec<&KnownCustomer>> = HashMap::new();
    let mut by_email: HashMap<String, Vec<&KnownCustomer>> = HashMap::new();
    for k in known {
        if let Some(tax_id) = k.tax_id.as_deref() {
            let slot = by_tax
                .entry((tax_id, k.branch_code.as_deref()))
                .or_default();
            if !slot.iter().any(|other| other.id == k.id) {
                slot.push(k);
            }
        }
        if let Some(email) = email_key(k.email.as_deref()) {
            let slot = by_email.entry(email).or_default();
            if !slot.iter().any(|other| other.id == k.id) {
                slot.push(k);
            }
        }
    }
    let mut new = Vec::with_capacity(candidates.len());
    let mut skipped = Vec::new();
    for c in candidates {
        let same_tax = tax_key(&c.fields)
            .and_then(|key| by_tax.get(&key))
            .map_or(&[][..], Vec::as_slice);
        let same_email = email_key(c.fields.email.as_deref())
            .and_then(|key| by_email.get(&key))
            .map_or(&[][..], Vec::as_slice);
        if let Some(present) = same_tax
            .iter()
            .chain(same_email)
            .find(|k| is_the_row(k, &c.fields))
        {
            skipped.push(SkippedRow {
                line: c.line,
                existing: Existing::Customer(present.id),
            });
            continue;
        }
        if let Some(k) = same_tax.first() {
            errors.push(RowError::new(
                c.line,
                "tax_id",
                Message::new(
                    format!("this tax id and branch belong to {}", described(k, false)),
                    format!("เลขประจำตัวผู้เสียภาษีและสาขานี้เป็นของ{}", described(k, true)),
                ),
            ));
        }
        if let Some(k) = same_email.first() {
            errors.push(RowError::new(
                c.line,
                "email",
                Message::new(
                    format!("this e-mail belongs to {}", described(k, false)),
                    format!("อีเมลนี้เป็นของ{}", described(k, true)),
                ),
            ));
        }
        if same_tax.is_empty() && same_email.is_empty() {
            new.push(c);
        }
    }
    (new, skipped)
}

/// True when the stored customer is the one the row describes (an earlier import of it).
fn is_the_row(k: &KnownCustomer, f: &CustomerFields) -> bool {
    k.name == f.name
        && k.tax_id == f.tax_id
        && k.branch_code == f.branch_code
        && email_key(k.email.as_deref()) == email_key(f.email.as_deref())
}

/// "the customer “name” (id)", in Thai when `thai`.
pub(crate) fn described(k: &KnownCustomer, thai: bool) -> String {
    let who = match (k.status == CustomerStatus::Deleted, thai) {
        (true, false) => "the deleted customer",
        (false, false) => "the customer",
        (true, true) => "ลูกค้าที่ถูกลบแล้ว",
        (false, true) => "ลูกค้า",
    };
    format!("{who} “{}” ({})", k.name, k.id)
}

/// Writes the new customers with their events and audit entries, a batch at a time.
async fn create_all(
    tx: &mut Tx,
    actor: &Actor,
    new: &[Candidate],
    now: DateTime<Utc>,
) -> Result<()> {
    for batch in new.chunks(BATCH_ROWS) {
        let created: Vec<customers::Customer> = batch
            .iter()
            .map(|c| customers::new(Uuid::now_v7(), &c.fields, now))
            .collect();
        store::insert_customers(tx, &created).await?;
        let (events, changes): (Vec<_>, Vec<_>) = created.iter().map(creation_records).unzip();
        outbox::emit_many(tx, events, now).await?;
        audit::record_many(tx, actor, changes, now).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use satang_domain::Currency;
    use serde_json::json;

    use super::*;

    fn fields(name: &str, tax_id: Option<&str>, email: Option<&str>) -> CustomerFields {
        CustomerFields {
            name: name.into(),
            tax_id: tax_id.map(Into::into),
            branch_code: tax_id.map(|_| "00000".into()),
            email: email.map(Into::into),
            currency: Currency::Thb,
            locale: "th".into(),
            payment_terms_days: 30,
            metadata: json!({}),
            ..CustomerFields::default()
        }
    }

    fn candidate(line: u64, f: CustomerFields) -> Candidate {
        Candidate { line, fields: f }
    }

    fn known(name: &str, tax_id: Option<&str>, email: Option<&str>) -> KnownCustomer {
        KnownCustomer {
            id: Uuid::now_v7(),
            name: name.into(),
            tax_id: tax_id.map(Into::into),
            branch_code: tax_id.map(|_| "00000".into()),
            email: email.map(Into::into),
            status: CustomerStatus::Active,
            currency: Currency::Thb,
        }
    }

    const TAX_ID: &str = "0105536000313";

    #[test]
    fn cells_become_the_create_request() {
        let cells = [
            ("name", " ร้านข้าวมันไก่ "),
            ("address_postal_code", "10110"),
            ("payment_terms_days", " 15 "),
            ("metadata", r#"{"crm": 7}"#),
        ];
        let (input, errors) = input_of(cells.into_iter(), 2);
        assert!(errors.is_empty());
        assert_eq!(input.name, " ร้านข้าวมันไก่ ");
        assert_eq!(input.email, None);
        assert_eq!(input.address.unwrap().postal_code.as_deref(), Some("10110"));
        assert_eq!(input.payment_terms_days, Some(15));
        assert_eq!(input.metadata.unwrap()["crm"], 7);

        let cells = [("payment_terms_days", "thirty"), ("metadata", "[1]")];
        let (input, errors) = input_of(cells.into_iter(), 9);
        assert_eq!(input.address, None);
        let named: Vec<(u64, &str)> = errors.iter().map(|e| (e.line, e.field.as_str())).collect();
        assert_eq!(named, vec![(9, "payment_terms_days"), (9, "metadata")]);
        assert_eq!(column_of("address.postal_code"), "address_postal_code");
        assert_eq!(column_of("tax_id"), "tax_id");
    }

    #[test]
    fn a_later_row_repeating_a_tax_id_or_email_is_refused() {
        let mut errors = Vec::new();
        let kept = without_repeats(
            vec![
                candidate(2, fields("A", Some(TAX_ID), Some("a@x.th"))),
                candidate(3, fields("B", Some(TAX_ID), Some("b@x.th"))),
                candidate(4, fields("C", None, Some("A@X.TH"))),
                candidate(5, fields("D", None, Some("d@x.th"))),
            ],
            &mut errors,
        );
        let lines: Vec<u64> = kept.iter().map(|c| c.line).collect();
        assert_eq!(lines, vec![2, 5]);
        assert_eq!(errors[0].line, 3);
        assert_eq!(errors[0].field, "tax_id");
        assert_eq!(errors[0].message.en, "the same tax id and branch as line 2");
        assert_eq!(errors[0].message.th, "เลขประจำตัวผู้เสียภาษีและสาขาซ้ำกับบรรทัดที่ 2");
        assert_eq!((errors[1].line, errors[1].field.as_str()), (4, "email"));
    }

    #[test]
    fn another_branch_of_the_same_company_is_not_a_repeat() {
        let mut branch = fields("สาขา 1", Some(TAX_ID), None);
        branch.branch_code = Some("00001".into());
        let mut errors = Vec::new();
        let kept = without_repeats(
            vec![
                candidate(2, fields("สำนักงานใหญ่", Some(TAX_ID), None)),
                candidate(3, branch),
            ],
            &mut errors,
        );
        assert_eq!(kept.len(), 2);
        assert!(errors.is_empty());
    }

    #[test]
    fn a_stored_customer_is_skipped_when_it_is_the_row_and_refused_otherwise() {
        let same = known("A", Some(TAX_ID), Some("A@x.th"));
        let other = known("Someone else", None, Some("b@x.th"));
        let mut errors = Vec::new();
        let (new, skipped) = sort_out(
            vec![
                candidate(2, fields("A", Some(TAX_ID), Some("a@x.th"))),
                candidate(3, fields("B", None, Some("b@x.th"))),
                candidate(4, fields("C", None, Some("c@x.th"))),
            ],
            &[same.clone(), same.clone(), other.clone()],
            &mut errors,
        );
        assert_eq!(
            skipped,
            vec![SkippedRow {
                line: 2,
                existing: Existing::Customer(same.id)
            }]
        );
        assert_eq!(new.len(), 1);
        assert_eq!(new[0].line, 4);
        assert_eq!(errors.len(), 1);
        assert_eq!((errors[0].line, errors[0].field.as_str()), (3, "email"));
        assert!(errors[0].message.en.contains(&other.id.to_string()));
        assert!(
            errors[0]
                .message
                .th
                .starts_with("อีเมลนี้เป็นของลูกค้า “Someone else”")
        );
    }
}
