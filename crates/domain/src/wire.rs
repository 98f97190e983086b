//! `wire_enum!`: a closed set of statuses written as lowercase strings in the database and the
//! API. It spells out what [`crate::InvoiceStatus`] and its siblings write by hand (`ALL`,
//! `as_str`, `Display`, `FromStr`, `TryFrom<String>` for sqlx's `try_from = "String"`, serde
//! in the wire form), so that a new status set is one short declaration.

macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident, unknown $error:ident $what:literal {
            $($(#[$vmeta:meta])* $variant:ident = $wire:literal,)+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $wire)] $variant,)+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant,)+];

            /// The wire and database form.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $($name::$variant => $wire,)+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        #[doc = concat!("The string was not a ", $what, ".")]
        #[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
        #[error("unknown {what} {0:?}", what = $what)]
        pub struct $error(pub String);

        impl std::str::FromStr for $name {
            type Err = $error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                $name::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_str() == s)
                    .ok_or_else(|| $error(s.to_owned()))
            }
        }

        /// For decoding a database column (sqlx's `try_from = "String"`).
        impl TryFrom<String> for $name {
            type Error = $error;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                s.parse()
            }
        }
    };
}

pub(crate) use wire_enum;

#[cfg(test)]
mod tests {
    use crate::{
        DeliveryStatus, EmailKind, EmailStatus, MemberStatus, PaymentStatus, SubscriptionChange,
    };

    fn round_trips<T>(all: &[T])
    where
        T: Copy + PartialEq + std::fmt::Debug + serde::Serialize + std::str::FromStr + ToString,
    {
        for v in all {
            let wire = v.to_string();
            assert_eq!(wire.parse::<T>().ok(), Some(*v));
            assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(wire));
        }
    }

    #[test]
    fn every_status_round_trips_through_its_wire_form() {
        round_trips(PaymentStatus::ALL);
        round_trips(EmailStatus::ALL);
        round_trips(EmailKind::ALL);
        round_trips(DeliveryStatus::ALL);
        round_trips(MemberStatus::ALL);
        round_trips(SubscriptionChange::ALL);
        assert!("Sent".parse::<EmailStatus>().is_err());
        assert!(DeliveryStatus::try_from("sent".to_owned()).is_err());
    }
}
