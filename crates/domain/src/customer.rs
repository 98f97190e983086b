//! A customer's status (what the `status` column and the API's `status` field may hold) and a
//! member's.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::wire::wire_enum;

/// `active` customers are billed; `suspended` ones keep their data but are not sold to;
/// `deleted` ones are soft-deleted (kept for tax records, hidden from lists, restorable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CustomerStatus {
    Active,
    Suspended,
    Deleted,
}

impl CustomerStatus {
    pub const ALL: [CustomerStatus; 3] = [
        CustomerStatus::Active,
        CustomerStatus::Suspended,
        CustomerStatus::Deleted,
    ];

    /// The wire and database form, e.g. `"suspended"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            CustomerStatus::Active => "active",
            CustomerStatus::Suspended => "suspended",
            CustomerStatus::Deleted => "deleted",
        }
    }

    /// The status a wire or database string names, `None` for anything else.
    pub fn parse(s: &str) -> Option<CustomerStatus> {
        CustomerStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    pub const fn is_active(self) -> bool {
        matches!(self, CustomerStatus::Active)
    }

    pub const fn is_deleted(self) -> bool {
        matches!(self, CustomerStatus::Deleted)
    }
}

impl fmt::Display for CustomerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The string was not one of the three customer statuses.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("unknown customer status {0:?}")]
pub struct UnknownCustomerStatus(pub String);

impl FromStr for CustomerStatus {
    type Err = UnknownCustomerStatus;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        CustomerStatus::parse(s).ok_or_else(|| UnknownCustomerStatus(s.to_owned()))
    }
}

/// For decoding a database column (sqlx's `try_from = "String"`).
impl TryFrom<String> for CustomerStatus {
    type Error = UnknownCustomerStatus;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        s.parse()
    }
}

wire_enum! {
    /// A member of a customer: `active`, or `invited` until the person signs up with the
    /// invited email.
    pub enum MemberStatus, unknown UnknownMemberStatus "member status" {
        Active = "active",
        Invited = "invited",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_is_the_inverse_of_as_str() {
        for status in CustomerStatus::ALL {
            assert_eq!(CustomerStatus::parse(status.as_str()), Some(status));
        }
        assert_eq!(CustomerStatus::parse("Active"), None);
        assert_eq!(CustomerStatus::parse(""), None);
        assert_eq!(CustomerStatus::parse("canceled"), None);
        assert!(CustomerStatus::try_from("Deleted".to_owned()).is_err());
    }

    #[test]
    fn serde_uses_the_wire_form() {
        for status in CustomerStatus::ALL {
            assert_eq!(
                serde_json::to_value(status).unwrap(),
                serde_json::json!(status.as_str())
            );
        }
    }
}
