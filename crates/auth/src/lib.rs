//! Who may sign in and what they may do: password hashing, access and refresh tokens, the
//! signing keys and their JWKS, staff and member roles, API keys and their scopes, and the rate
//! limit on failed logins.

pub mod api_keys;
pub mod crypto;
pub mod keys;
pub mod limiter;
pub mod password;
pub mod roles;
pub mod strength;
pub mod tokens;

pub use api_keys::{ApiKeyGrant, ApiScope};
pub use keys::{Jwks, SigningKeys};
pub use roles::{MemberRole, Permission, StaffRole};
pub use tokens::{AccessClaims, TokenVerifier};
