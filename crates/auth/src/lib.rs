//! Who may sign in and what they may do: password hashing, access and refresh tokens, the
//! signing keys and their JWKS, staff and member roles, and the rate limit on failed logins.

pub mod crypto;
pub mod keys;
pub mod limiter;
pub mod password;
pub mod roles;
pub mod tokens;

pub use keys::{Jwks, SigningKeys};
pub use roles::{MemberRole, Permission, StaffRole};
pub use tokens::{AccessClaims, TokenVerifier};
