//! A customer's status: what the `status` column and the API's `status` field may hold.

use std::fmt;

/// `active` customers are billed; `suspended` ones keep their data but are not sold to;
/// `deleted` ones are soft-deleted (kept for tax records, hidden from lists, restorable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
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
}

impl fmt::Display for CustomerStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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
    }
}
