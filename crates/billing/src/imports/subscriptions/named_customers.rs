//! The customers the rows of a subscription import name — by tax id and branch, e-mail or id —
//! looked up together, and each row's one active customer (or why there is none).

use std::collections::HashMap;

use uuid::Uuid;

use satang_domain::CustomerStatus;
use satang_store::Result as StoreResult;
use satang_store::imports::{self as store, KnownCustomer, Reader};

use super::Candidate;
use crate::imports::customers::described;
use crate::imports::{Message, RowError};

/// The stored customers the rows name, by each kind of key.
pub(super) struct Customers {
    by_id: HashMap<Uuid, KnownCustomer>,
    by_tax: HashMap<(String, String), Vec<KnownCustomer>>,
    by_email: HashMap<String, Vec<KnownCustomer>>,
}

impl Customers {
    pub(super) async fn look_up(
        reader: &mut Reader<'_>,
        candidates: &[Candidate],
    ) -> StoreResult<Customers> {
        let distinct = |mut v: Vec<String>| {
            v.sort_unstable();
            v.dedup();
            v
        };
        let tax_ids = distinct(
            candidates
                .iter()
                .filter_map(|c| c.customer.tax.as_ref().map(|t| t.0.clone()))
                .collect(),
        );
        let emails = distinct(
            candidates
                .iter()
                .filter_map(|c| c.customer.email.clone())
                .collect(),
        );
        let mut ids: Vec<Uuid> = candidates.iter().filter_map(|c| c.customer.id).collect();
        ids.sort_unstable();
        ids.dedup();
        let mut found = Customers {
            by_id: HashMap::new(),
            by_tax: HashMap::new(),
            by_email: HashMap::new(),
        };
        let by_keys = store::customers_by_keys(reader, &tax_ids, &emails).await?;
        let by_ids = store::customers_by_ids(reader, &ids).await?;
        for k in by_keys.into_iter().chain(by_ids) {
            if found.by_id.contains_key(&k.id) {
                continue;
            }
            if let (Some(t), Some(b)) = (&k.tax_id, &k.branch_code) {
                found
                    .by_tax
                    .entry((t.clone(), b.clone()))
                    .or_default()
                    .push(k.clone());
            }
            if let Some(e) = &k.email {
                found
                    .by_email
                    .entry(e.to_ascii_lowercase())
                    .or_default()
                    .push(k.clone());
            }
            found.by_id.insert(k.id, k);
        }
        Ok(found)
    }

    /// The active customer `c` names, or its errors pushed.
    pub(super) fn resolve(
        &self,
        c: &Candidate,
        errors: &mut Vec<RowError>,
    ) -> Option<&KnownCustomer> {
        let mut named: Vec<(&'static str, &KnownCustomer)> = Vec::new();
        let mut missing = false;
        if let Some((tax_id, branch)) = &c.customer.tax {
            let key = (tax_id.clone(), branch.clone());
            match one_of(self.by_tax.get(&key)) {
                Found::One(k) => named.push(("customer_tax_id", k)),
                Found::None => {
                    missing = true;
                    errors.push(RowError::new(
                        c.line,
                        "customer_tax_id",
                        Message::new(
                            format!("no customer has this tax id with branch {branch}"),
                            format!("ไม่มีลูกค้าที่มีเลขประจำตัวผู้เสียภาษีนี้ สาขา {branch}"),
                        ),
                    ));
                }
                Found::Several(n) => {
                    missing = true;
                    errors.push(several(c.line, "customer_tax_id", n));
                }
            }
        }
        if let Some(email) = &c.customer.email {
            match one_of(self.by_email.get(email)) {
                Found::One(k) => named.push(("customer_email", k)),
                Found::None => {
                    missing = true;
                    errors.push(RowError::new(
                        c.line,
                        "customer_email",
                        Message::new("no customer has this e-mail", "ไม่มีลูกค้าที่ใช้อีเมลนี้"),
                    ));
                }
                Found::Several(n) => {
                    missing = true;
                    errors.push(several(c.line, "customer_email", n));
                }
            }
        }
        if let Some(id) = c.customer.id {
            match self.by_id.get(&id) {
                Some(k) => named.push(("customer_id", k)),
                None => {
                    missing = true;
                    errors.push(RowError::new(
                        c.line,
                        "customer_id",
                        Message::new("no customer has this id", "ไม่มีลูกค้ารหัสนี้"),
                    ));
                }
            }
        }
        let (first_column, first) = *named.first()?;
        if missing {
            return None;
        }
        if let Some((column, other)) = named.iter().find(|(_, k)| k.id != first.id) {
            errors.push(RowError::new(
                c.line,
                column,
                Message::new(
                    format!(
                        "names {}, but {first_column} names {}",
                        described(other, false),
                        described(first, false)
                    ),
                    format!(
                        "ระบุ{} แต่ {first_column} ระบุ{}",
                        described(other, true),
                        described(first, true)
                    ),
                ),
            ));
            return None;
        }
        let (en, th) = match first.status {
            CustomerStatus::Active => return Some(first),
            CustomerStatus::Suspended => (
                "is suspended; reactivate it before subscribing it",
                "ถูกระงับอยู่ โปรดเปิดใช้งานก่อนสมัครสมาชิก",
            ),
            CustomerStatus::Deleted => (
                "is deleted; restore it before subscribing it",
                "ถูกลบแล้ว โปรดกู้คืนก่อนสมัครสมาชิก",
            ),
        };
        errors.push(RowError::new(
            c.line,
            first_column,
            Message::new(
                format!("{} {en}", described(first, false)),
                format!("{} {th}", described(first, true)),
            ),
        ));
        None
    }
}

enum Found<'a> {
    None,
    One(&'a KnownCustomer),
    Several(usize),
}

/// The one customer among `matches`, not counting deleted ones when a live one is there.
fn one_of(matches: Option<&Vec<KnownCustomer>>) -> Found<'_> {
    let matches = matches.map_or(&[][..], Vec::as_slice);
    let live: Vec<&KnownCustomer> = matches
        .iter()
        .filter(|k| k.status != CustomerStatus::Deleted)
        .collect();
    match (live.as_slice(), matches) {
        ([one], _) => Found::One(one),
        ([], []) => Found::None,
        ([], [one]) => Found::One(one),
        ([], all) => Found::Several(all.len()),
        (live, _) => Found::Several(live.len()),
    }
}

fn several(line: u64, column: &str, n: usize) -> RowError {
    RowError::new(
        line,
        column,
        Message::new(
            format!("{n} customers match; name the customer by customer_id"),
            format!("มีลูกค้าตรงกัน {n} ราย โปรดระบุลูกค้าด้วย customer_id"),
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(status: CustomerStatus) -> KnownCustomer {
        KnownCustomer {
            id: Uuid::now_v7(),
            name: "สวนทุเรียนป้าแดง".into(),
            tax_id: None,
            branch_code: None,
            email: Some("A@x.th".into()),
            status,
            currency: satang_domain::Currency::Thb,
        }
    }

    #[test]
    fn a_live_customer_wins_over_deleted_ones_with_the_same_key() {
        let (live, gone) = (
            known(CustomerStatus::Active),
            known(CustomerStatus::Deleted),
        );
        assert!(
            matches!(one_of(Some(&vec![gone.clone(), live.clone()])), Found::One(k) if k.id == live.id)
        );
        assert!(matches!(one_of(Some(&vec![gone.clone()])), Found::One(k) if k.id == gone.id));
        assert!(matches!(
            one_of(Some(&vec![live.clone(), live.clone()])),
            Found::Several(2)
        ));
        assert!(matches!(one_of(None), Found::None));
    }
}
