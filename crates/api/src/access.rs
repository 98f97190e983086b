//! Who may do what to one customer (SPEC §2.2). Staff act by their roles on every customer;
//! a member acts only on the customers they belong to, by their member role there. A customer
//! outside the caller's reach is 404 — the same answer as a customer that does not exist.

use uuid::Uuid;

use satang_auth::{MemberRole, Permission};
use satang_store::{Scope, customers, memberships};

use crate::error::ApiError;
use crate::extract::Caller;
use crate::state::AppState;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CustomerAction {
    /// Profile, contacts, members.
    Read,
    /// Change the profile (not its status).
    EditProfile,
    /// Suspend, reactivate, delete, restore, erase.
    ChangeStatus,
    EditContacts,
    ManageMembers,
    /// Subscriptions, invoices, payments, payment methods.
    ReadBilling,
    /// Start, change or cancel subscriptions at the plan's terms.
    ManageSubscriptions,
    /// Add and remove the customer's payment methods.
    ManagePaymentMethods,
    /// What moves money or terms without a payment: recording a payment, a trial length other
    /// than the plan's, pausing and resuming, crediting unused days. The operator's staff only;
    /// a member pays through a payment method that actually moves money.
    AdjustBilling,
}

impl CustomerAction {
    pub fn staff_permission(self) -> Permission {
        match self {
            CustomerAction::Read => Permission::ReadCustomers,
            CustomerAction::EditProfile
            | CustomerAction::ChangeStatus
            | CustomerAction::EditContacts
            | CustomerAction::ManageMembers => Permission::WriteCustomers,
            CustomerAction::ReadBilling => Permission::ReadBilling,
            CustomerAction::ManageSubscriptions
            | CustomerAction::ManagePaymentMethods
            | CustomerAction::AdjustBilling => Permission::WriteBilling,
        }
    }

    fn member_may(self, role: MemberRole) -> bool {
        use MemberRole::*;
        match self {
            CustomerAction::Read | CustomerAction::ReadBilling => true,
            CustomerAction::EditProfile
            | CustomerAction::EditContacts
            | CustomerAction::ManageMembers => matches!(role, Owner | Admin),
            CustomerAction::ManageSubscriptions | CustomerAction::ManagePaymentMethods => {
                matches!(role, Owner | Billing)
            }
            CustomerAction::ChangeStatus | CustomerAction::AdjustBilling => false,
        }
    }
}

impl Caller {
    /// The scope of the caller's reads: all customers for staff allowed to read them, else only
    /// the caller's own customers.
    pub fn scope(&self, permission: Permission) -> Scope {
        if self.may(permission) {
            Scope::All
        } else {
            Scope::Member(self.user_id)
        }
    }
}

/// How the caller reached a customer: as staff, or as a member with a role there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    Staff,
    Member(MemberRole),
}

/// Checks that `caller` may do `action` to `customer_id`: 404 when the customer is outside the
/// caller's reach, 403 when it is visible but the action is not allowed.
pub async fn authorize(
    state: &AppState,
    caller: &Caller,
    customer_id: Uuid,
    action: CustomerAction,
) -> Result<Reach, ApiError> {
    if caller.is_staff() {
        caller.require(action.staff_permission())?;
        return if customers::exists(&state.db, customer_id).await? {
            Ok(Reach::Staff)
        } else {
            Err(ApiError::NotFound)
        };
    }
    let role = memberships::role_of(&state.db, caller.user_id, customer_id)
        .await?
        .and_then(|r| MemberRole::parse(&r))
        .ok_or(ApiError::NotFound)?;
    if action.member_may(role) {
        Ok(Reach::Member(role))
    } else {
        Err(ApiError::Forbidden)
    }
}
