//! Customer operations (SPEC §2.3): creation ([`create_customer`]), the partial update of a
//! customer's profile with its version check and its suspend/reactivate ([`update_customer`]),
//! soft delete and restore ([`change_status`]), and the GDPR pair: everything held about a
//! customer ([`export_customer`]) and erasure ([`erase_customer`]).
//!
//! Like the subscription operations, each runs in the caller's transaction: the API has parsed
//! the request into typed values (lengths, email format and tax id check digit are the API's
//! 422s) and authorised the caller; the operation locks the customer, decides what may happen
//! to it in its current state, writes the change, its outbox event and its audit entry; the
//! caller commits. A refused step is [`Error::InvalidState`] (409).

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use satang_domain::{BranchCode, Currency, CustomerStatus, TaxId};
use satang_store::audit::{self, Actor, AuditEvent, Change};
use satang_store::contacts::{self, Contact};
use satang_store::customers::{self, Customer, CustomerFields, PostalAddress};
use satang_store::memberships::{self, Member};
use satang_store::outbox::{self, NewEvent};
use satang_store::{Db, Scope, Tx};

use crate::{Error, Result};

/// A partial update, already parsed: `None` leaves a field as it is, `Some(None)` clears an
/// optional one. Text is trimmed and non-empty, tax id and branch code valid.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CustomerChanges {
    pub name: Option<String>,
    pub legal_name: Option<Option<String>>,
    pub tax_id: Option<Option<TaxId>>,
    pub branch_code: Option<Option<BranchCode>>,
    pub email: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub billing_email: Option<Option<String>>,
    pub address: Option<Option<PostalAddress>>,
    pub currency: Option<Currency>,
    pub locale: Option<String>,
    pub payment_terms_days: Option<i64>,
    pub metadata: Option<Map<String, Value>>,
    /// `Active` (reactivate) or `Suspended`; a customer is deleted with [`change_status`].
    pub status: Option<CustomerStatus>,
}

impl CustomerChanges {
    /// True when the update touches the profile, not only the status.
    pub fn edits_profile(&self) -> bool {
        let CustomerChanges {
            name,
            legal_name,
            tax_id,
            branch_code,
            email,
            phone,
            billing_email,
            address,
            currency,
            locale,
            payment_terms_days,
            metadata,
            status: _,
        } = self;
        name.is_some()
            || legal_name.is_some()
            || tax_id.is_some()
            || branch_code.is_some()
            || email.is_some()
            || phone.is_some()
            || billing_email.is_some()
            || address.is_some()
            || currency.is_some()
            || locale.is_some()
            || payment_terms_days.is_some()
            || metadata.is_some()
    }
}

/// A status change of its own: soft delete, or undoing one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerStatusChange {
    Delete,
    Restore,
}

/// Stores a new, active customer from validated `fields` with its `customer.created` event and
/// audit entry. Not in a caller's transaction: on PostgreSQL the row, the event and the audit
/// entry are one statement (`satang_store::audited`), so the customer is built here rather than
/// read back.
pub async fn create_customer(
    db: &Db,
    actor: &Actor,
    fields: &CustomerFields,
    now: DateTime<Utc>,
) -> Result<Customer> {
    let customer = customers::new(Uuid::now_v7(), fields, now);
    let (event, change) = creation_records(&customer);
    customers::create(db, &customer, event, actor, change).await?;
    Ok(customer)
}

/// The `customer.created` event and audit entry of a new customer: one create, or each
/// customer of an import (`crate::imports`), recorded alike.
pub(crate) fn creation_records(customer: &Customer) -> (NewEvent<'static>, Change<'static>) {
    let after = customer_json(customer);
    (
        NewEvent {
            event_type: "customer.created",
            entity_type: "customer",
            entity_id: customer.id.to_string(),
            customer_id: Some(customer.id),
            payload: after.clone(),
        },
        Change {
            action: "customer.created",
            entity_type: "customer",
            entity_id: customer.id.to_string(),
            before: None,
            after: Some(after),
        },
    )
}

/// Applies `changes` to customer `id` if it is still at `expected_version` (when given) and not
/// deleted; records `customer.updated`, `customer.suspended` or `customer.reactivated`.
pub async fn update_customer(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    changes: CustomerChanges,
    expected_version: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Customer> {
    let current = customers::get_in(tx, id).await?.ok_or(Error::NotFound)?;
    if expected_version.is_some_and(|v| v != current.version) {
        return Err(Error::InvalidState(format!(
            "the customer changed since you read it (now version {})",
            current.version
        )));
    }
    let current_status = current.status;
    if current_status == CustomerStatus::Deleted {
        return Err(Error::InvalidState(
            "the customer is deleted; restore it first".into(),
        ));
    }
    let status_action = match changes.status {
        Some(wanted) => status_update(current_status, wanted)?,
        None => None,
    };
    let edits_profile = changes.edits_profile();
    let mut updated = current.clone();
    if edits_profile {
        let fields = merge(&current, changes);
        updated = customers::update(tx, id, &fields, now).await?;
    }
    let mut action = "customer.updated";
    if let Some((status, status_action)) = status_action {
        updated = customers::set_status(tx, id, status, now).await?;
        action = status_action;
    }
    let after = customer_json(&updated);
    let event = if action == "customer.suspended" {
        "customer.suspended"
    } else {
        "customer.updated"
    };
    outbox::emit(
        tx,
        NewEvent {
            event_type: event,
            entity_type: "customer",
            entity_id: id.to_string(),
            customer_id: Some(id),
            payload: after.clone(),
        },
        now,
    )
    .await?;
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type: "customer",
            entity_id: id.to_string(),
            before: Some(customer_json(&current)),
            after: Some(after),
        },
        now,
    )
    .await?;
    Ok(updated)
}

/// Soft-deletes or restores customer `id` and audits it (`customer.deleted`,
/// `customer.restored`); no outbox event.
pub async fn change_status(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    change: CustomerStatusChange,
    now: DateTime<Utc>,
) -> Result<Customer> {
    let current = customers::get_in(tx, id).await?.ok_or(Error::NotFound)?;
    let (target, action) = status_move(current.status, change)?;
    let updated = customers::set_status(tx, id, target, now).await?;
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type: "customer",
            entity_id: id.to_string(),
            before: Some(customer_json(&current)),
            after: Some(customer_json(&updated)),
        },
        now,
    )
    .await?;
    Ok(updated)
}

/// Everything Satang holds about one customer, for a GDPR export.
#[derive(Debug, Clone)]
pub struct CustomerRecords {
    pub customer: Customer,
    pub contacts: Vec<Contact>,
    pub members: Vec<Member>,
    pub audit_events: Vec<AuditEvent>,
}

/// The customer `id` with its contacts, members and audit trail (deleted customers included).
pub async fn export_customer(db: &Db, id: Uuid) -> Result<CustomerRecords> {
    let customer = customers::get(db, Scope::All, id)
        .await?
        .ok_or(Error::NotFound)?;
    let contacts = contacts::list(db, id, None, i64::MAX).await?;
    let members = memberships::list_members(db, id, None, i64::MAX).await?;
    let audit_events =
        audit::list(db, Some("customer"), Some(&id.to_string()), None, 10_000).await?;
    Ok(CustomerRecords {
        customer,
        contacts,
        members,
        audit_events,
    })
}

/// GDPR erasure of customer `id`: its contacts are anonymised, its memberships end, its personal
/// contact details and metadata are removed, the audit history of it and its contacts is
/// redacted, and it is deleted (`customer.erased`). Name, legal name, tax id, branch and address
/// stay: Thai tax law requires them on issued tax invoices for five years.
pub async fn erase_customer(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    now: DateTime<Utc>,
) -> Result<Customer> {
    let current = customers::get_in(tx, id).await?.ok_or(Error::NotFound)?;
    let fields = CustomerFields {
        email: None,
        phone: None,
        billing_email: None,
        metadata: json!({}),
        ..stored_fields(&current)
    };
    customers::update(tx, id, &fields, now).await?;
    for contact in contacts::list_in(tx, id).await? {
        audit::redact(tx, "contact", &contact.id.to_string()).await?;
    }
    audit::redact(tx, "customer", &id.to_string()).await?;
    contacts::anonymise_all(tx, id, now).await?;
    memberships::remove_all(tx, id).await?;
    satang_store::emails::erase_recipients(tx, id).await?;
    let erased = customers::set_status(tx, id, CustomerStatus::Deleted, now).await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "customer.erased",
            entity_type: "customer",
            entity_id: id.to_string(),
            // The audit log must not keep what was erased: record only what remains.
            before: Some(json!({ "status": current.status })),
            after: Some(customer_json(&erased)),
        },
        now,
    )
    .await?;
    Ok(erased)
}

/// The writable fields of a stored customer, as they are.
fn stored_fields(c: &Customer) -> CustomerFields {
    CustomerFields {
        name: c.name.clone(),
        legal_name: c.legal_name.clone(),
        tax_id: c.tax_id.clone(),
        branch_code: c.branch_code.clone(),
        email: c.email.clone(),
        phone: c.phone.clone(),
        billing_email: c.billing_email.clone(),
        address: c.address.as_ref().map(|a| a.0.clone()),
        currency: c.currency,
        locale: c.locale.clone(),
        payment_terms_days: c.payment_terms_days,
        metadata: c.metadata.0.clone(),
    }
}

/// Where a PATCH's `status` takes a customer that is not deleted, and the audit action; `None`
/// when it is already there.
fn status_update(
    current: CustomerStatus,
    wanted: CustomerStatus,
) -> Result<Option<(CustomerStatus, &'static str)>> {
    match (current, wanted) {
        (_, CustomerStatus::Deleted) => Err(Error::Invalid {
            field: "status",
            message: "must be active or suspended (delete with DELETE)".into(),
        }),
        (CustomerStatus::Deleted, _) => Err(Error::InvalidState(
            "the customer is deleted; restore it first".into(),
        )),
        (current, wanted) if current == wanted => Ok(None),
        (_, CustomerStatus::Suspended) => Ok(Some((wanted, "customer.suspended"))),
        (_, CustomerStatus::Active) => Ok(Some((wanted, "customer.reactivated"))),
    }
}

/// The status a delete or restore moves a customer in `current` to, and the audit action.
fn status_move(
    current: CustomerStatus,
    change: CustomerStatusChange,
) -> Result<(CustomerStatus, &'static str)> {
    let deleted = current == CustomerStatus::Deleted;
    match change {
        CustomerStatusChange::Delete if deleted => Err(Error::InvalidState(
            "the customer is already deleted".into(),
        )),
        CustomerStatusChange::Delete => Ok((CustomerStatus::Deleted, "customer.deleted")),
        CustomerStatusChange::Restore if !deleted => {
            Err(Error::InvalidState("the customer is not deleted".into()))
        }
        CustomerStatusChange::Restore => Ok((CustomerStatus::Active, "customer.restored")),
    }
}

/// The stored fields with `changes` applied. Clearing the tax id clears the branch that belongs
/// to it, unless a branch is given; a tax id without a branch is the head office.
fn merge(current: &Customer, changes: CustomerChanges) -> CustomerFields {
    let clears_tax_id = changes.tax_id == Some(None) && changes.branch_code.is_none();
    let tax_id = match changes.tax_id {
        Some(t) => t.map(|t| t.as_str().to_owned()),
        None => current.tax_id.clone(),
    };
    let branch_code = match changes.branch_code {
        _ if clears_tax_id => None,
        Some(b) => b.map(|b| b.as_str().to_owned()),
        None => current.branch_code.clone(),
    };
    let branch_code = branch_code.or_else(|| {
        tax_id
            .as_ref()
            .map(|_| BranchCode::head_office().as_str().to_owned())
    });
    CustomerFields {
        name: changes.name.unwrap_or_else(|| current.name.clone()),
        legal_name: changes
            .legal_name
            .unwrap_or_else(|| current.legal_name.clone()),
        tax_id,
        branch_code,
        email: changes.email.unwrap_or_else(|| current.email.clone()),
        phone: changes.phone.unwrap_or_else(|| current.phone.clone()),
        billing_email: changes
            .billing_email
            .unwrap_or_else(|| current.billing_email.clone()),
        address: changes
            .address
            .unwrap_or_else(|| current.address.as_ref().map(|a| a.0.clone())),
        currency: changes.currency.unwrap_or(current.currency),
        locale: changes.locale.unwrap_or_else(|| current.locale.clone()),
        payment_terms_days: changes
            .payment_terms_days
            .unwrap_or(current.payment_terms_days),
        metadata: changes
            .metadata
            .map_or_else(|| current.metadata.0.clone(), Value::Object),
    }
}

/// The customer as the API's `CustomerView` serialises it: the payload of its outbox events and
/// the before/after of its audit entries (a test in `api` holds the two equal).
pub fn customer_json(c: &Customer) -> Value {
    let time = |t: &DateTime<Utc>| t.to_rfc3339_opts(SecondsFormat::AutoSi, true);
    json!({
        "id": c.id,
        "name": c.name,
        "legal_name": c.legal_name,
        "tax_id": c.tax_id,
        "branch_code": c.branch_code,
        "email": c.email,
        "phone": c.phone,
        "billing_email": c.billing_email,
        "address": c.address.as_ref().map(|a| &a.0),
        "currency": c.currency,
        "locale": c.locale,
        "payment_terms_days": c.payment_terms_days,
        "metadata": c.metadata.0,
        "status": c.status,
        "balance": c.balance,
        "created_at": time(&c.created_at),
        "updated_at": time(&c.updated_at),
        "deleted_at": c.deleted_at.as_ref().map(time),
        "version": c.version,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use CustomerStatus::{Active, Deleted, Suspended};
    use CustomerStatusChange::{Delete, Restore};

    fn customer(tax_id: Option<&str>, branch_code: Option<&str>) -> Customer {
        let fields = CustomerFields {
            name: "บริษัท ตัวอย่าง จำกัด".into(),
            legal_name: None,
            tax_id: tax_id.map(Into::into),
            branch_code: branch_code.map(Into::into),
            email: Some("a@example.com".into()),
            phone: None,
            billing_email: None,
            address: None,
            currency: Currency::Thb,
            locale: "th".into(),
            payment_terms_days: 30,
            metadata: json!({}),
        };
        customers::new(Uuid::nil(), &fields, DateTime::UNIX_EPOCH)
    }

    const TAX_ID: &str = "0105536000313";

    #[test]
    fn patch_status_moves_between_active_and_suspended_only() {
        assert_eq!(
            status_update(Active, Suspended).unwrap(),
            Some((Suspended, "customer.suspended"))
        );
        assert_eq!(
            status_update(Suspended, Active).unwrap(),
            Some((Active, "customer.reactivated"))
        );
        assert_eq!(status_update(Active, Active).unwrap(), None);
        assert_eq!(status_update(Suspended, Suspended).unwrap(), None);
        for current in CustomerStatus::ALL {
            assert!(matches!(
                status_update(current, Deleted),
                Err(Error::Invalid {
                    field: "status",
                    ..
                })
            ));
        }
        assert!(matches!(
            status_update(Deleted, Active),
            Err(Error::InvalidState(_))
        ));
    }

    #[test]
    fn delete_and_restore_each_need_the_other_state() {
        assert_eq!(
            status_move(Active, Delete).unwrap(),
            (Deleted, "customer.deleted")
        );
        assert_eq!(
            status_move(Suspended, Delete).unwrap(),
            (Deleted, "customer.deleted")
        );
        assert_eq!(
            status_move(Deleted, Restore).unwrap(),
            (Active, "customer.restored")
        );
        assert!(
            matches!(status_move(Deleted, Delete), Err(Error::InvalidState(m)) if m == "the customer is already deleted")
        );
        for current in [Active, Suspended] {
            assert!(
                matches!(status_move(current, Restore), Err(Error::InvalidState(m)) if m == "the customer is not deleted")
            );
        }
    }

    #[test]
    fn merge_keeps_what_the_changes_leave() {
        let current = customer(Some(TAX_ID), Some("00001"));
        let fields = merge(
            &current,
            CustomerChanges {
                name: Some("ใหม่".into()),
                phone: Some(None),
                ..CustomerChanges::default()
            },
        );
        assert_eq!(fields.name, "ใหม่");
        assert_eq!(fields.tax_id.as_deref(), Some(TAX_ID));
        assert_eq!(fields.branch_code.as_deref(), Some("00001"));
        assert_eq!(fields.email.as_deref(), Some("a@example.com"));
        assert_eq!(fields.currency, Currency::Thb);
    }

    #[test]
    fn clearing_the_tax_id_clears_its_branch_unless_one_is_given() {
        let current = customer(Some(TAX_ID), Some("00001"));
        let cleared = merge(
            &current,
            CustomerChanges {
                tax_id: Some(None),
                ..CustomerChanges::default()
            },
        );
        assert_eq!((cleared.tax_id, cleared.branch_code), (None, None));
        let kept = merge(
            &current,
            CustomerChanges {
                tax_id: Some(None),
                branch_code: Some(Some(BranchCode::parse("00002").unwrap())),
                ..CustomerChanges::default()
            },
        );
        assert_eq!(kept.tax_id, None);
        assert_eq!(kept.branch_code.as_deref(), Some("00002"));
    }

    #[test]
    fn a_tax_id_without_a_branch_is_the_head_office() {
        let fields = merge(
            &customer(None, None),
            CustomerChanges {
                tax_id: Some(Some(TaxId::parse(TAX_ID).unwrap())),
                ..CustomerChanges::default()
            },
        );
        assert_eq!(fields.branch_code.as_deref(), Some("00000"));
        let fields = merge(
            &customer(Some(TAX_ID), Some("00001")),
            CustomerChanges {
                branch_code: Some(None),
                ..CustomerChanges::default()
            },
        );
        assert_eq!(fields.branch_code.as_deref(), Some("00000"));
    }

    #[test]
    fn edits_profile_ignores_status() {
        let status_only = CustomerChanges {
            status: Some(Suspended),
            ..CustomerChanges::default()
        };
        assert!(!status_only.edits_profile());
        let profile = CustomerChanges {
            metadata: Some(Map::new()),
            ..status_only
        };
        assert!(profile.edits_profile());
    }
}
