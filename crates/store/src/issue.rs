//! Invoices issued many at a time (a billing-run chunk), with their gapless numbers, their outbox
//! events and their audit entries, inside the caller's transaction.
//!
//! The numbers come from one counter row per (kind, prefix, year), which stays locked from the
//! moment a block is taken until the transaction commits: whatever an issuer does after taking
//! its block, every other issuer waits for. On PostgreSQL, [`issue_many`] is therefore **one
//! statement**, built with all its arguments before it is sent. Its first clause takes the
//! block; the database writes the numbers into the invoices, into their events' payloads and
//! into their audit entries. The counter is held for that statement and the commit only — never
//! while this process formats numbers, encodes JSON or waits for a round trip. On SQLite (one
//! writer, nobody to wait) the block is taken first and the rows are written by the usual
//! multi-row statements.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::audit::{self, Actor, Change};
use crate::invoices::{
    self, Column, INVOICE_COLUMNS, LINE_COLUMNS, NewInvoice, column_list, format_number,
};
use crate::outbox::{self, NewEvent};
use crate::{Backend, Error, Result, Sql, Tx};

/// Which gapless sequence the numbers come from.
#[derive(Debug, Clone, Copy)]
pub struct Numbering<'a> {
    pub kind: &'a str,
    pub prefix: &'a str,
    pub year: i32,
}

/// Inserts `invoices` (with their lines), numbered in this order with the next block of
/// `numbering`, together with `events[k]` for `invoices[k]` and its audit entry: the event's
/// payload gets the invoice's `number`, and the audit entry records the event — its type as the
/// action, its entity, its numbered payload as `after` and no `before` (the invoice is written
/// issued: no row existed before). Returns how many invoices were inserted.
/// An invoice whose period another transaction invoiced meanwhile is not inserted
/// (`ON CONFLICT DO NOTHING`), and then either the count falls short or its lines fail their
/// foreign key: either way the caller rolls back, which also returns the block.
pub async fn issue_many(
    tx: &mut Tx,
    numbering: Numbering<'_>,
    mut invoices: Vec<NewInvoice>,
    events: Vec<NewEvent<'_>>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Result<u64> {
    if invoices.len() != events.len() {
        return Err(Error::Other(format!(
            "{} invoices with {} events",
            invoices.len(),
            events.len()
        )));
    }
    if invoices.is_empty() {
        return Ok(0);
    }
    if tx.backend() == Backend::Postgres {
        let row: Count = tx
            .fetch_one(statement(numbering, &invoices, events, actor, now))
            .await?;
        return Ok(row.issued as u64);
    }
    let count = invoices.len() as i64;
    let last =
        invoices::next_numbers(tx, numbering.kind, numbering.prefix, numbering.year, count).await?;
    let mut events = events;
    for (k, (invoice, event)) in invoices.iter_mut().zip(&mut events).enumerate() {
        let number = format_number(
            numbering.prefix,
            numbering.year,
            last - count + 1 + k as i64,
        );
        event.payload["number"] = serde_json::json!(number);
        invoice.fields.number = Some(number);
    }
    let changes: Vec<Change<'_>> = events
        .iter()
        .map(|event| Change {
            action: event.event_type,
            entity_type: event.entity_type,
            entity_id: event.entity_id.clone(),
            before: None,
            after: Some(event.payload.clone()),
        })
        .collect();
    let inserted = invoices::insert_many(tx, &invoices, now).await?;
    outbox::emit_many(tx, events, now).await?;
    audit::record_many(tx, actor, changes, now).await?;
    Ok(inserted)
}

#[derive(sqlx::FromRow)]
struct Count {
    issued: i64,
}

/// The PostgreSQL statement of [`issue_many`]. Every clause is a data-modifying `WITH` clause;
/// the foreign keys (lines → invoices, mails → events) are checked at the end of the statement,
/// when all rows exist. `WITH ORDINALITY` pairs the k-th invoice and event with the k-th number.
/// Each JSON value crosses the wire and is parsed once: the numbered events (`numbered`) feed
/// both the outbox and the audit log, and a seller snapshot that every invoice shares (a run's
/// chunk: one seller profile) is bound once instead of once per invoice.
fn statement(
    numbering: Numbering<'_>,
    invoices: &[NewInvoice],
    events: Vec<NewEvent<'_>>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> Sql {
    for event in &events {
        // Each event is also an audit entry (see `audit` below).
        audit::debug_check_listed(event.event_type, event.entity_type);
    }
    let event_ids: Vec<Uuid> = events.iter().map(|_| Uuid::now_v7()).collect();
    let mails = outbox::mails_of(&events, &event_ids);
    let shared_seller = invoices
        .first()
        .map(|first| &first.fields.seller_snapshot)
        .filter(|seller| {
            invoices
                .iter()
                .all(|i| &i.fields.seller_snapshot == *seller)
        })
        .cloned();
    let (seller_column, shared_seller) = match shared_seller {
        Some(seller) => (Column::Shared, seller),
        None => (Column::PerRow, None),
    };
    // $1 now, $2 kind, $3 prefix, $4 year, $5 count, $6 the shared seller snapshot (or NULL);
    // then the arrays.
    let sql = Sql::new("")
        .bind(now)
        .bind(numbering.kind)
        .bind(numbering.prefix)
        .bind(i64::from(numbering.year))
        .bind(invoices.len() as i64)
        .bind(shared_seller);
    let (invoice_rows, sql) = invoices::unnest_invoices(sql, invoices, seller_column);
    let (line_rows, sql) = invoices::unnest_lines(sql, invoices);
    let e = sql.next_param();
    let sql = sql
        .bind(event_ids)
        .bind_column(&events, |e| e.event_type)
        .bind_column(&events, |e| e.entity_type)
        .bind_column(&events, |e| e.entity_id.clone())
        .bind_column(&events, |e| e.customer_id)
        .bind_column(&events, |_| Uuid::now_v7())
        .bind(events.into_iter().map(|e| e.payload).collect::<Vec<_>>());
    let m = sql.next_param();
    let sql = sql
        .bind_column(&mails, |_| Uuid::now_v7())
        .bind_column(&mails, |m| m.0)
        .bind_column(&mails, |m| m.1.as_str())
        .bind_column(&mails, |m| m.2);
    let a = sql.next_param();
    let sql = sql
        .bind(actor.user_id)
        .bind(actor.request_id.clone())
        .bind(actor.ip.clone());
    // Every invoice column but `number`, which comes from the block (and the seller snapshot
    // from $6 when it is shared).
    let unnumbered = column_list(&INVOICE_COLUMNS, "", "number");
    let selected = column_list(&INVOICE_COLUMNS, "u.", "number");
    let selected = match seller_column {
        Column::Shared => selected.replace("u.seller_snapshot", "$6::jsonb"),
        Column::PerRow => selected,
    };
    let (invoice_columns, line_columns) = (
        column_list(&INVOICE_COLUMNS, "", ""),
        column_list(&LINE_COLUMNS, "", ""),
    );
    sql.push(&format!(
        "WITH block AS (INSERT INTO document_sequences (kind, prefix, year, last_value) \
         VALUES ($2, $3, $4, $5) ON CONFLICT (kind, prefix, year) \
         DO UPDATE SET last_value = document_sequences.last_value + $5 RETURNING last_value), \
         numbers AS (SELECT g AS ord, $3 || '-' || $4::text || '-' || \
         lpad(n::text, greatest(6, length(n::text)), '0') AS number \
         FROM block CROSS JOIN generate_series(1, $5::int8) g \
         CROSS JOIN LATERAL (SELECT block.last_value - $5 + g AS n) x), \
         issued AS (INSERT INTO invoices ({unnumbered}, number, created_at, updated_at) \
         SELECT {selected}, numbers.number, $1, $1 \
         FROM {invoice_rows} WITH ORDINALITY AS u({invoice_columns}, ord) \
         JOIN numbers ON numbers.ord = u.ord ON CONFLICT DO NOTHING RETURNING id), \
         lines AS (INSERT INTO invoice_lines ({line_columns}) SELECT * FROM {line_rows}), \
         numbered AS (SELECT v.id, v.event_type, v.entity_type, v.entity_id, v.customer_id, \
         v.audit_id, v.payload || jsonb_build_object('number', numbers.number) AS payload \
         FROM UNNEST(${e}::uuid[], ${}::text[], ${}::text[], ${}::text[], ${}::uuid[], \
         ${}::uuid[], ${}::jsonb[]) WITH ORDINALITY \
         AS v(id, event_type, entity_type, entity_id, customer_id, audit_id, payload, ord) \
         JOIN numbers ON numbers.ord = v.ord), \
         events AS (INSERT INTO outbox_events (id, event_type, entity_type, entity_id, \
         customer_id, payload, created_at) \
         SELECT id, event_type, entity_type, entity_id, customer_id, payload, $1 \
         FROM numbered RETURNING id, event_type), \
         deliveries AS (INSERT INTO webhook_deliveries (id, endpoint_id, event_id, status, \
         attempts, next_attempt_at, created_at) \
         SELECT encode(overlay(uuid_send(events.id) PLACING \
         substring(uuid_send(gen_random_uuid()) FROM 9) FROM 9), 'hex')::uuid, \
         w.id, events.id, 'pending', 0, $1, $1 FROM events JOIN webhook_endpoints w \
         ON w.active AND (w.events @> '[\"*\"]'::jsonb \
         OR w.events @> jsonb_build_array(events.event_type))), \
         mails AS (INSERT INTO email_deliveries (id, event_id, kind, customer_id, status, \
         attempts, next_attempt_at, created_at) \
         SELECT *, 'pending', 0, $1, $1 \
         FROM UNNEST(${m}::uuid[], ${}::uuid[], ${}::text[], ${}::uuid[])), \
         audit AS (INSERT INTO audit_events (id, occurred_at, actor_id, request_id, ip, action, \
         entity_type, entity_id, before, after) \
         SELECT audit_id, $1, ${a}, ${}, ${}, event_type, entity_type, entity_id, NULL, payload \
         FROM numbered) \
         SELECT count(*) AS issued FROM issued",
        e + 1,
        e + 2,
        e + 3,
        e + 4,
        e + 5,
        e + 6,
        m + 1,
        m + 2,
        m + 3,
        a + 1,
        a + 2,
    ))
}
