//! Staff user operations (SPEC §1, §2.2): creating a user with a password or an invitation to
//! choose one ([`create_user`]), the console's one-time first administrator
//! ([`create_first_admin`]), changing a user's name, roles or access ([`update_user`]),
//! self-service sign-up ([`sign_up`]) and accepting an invitation ([`accept_invitation`]).
//!
//! The API, the console and `satang user add` call the same operations: the caller has checked
//! the request (email, name, password strength) and hashed the password; the operations decide
//! what may happen (no duplicate email, never without an enabled administrator once there is
//! one, a disabled user's sessions end at once) and audit it with the change.

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_auth::StaffRole;
use satang_auth::tokens::new_opaque_token;
use satang_store::audit::{self, Actor, Change};
use satang_store::users::{self, User};
use satang_store::{Db, Tx, invitations, kv, refresh_tokens};

use crate::{Error, Result};

/// A staff user to create, already checked: a valid email, a name, a strong password's hash
/// (`None`: the user is invited to choose one).
#[derive(Debug, Clone)]
pub struct NewStaffUser {
    pub email: String,
    pub name: String,
    pub password_hash: Option<String>,
    pub roles: Vec<StaffRole>,
}

/// Who creates a user, which the audit action records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CreatedBy {
    /// An administrator (`POST /api/users`) or the shell (`satang user add`): `user.created`.
    Administrator,
    /// `SATANG_ADMIN_EMAIL` at start-up: `user.bootstrapped`.
    Bootstrap,
}

/// A user made by [`create_user`], with the invitation when no password was given.
#[derive(Debug, Clone)]
pub struct CreatedUser {
    pub user: User,
    pub invitation: Option<IssuedInvitation>,
}

/// The token of an invitation to choose a password; only its hash is stored.
#[derive(Debug, Clone)]
pub struct IssuedInvitation {
    pub token: String,
    pub expires_at: DateTime<Utc>,
}

/// Creates `new` in `tx`; without a password, also an invitation valid for `invitation_ttl`.
/// An email already registered (in any case) is [`Error::InvalidState`].
pub async fn create_user(
    tx: &mut Tx,
    actor: &Actor,
    new: NewStaffUser,
    created_by: CreatedBy,
    invitation_ttl: TimeDelta,
    now: DateTime<Utc>,
) -> Result<CreatedUser> {
    let invite = new.password_hash.is_none();
    let user = insert(tx, new, now).await?;
    let invitation = if invite {
        let (token, token_hash) = new_opaque_token();
        let expires_at = now + invitation_ttl;
        invitations::insert(
            tx,
            invitations::NewInvitation {
                email: &user.email,
                user_id: Some(user.id),
                customer_id: None,
                member_role: None,
                token_hash,
                created_by: actor.user_id,
                expires_at,
            },
            now,
        )
        .await?;
        Some(IssuedInvitation { token, expires_at })
    } else {
        None
    };
    let action = match created_by {
        CreatedBy::Administrator => "user.created",
        CreatedBy::Bootstrap => "user.bootstrapped",
    };
    record_created(tx, actor, &user, action, now).await?;
    Ok(CreatedUser { user, invitation })
}

/// Creates the first administrator in a transaction of its own, only while there is no enabled
/// administrator: the first claim of a key decides, so two people racing on a fresh install
/// cannot both become admin. `None` when someone else was first. The new administrator is the
/// actor of their own `user.first_admin` entry (`actor` gives the request's address).
pub async fn create_first_admin(
    db: &Db,
    actor: &Actor,
    email: &str,
    name: &str,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<Option<User>> {
    let mut tx = db.begin().await?;
    if users::count_admins_in(&mut tx).await? > 0
        || !kv::claim_in(&mut tx, "console.first_admin", email).await?
    {
        return Ok(None);
    }
    let user = insert(
        &mut tx,
        NewStaffUser {
            email: email.to_owned(),
            name: name.to_owned(),
            password_hash: Some(password_hash),
            roles: vec![StaffRole::Admin],
        },
        now,
    )
    .await?;
    let actor = Actor {
        user_id: Some(user.id),
        ..actor.clone()
    };
    record_created(&mut tx, &actor, &user, "user.first_admin", now).await?;
    tx.commit().await?;
    Ok(Some(user))
}

/// What an administrator changes on a user; `None` keeps the current value.
#[derive(Debug, Clone, Default)]
pub struct UserUpdate {
    pub name: Option<String>,
    pub roles: Option<Vec<StaffRole>>,
    pub disabled: Option<bool>,
}

/// Changes user `id` (`user.updated`, or `user.disabled` when this disables them, which also
/// revokes their refresh tokens). Refused when it would leave no enabled administrator.
pub async fn update_user(
    tx: &mut Tx,
    actor: &Actor,
    id: Uuid,
    update: UserUpdate,
    now: DateTime<Utc>,
) -> Result<User> {
    let before = users::lock_by_id(tx, id).await?.ok_or(Error::NotFound)?;
    let roles: Option<Vec<String>> = update.roles.map(role_names);
    let admin = StaffRole::Admin.as_str();
    let was_admin = !before.disabled && before.roles.0.iter().any(|r| r == admin);
    let stays_admin = !update.disabled.unwrap_or(before.disabled)
        && roles
            .as_ref()
            .unwrap_or(&before.roles.0)
            .iter()
            .any(|r| r == admin);
    if was_admin && !stays_admin && users::count_admins_in(tx).await? <= 1 {
        return Err(Error::InvalidState(
            "this is the last administrator; make someone else admin first".into(),
        ));
    }
    let disables = update.disabled == Some(true) && !before.disabled;
    let after = users::update(
        tx,
        id,
        users::UserChanges {
            name: update.name,
            roles,
            disabled: update.disabled,
            password_hash: None,
        },
        now,
    )
    .await?;
    if disables {
        refresh_tokens::revoke_user(tx, id, now).await?;
    }
    audit::record(
        tx,
        actor,
        Change {
            action: if disables {
                "user.disabled"
            } else {
                "user.updated"
            },
            entity_type: "user",
            entity_id: id.to_string(),
            before: Some(user_json(&before)),
            after: Some(user_json(&after)),
        },
        now,
    )
    .await?;
    Ok(after)
}

/// Creates a self-service account (no staff role; it sees only the customers it is a member
/// of), audited with the new user as its own actor, and turns the invitations waiting for its
/// email into memberships. An email already registered is [`Error::InvalidState`].
pub async fn sign_up(
    tx: &mut Tx,
    actor: &Actor,
    email: &str,
    name: &str,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<User> {
    let new = users::NewUser {
        email,
        name,
        password_hash: Some(password_hash),
        roles: vec![],
    };
    let user = users::insert(tx, new, now).await.map_err(|e| match e {
        satang_store::Error::Conflict(_) => {
            Error::InvalidState("an account with this email already exists".into())
        }
        other => other.into(),
    })?;
    let actor = Actor {
        user_id: Some(user.id),
        ..actor.clone()
    };
    record_created(tx, &actor, &user, "user.signed_up", now).await?;
    invitations::accept_memberships(tx, user.id, email, now).await?;
    Ok(user)
}

/// Spends an open invitation of `user_id` on choosing `password_hash`, audited with the user
/// as the actor. [`Error::NotFound`] when another request spent it first.
pub async fn accept_invitation(
    tx: &mut Tx,
    actor: &Actor,
    invitation_id: Uuid,
    user_id: Uuid,
    password_hash: String,
    now: DateTime<Utc>,
) -> Result<User> {
    if !invitations::mark_accepted(tx, invitation_id, now).await? {
        return Err(Error::NotFound);
    }
    let changes = users::UserChanges {
        password_hash: Some(password_hash),
        ..Default::default()
    };
    let user = users::update(tx, user_id, changes, now).await?;
    let actor = Actor {
        user_id: Some(user.id),
        ..actor.clone()
    };
    let change = Change {
        action: "user.invitation_accepted",
        entity_type: "user",
        entity_id: user.id.to_string(),
        before: None,
        after: None,
    };
    audit::record(tx, &actor, change, now).await?;
    Ok(user)
}

/// A user as the API's `UserView` serialises it (never the password hash): the before/after
/// of the audit entries.
pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id,
        "email": u.email,
        "name": u.name,
        "roles": u.roles.0,
        "disabled": u.disabled,
        "created_at": u.created_at,
        "updated_at": u.updated_at,
    })
}

fn role_names(roles: Vec<StaffRole>) -> Vec<String> {
    roles.into_iter().map(|r| r.as_str().to_owned()).collect()
}

async fn insert(tx: &mut Tx, new: NewStaffUser, now: DateTime<Utc>) -> Result<User> {
    users::insert(
        tx,
        users::NewUser {
            email: &new.email,
            name: &new.name,
            password_hash: new.password_hash,
            roles: role_names(new.roles),
        },
        now,
    )
    .await
    .map_err(|e| match e {
        satang_store::Error::Conflict(_) => {
            Error::InvalidState("a user with this email already exists".into())
        }
        other => other.into(),
    })
}

async fn record_created(
    tx: &mut Tx,
    actor: &Actor,
    user: &User,
    action: &'static str,
    now: DateTime<Utc>,
) -> Result<()> {
    audit::record(
        tx,
        actor,
        Change {
            action,
            entity_type: "user",
            entity_id: user.id.to_string(),
            before: None,
            after: Some(user_json(user)),
        },
        now,
    )
    .await?;
    Ok(())
}
