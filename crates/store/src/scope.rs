//! Tenancy: which customers a caller may see. Every repository function a member can reach
//! takes a [`Scope`] and puts it into its SQL, so a handler cannot forget it.
//!
//! In SQL the scope is one bound parameter, `member_user_id`: NULL for staff (everything), or
//! the member's user id, matched through `customer_users`. The fragment is
//! [`Scope::clause`] with the column holding the customer id substituted.

use uuid::Uuid;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Staff: every customer (what they may *do* is the role policy's business).
    All,
    /// A customer member: only the customers this user belongs to.
    Member(Uuid),
}

impl Scope {
    /// The value to bind for the scope parameter.
    pub fn member_user(self) -> Option<Uuid> {
        match self {
            Scope::All => None,
            Scope::Member(user) => Some(user),
        }
    }

    /// `(<param> IS NULL OR EXISTS (… customer_users …))` for a customer-id column and the
    /// placeholder number the scope is bound to.
    pub fn clause(customer_id_column: &str, param: usize) -> String {
        format!(
            "(${param} IS NULL OR EXISTS (SELECT 1 FROM customer_users su \
             WHERE su.customer_id = {customer_id_column} AND su.user_id = ${param}))"
        )
    }
}
