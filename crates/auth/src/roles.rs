//! Roles and the policy that says who may do what (SPEC §2.2).
//!
//! Staff roles belong to the operator's people; member roles belong to a user's link with one
//! customer. A staff permission never comes from a membership, and a membership never reaches
//! beyond its own customer (that check lives in the store's tenancy scope).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub enum StaffRole {
    Admin,
    Billing,
    Support,
    Viewer,
}

impl StaffRole {
    pub const ALL: [StaffRole; 4] = [
        StaffRole::Admin,
        StaffRole::Billing,
        StaffRole::Support,
        StaffRole::Viewer,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            StaffRole::Admin => "admin",
            StaffRole::Billing => "billing",
            StaffRole::Support => "support",
            StaffRole::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<StaffRole> {
        StaffRole::ALL.into_iter().find(|r| r.as_str() == s)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberRole {
    Owner,
    Admin,
    Billing,
    Member,
}

impl MemberRole {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberRole::Owner => "owner",
            MemberRole::Admin => "admin",
            MemberRole::Billing => "billing",
            MemberRole::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<MemberRole> {
        [
            MemberRole::Owner,
            MemberRole::Admin,
            MemberRole::Billing,
            MemberRole::Member,
        ]
        .into_iter()
        .find(|r| r.as_str() == s)
    }
}

impl MemberRole {
    /// True when this role holds every right of `other` (the roles form a small lattice:
    /// owner above admin and billing, both above member; admin and billing are apart).
    pub fn covers(self, other: MemberRole) -> bool {
        use MemberRole::*;
        self == other || self == Owner || other == Member
    }

    /// May a member with this role move `target` from `from` (None: not yet a member) to `to`
    /// (None: removed)? Only an owner grants or takes the owner role, and nobody raises their
    /// own role. Whether the role may manage members at all is decided before this.
    pub fn may_change_member(
        self,
        target_is_self: bool,
        from: Option<MemberRole>,
        to: Option<MemberRole>,
    ) -> bool {
        let touches_owner = from == Some(MemberRole::Owner) || to == Some(MemberRole::Owner);
        if touches_owner && self != MemberRole::Owner {
            return false;
        }
        match (target_is_self, from, to) {
            (true, Some(from), Some(to)) => from.covers(to),
            _ => true,
        }
    }
}

/// Things a staff user may be allowed to do across all customers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Permission {
    ManageUsers,
    ManageSettings,
    ManagePlans,
    ReadCustomers,
    WriteCustomers,
    ReadBilling,
    WriteBilling,
    ReadAudit,
    RunBilling,
    MoveTestClock,
    /// Create, list and revoke API keys.
    ManageApiKeys,
    /// Move a book in from CSV (customer imports): admins and billing staff, who take over a
    /// company's records; one create at a time stays `WriteCustomers`.
    ImportData,
}

impl StaffRole {
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            StaffRole::Admin => true,
            StaffRole::Billing => matches!(
                permission,
                ReadCustomers | ReadBilling | WriteBilling | ReadAudit | ImportData
            ),
            StaffRole::Support => matches!(
                permission,
                ReadCustomers | WriteCustomers | ReadBilling | ReadAudit
            ),
            StaffRole::Viewer => matches!(permission, ReadCustomers | ReadBilling),
        }
    }
}

/// True when any of `roles` grants `permission`.
pub fn allows(roles: &[StaffRole], permission: Permission) -> bool {
    roles.iter().any(|r| r.grants(permission))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_matches_the_spec() {
        use Permission::*;
        assert!(allows(&[StaffRole::Admin], ManageUsers));
        assert!(!allows(&[StaffRole::Billing], ManageUsers));
        assert!(allows(&[StaffRole::Billing], WriteBilling));
        assert!(!allows(&[StaffRole::Billing], WriteCustomers));
        assert!(allows(&[StaffRole::Support], WriteCustomers));
        assert!(!allows(&[StaffRole::Support], WriteBilling));
        assert!(!allows(&[StaffRole::Viewer], WriteCustomers));
        assert!(allows(&[StaffRole::Admin], ImportData));
        assert!(allows(&[StaffRole::Billing], ImportData));
        assert!(!allows(&[StaffRole::Support], ImportData));
        assert!(!allows(&[StaffRole::Viewer], ImportData));
        assert!(allows(&[StaffRole::Viewer], ReadBilling));
        assert!(!allows(&[], ReadCustomers));
        assert!(allows(
            &[StaffRole::Viewer, StaffRole::Support],
            WriteCustomers
        ));
    }

    #[test]
    fn only_owners_touch_the_owner_role_and_nobody_raises_their_own() {
        use MemberRole::*;
        let all = [Owner, Admin, Billing, Member];
        for actor in all {
            for to in all {
                // Someone else from member to `to`.
                let may = actor.may_change_member(false, Some(Member), Some(to));
                assert_eq!(
                    may,
                    to != Owner || actor == Owner,
                    "{actor:?} grants {to:?}"
                );
                // Oneself from `actor` to `to`.
                let may = actor.may_change_member(true, Some(actor), Some(to));
                assert_eq!(may, actor.covers(to), "{actor:?} makes self {to:?}");
            }
            assert_eq!(
                actor.may_change_member(false, Some(Owner), None),
                actor == Owner,
                "{actor:?} removes an owner"
            );
            assert_eq!(
                actor.may_change_member(false, None, Some(Owner)),
                actor == Owner,
                "{actor:?} adds an owner"
            );
            assert!(actor.may_change_member(true, Some(actor), None), "leave");
        }
        assert!(!Admin.may_change_member(true, Some(Admin), Some(Billing)));
        assert!(Admin.may_change_member(true, Some(Admin), Some(Member)));
    }

    #[test]
    fn role_names_round_trip() {
        for r in StaffRole::ALL {
            assert_eq!(StaffRole::parse(r.as_str()), Some(r));
        }
        assert_eq!(StaffRole::parse("root"), None);
        assert_eq!(MemberRole::parse("owner"), Some(MemberRole::Owner));
    }
}
