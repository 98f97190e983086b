//! Member operations (SPEC §2.2, §2.3): adding a user to a customer, or inviting an email
//! nobody has signed up with yet ([`add_member`]), changing a member's role
//! ([`change_member_role`]) and removing a member ([`remove_member`]).
//!
//! The caller has checked that the acting user may manage this customer's members at all; the
//! operations decide what this change may do: a member (not staff) grants or takes the owner role
//! only as an owner and never raises their own role, and no customer that has owners is left
//! without one. Each change is audited on the customer (`member.added`, `member.invited`,
//! `member.updated`, `member.removed`).

use chrono::{DateTime, TimeDelta, Utc};
use serde_json::{Value, json};
use uuid::Uuid;

use satang_auth::MemberRole;
use satang_auth::tokens::new_opaque_token;
use satang_domain::MemberStatus;
use satang_store::audit::{self, Actor, Change};
use satang_store::memberships::{self, Member};
use satang_store::{Db, Tx, customers, invitations, users};

use crate::{Error, Result};

/// Who the new member is: an existing user, or an email (invited when nobody has it yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Invitee {
    User(Uuid),
    Email(String),
}

/// A member to add: who, and with which role.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewMember {
    pub invitee: Invitee,
    pub role: MemberRole,
}

/// How the acting user reaches the customer: as staff, or as one of its members with a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActingAs {
    Staff,
    Member(MemberRole),
}

/// What [`add_member`] made: a membership, or an invitation that signing up with the email
/// accepts.
#[derive(Debug, Clone)]
pub enum AddedMember {
    Active(Member),
    Invited {
        email: String,
        role: MemberRole,
        created_at: DateTime<Utc>,
    },
}

impl AddedMember {
    /// The user who became a member; `None` for an invitation.
    pub fn user_id(&self) -> Option<Uuid> {
        match self {
            AddedMember::Active(m) => Some(m.user_id),
            AddedMember::Invited { .. } => None,
        }
    }
}

/// Adds `new` to customer `customer_id` in a transaction of its own. An email without a user
/// becomes an invitation valid for `invitation_ttl`.
pub async fn add_member(
    db: &Db,
    actor: &Actor,
    acting_as: ActingAs,
    customer_id: Uuid,
    new: NewMember,
    invitation_ttl: TimeDelta,
    now: DateTime<Utc>,
) -> Result<AddedMember> {
    let NewMember { invitee, role } = new;
    let target_is_self = matches!(invitee, Invitee::User(id) if Some(id) == actor.user_id);
    guard_member_change(acting_as, target_is_self, None, Some(role))?;
    let user = match &invitee {
        Invitee::User(id) => Some(users::find_by_id(db, *id).await?.ok_or(Error::Invalid {
            field: "user_id",
            message: "no user has this id".into(),
        })?),
        Invitee::Email(email) => users::find_by_email(db, email).await?,
    };
    let mut tx = db.begin().await?;
    customers::get_in(&mut tx, customer_id)
        .await?
        .filter(|c| !c.status.is_deleted())
        .ok_or(Error::NotFound)?;
    let added = match (user, invitee) {
        (Some(user), _) => AddedMember::Active(
            memberships::add_member(&mut tx, customer_id, user.id, role.as_str(), now).await?,
        ),
        (None, Invitee::Email(email)) => {
            // Nobody needs the token: signing up with the invited email is the acceptance.
            let (_token, token_hash) = new_opaque_token();
            invitations::insert(
                &mut tx,
                invitations::NewInvitation {
                    email: &email,
                    user_id: None,
                    customer_id: Some(customer_id),
                    member_role: Some(role.as_str()),
                    token_hash,
                    created_by: actor.user_id,
                    expires_at: now + invitation_ttl,
                },
                now,
            )
            .await?;
            AddedMember::Invited {
                email,
                role,
                created_at: now,
            }
        }
        (None, Invitee::User(_)) => unreachable!("a user id that finds no user is refused above"),
    };
    audit::record(
        &mut tx,
        actor,
        Change {
            action: match added {
                AddedMember::Active(_) => "member.added",
                AddedMember::Invited { .. } => "member.invited",
            },
            entity_type: "customer",
            entity_id: customer_id.to_string(),
            before: None,
            after: Some(added_json(&added)),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(added)
}

/// Gives member `user_id` of customer `customer_id` the role `role`.
pub async fn change_member_role(
    tx: &mut Tx,
    actor: &Actor,
    acting_as: ActingAs,
    customer_id: Uuid,
    user_id: Uuid,
    role: MemberRole,
    now: DateTime<Utc>,
) -> Result<Member> {
    let current = guarded_member(tx, actor, acting_as, customer_id, user_id, Some(role)).await?;
    memberships::set_member_role(tx, customer_id, user_id, role.as_str()).await?;
    let after = memberships::get_member(tx, customer_id, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    audit::record(
        tx,
        actor,
        Change {
            action: "member.updated",
            entity_type: "customer",
            entity_id: customer_id.to_string(),
            before: Some(member_json(&current)),
            after: Some(member_json(&after)),
        },
        now,
    )
    .await?;
    Ok(after)
}

/// The membership of `user_id` in `customer_id`, once the actor may give it role `to` (`None`:
/// end it) and the customer keeps an owner.
async fn guarded_member(
    tx: &mut Tx,
    actor: &Actor,
    acting_as: ActingAs,
    customer_id: Uuid,
    user_id: Uuid,
    to: Option<MemberRole>,
) -> Result<Member> {
    let current = memberships::get_member(tx, customer_id, user_id)
        .await?
        .ok_or(Error::NotFound)?;
    guard_member_change(
        acting_as,
        actor.user_id == Some(user_id),
        Some(&current.role),
        to,
    )?;
    guard_last_owner(tx, customer_id, &current, to).await?;
    Ok(current)
}

/// Ends the membership of `user_id` in customer `customer_id`.
pub async fn remove_member(
    tx: &mut Tx,
    actor: &Actor,
    acting_as: ActingAs,
    customer_id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> Result<Member> {
    let current = guarded_member(tx, actor, acting_as, customer_id, user_id, None).await?;
    memberships::remove_member(tx, customer_id, user_id).await?;
    audit::record(
        tx,
        actor,
        Change {
            action: "member.removed",
            entity_type: "customer",
            entity_id: customer_id.to_string(),
            before: Some(member_json(&current)),
            after: None,
        },
        now,
    )
    .await?;
    Ok(current)
}

/// A member (not staff) may not grant or take the owner role without being an owner, nor raise
/// their own role: the account stays with the people the owner chose.
fn guard_member_change(
    acting_as: ActingAs,
    target_is_self: bool,
    from: Option<&str>,
    to: Option<MemberRole>,
) -> Result<()> {
    match acting_as {
        ActingAs::Staff => Ok(()),
        ActingAs::Member(actor) => {
            let from = from.and_then(MemberRole::parse);
            if actor.may_change_member(target_is_self, from, to) {
                Ok(())
            } else {
                Err(Error::Forbidden)
            }
        }
    }
}

/// Refuses to leave a customer that has owners without any.
async fn guard_last_owner(
    tx: &mut Tx,
    customer_id: Uuid,
    current: &Member,
    new_role: Option<MemberRole>,
) -> Result<()> {
    if current.role == MemberRole::Owner.as_str()
        && new_role != Some(MemberRole::Owner)
        && memberships::count_owners(tx, customer_id).await? <= 1
    {
        return Err(Error::InvalidState(
            "this is the customer's last owner; make someone else owner first".into(),
        ));
    }
    Ok(())
}

/// A member as the API's `MemberView` serialises it: the before/after of the audit entries.
pub fn member_json(m: &Member) -> Value {
    json!({
        "user_id": m.user_id,
        "email": m.email,
        "name": m.name,
        "role": m.role,
        "status": MemberStatus::Active,
        "created_at": m.created_at,
    })
}

fn added_json(added: &AddedMember) -> Value {
    match added {
        AddedMember::Active(m) => member_json(m),
        AddedMember::Invited {
            email,
            role,
            created_at,
        } => json!({
            "user_id": null,
            "email": email,
            "name": null,
            "role": role.as_str(),
            "status": MemberStatus::Invited,
            "created_at": created_at,
        }),
    }
}
