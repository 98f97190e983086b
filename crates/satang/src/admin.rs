//! Administrative operations shared by start-up and the command line: the first administrator
//! and `satang user add`.

use anyhow::Context;
use chrono::TimeDelta;

use satang_api::AppState;
use satang_api::error::{ApiError, Validator};
use satang_auth::tokens::new_opaque_token;
use satang_auth::{StaffRole, password};
use satang_store::audit::{self, Actor, Change};
use satang_store::{invitations, users};

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
    action: &str,
) -> anyhow::Result<AddedUser> {
    // The same rules as POST /api/users.
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
    let (email, name) = (email.as_str(), name.as_str());
    let password_hash = match password {
        Some(pw) => {
            password::check_strength(pw, &[email, name])
                .map_err(|m| anyhow::anyhow!("the password {m}"))?;
            Some(state.hasher.hash(pw))
        }
        None => None,
    };
    let now = state.clock.now();
    let mut tx = state.db.begin().await?;
    let user = users::insert(
        &mut tx,
        users::NewUser {
            email,
            name,
            password_hash: password_hash.clone(),
            roles: roles.iter().map(|r| r.as_str().to_owned()).collect(),
        },
        now,
    )
    .await
    .with_context(|| format!("cannot create {email}"))?;
    let invitation_url = if password_hash.is_none() {
        let (token, token_hash) = new_opaque_token();
        invitations::insert(
            &mut tx,
            invitations::NewInvitation {
                email,
                user_id: Some(user.id),
                customer_id: None,
                member_role: None,
                token_hash,
                created_by: None,
                expires_at: now + TimeDelta::days(7),
            },
            now,
        )
        .await?;
        Some(format!(
            "{}/invitations/{token}",
            state.config.public_url.trim_end_matches('/')
        ))
    } else {
        None
    };
    audit::record(
        &mut tx,
        &Actor::default(),
        Change {
            action,
            entity_type: "user",
            entity_id: user.id.to_string(),
            before: None,
            after: Some(serde_json::json!({ "email": user.email, "roles": user.roles.0 })),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(AddedUser {
        user,
        invitation_url,
    })
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
        "user.bootstrapped",
    )
    .await?;
    tracing::info!("created the first administrator from SATANG_ADMIN_EMAIL");
    Ok(())
}
