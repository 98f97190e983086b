//! Administrative operations shared by start-up and the command line: the first administrator,
//! `satang user add` and `satang import`.

use anyhow::Context;
use chrono::TimeDelta;

use satang_api::AppState;
use satang_api::error::{ApiError, Validator};
use satang_auth::StaffRole;
use satang_billing::imports::{self, ImportOptions, ImportReport};
use satang_billing::users::{self as billing_users, CreatedBy, NewStaffUser};
use satang_store::audit::Actor;
use satang_store::users;

use crate::Config;

/// What `add_user` created: the user, and an invitation link when no password was given.
pub struct AddedUser {
    pub user: users::User,
    pub invitation_url: Option<String>,
}

/// Creates a staff user from the shell or at start-up (audited with no acting user).
pub async fn add_user(
    state: &AppState,
    email: &str,
    name: &str,
    password: Option<&str>,
    roles: &[StaffRole],
    created_by: CreatedBy,
) -> anyhow::Result<AddedUser> {
    let (email, name) = checked(email, name)?;
    let (email, name) = (email.as_str(), name.as_str());
    let password_hash = match password {
        Some(pw) => {
            state
                .check_password_strength(pw, &[email, name])
                .await
                .map_err(|m| anyhow::anyhow!("the password {m}"))?;
            Some(state.hasher.hash(pw))
        }
        None => None,
    };
    let mut tx = state.db.begin().await?;
    let created = billing_users::create_user(
        &mut tx,
        &Actor::default(),
        NewStaffUser {
            email: email.to_owned(),
            name: name.to_owned(),
            password_hash,
            roles: roles.to_vec(),
        },
        created_by,
        TimeDelta::days(7),
        state.clock.now(),
    )
    .await
    .with_context(|| format!("cannot create {email}"))?;
    tx.commit().await?;
    let invitation_url = created.invitation.map(|i| {
        format!(
            "{}/invitations/{}",
            state.config.public_url.trim_end_matches('/'),
            i.token
        )
    });
    Ok(AddedUser {
        user: created.user,
        invitation_url,
    })
}

/// The email and name, trimmed, by the same rules as `POST /api/users`.
fn checked(email: &str, name: &str) -> anyhow::Result<(String, String)> {
    let mut v = Validator::new();
    let email = v.email("email", email);
    let name = v.text("name", name, 200);
    if let Err(ApiError::Validation { errors, .. }) = v.finish() {
        let described: Vec<String> = errors
            .iter()
            .map(|(field, messages)| format!("{field} {}", messages.join(", ")))
            .collect();
        anyhow::bail!("invalid user: {}", described.join("; "));
    }
    Ok((email, name))
}

/// `SATANG_ADMIN_EMAIL` + `SATANG_ADMIN_PASSWORD`: create that administrator once.
pub async fn bootstrap_admin(state: &AppState, config: &Config) -> anyhow::Result<()> {
    let (Some(email), Some(password)) = (&config.admin_email, &config.admin_password) else {
        return Ok(());
    };
    if users::find_by_email(&state.db, email).await?.is_some() {
        return Ok(());
    }
    let name = email.split('@').next().unwrap_or("Administrator");
    add_user(
        state,
        email,
        name,
        Some(password),
        &[StaffRole::Admin],
        CreatedBy::Bootstrap,
    )
    .await?;
    tracing::info!("created the first administrator from SATANG_ADMIN_EMAIL");
    Ok(())
}

/// Which records `satang import` brings in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportKind {
    Customers,
    Subscriptions,
}

/// `satang import customers|subscriptions FILE`: the import of `POST /api/imports/…`, with the
/// same row checks, audited with no acting user (request id `satang-import`).
pub async fn import(
    config: &Config,
    kind: ImportKind,
    file: &std::path::Path,
    options: ImportOptions,
) -> anyhow::Result<ImportReport> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let csv = String::from_utf8(bytes).map_err(|_| {
        anyhow::anyhow!(
            "{} is not UTF-8 text; save it as \"CSV UTF-8\" (Thai text needs it)",
            file.display()
        )
    })?;
    let db = crate::open_db(config).await?;
    let clock = crate::scheduler::clock_for(config, &db).await?;
    let actor = Actor {
        request_id: Some("satang-import".into()),
        ..Actor::default()
    };
    let now = clock.now();
    let report = match kind {
        ImportKind::Customers => {
            imports::import_customers(
                &db,
                &actor,
                &csv,
                options,
                &satang_api::routes::imports::validate_customer_row,
                now,
            )
            .await
        }
        ImportKind::Subscriptions => {
            imports::import_subscriptions(&db, &actor, &csv, options, now).await
        }
    }
    .map_err(|e| anyhow::anyhow!("the import failed: {e}"))?;
    db.close().await;
    Ok(report)
}
