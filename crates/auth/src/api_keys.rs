//! API keys of the seller's own software (SPEC §2.12): the secret's shape, how it is hashed,
//! and what each scope lets a key do.
//!
//! A key is a tenant-wide principal like a staff user, limited by its scopes. A scope grants
//! the staff [`Permission`]s its routes check, and names those routes (the HTTP layer refuses
//! a key on any other route): a permission such as `ReadBilling` covers more than invoices, so
//! the routes are what keep `invoices:read` to invoices.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::roles::Permission;

/// Every secret starts with this; a bearer token with it is an API key, not an access token.
pub const SECRET_PREFIX: &str = "sk_";

/// Characters of the secret kept for display (`sk_` and eight more).
const DISPLAY_LEN: usize = SECRET_PREFIX.len() + 8;

/// What a key may be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApiScope {
    UsageWrite,
    EntitlementsRead,
    CustomersRead,
    CustomersWrite,
    InvoicesRead,
}

impl ApiScope {
    pub const ALL: [ApiScope; 5] = [
        ApiScope::UsageWrite,
        ApiScope::EntitlementsRead,
        ApiScope::CustomersRead,
        ApiScope::CustomersWrite,
        ApiScope::InvoicesRead,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ApiScope::UsageWrite => "usage:write",
            ApiScope::EntitlementsRead => "entitlements:read",
            ApiScope::CustomersRead => "customers:read",
            ApiScope::CustomersWrite => "customers:write",
            ApiScope::InvoicesRead => "invoices:read",
        }
    }

    pub fn parse(s: &str) -> Option<ApiScope> {
        ApiScope::ALL.into_iter().find(|scope| scope.as_str() == s)
    }

    /// The staff permissions the routes of this scope check.
    pub fn grants(self, permission: Permission) -> bool {
        use Permission::*;
        match self {
            // `POST /api/usage-events` checks `WriteBilling`; the route list keeps the key there.
            ApiScope::UsageWrite => permission == WriteBilling,
            ApiScope::EntitlementsRead => permission == ReadBilling,
            ApiScope::CustomersRead => permission == ReadCustomers,
            ApiScope::CustomersWrite => matches!(permission, ReadCustomers | WriteCustomers),
            ApiScope::InvoicesRead => permission == ReadBilling,
        }
    }

    /// The routes (method and path template, as the router matched them) a key with this
    /// scope may call.
    pub fn routes(self) -> &'static [(&'static str, &'static str)] {
        match self {
            ApiScope::UsageWrite => &[("POST", "/api/usage-events")],
            ApiScope::EntitlementsRead => &[
                ("GET", "/api/customers/{id}/entitlements"),
                ("GET", "/api/entitlements/check"),
            ],
            ApiScope::CustomersRead => &[
                ("GET", "/api/customers"),
                ("GET", "/api/customers/{id}"),
                ("GET", "/api/customers/{id}/contacts"),
                ("GET", "/api/customers/{id}/contacts/{contact_id}"),
            ],
            ApiScope::CustomersWrite => &[
                ("GET", "/api/customers"),
                ("GET", "/api/customers/{id}"),
                ("POST", "/api/customers"),
                ("PATCH", "/api/customers/{id}"),
                ("GET", "/api/customers/{id}/contacts"),
                ("GET", "/api/customers/{id}/contacts/{contact_id}"),
                ("POST", "/api/customers/{id}/contacts"),
                ("PATCH", "/api/customers/{id}/contacts/{contact_id}"),
                ("DELETE", "/api/customers/{id}/contacts/{contact_id}"),
            ],
            ApiScope::InvoicesRead => &[
                ("GET", "/api/invoices"),
                ("GET", "/api/invoices/{id}"),
                ("GET", "/api/invoices/{id}/pdf"),
                ("GET", "/api/invoices/{id}/promptpay"),
                ("GET", "/api/customers/{id}/invoices"),
            ],
        }
    }
}

/// Parses a key's scopes: each known, none twice (order kept). `Err` names the first scope
/// that is not known.
pub fn parse_scopes(names: &[String]) -> Result<Vec<ApiScope>, String> {
    let mut scopes = Vec::with_capacity(names.len());
    for name in names {
        let scope = ApiScope::parse(name).ok_or_else(|| name.clone())?;
        if !scopes.contains(&scope) {
            scopes.push(scope);
        }
    }
    Ok(scopes)
}

/// What the holder of a key may do: its scopes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyGrant {
    pub scopes: Vec<ApiScope>,
}

impl ApiKeyGrant {
    pub fn allows(&self, permission: Permission) -> bool {
        self.scopes.iter().any(|s| s.grants(permission))
    }

    /// May the key call `method` on the route the router matched as `path`?
    pub fn reaches(&self, method: &str, path: &str) -> bool {
        self.scopes
            .iter()
            .flat_map(|s| s.routes())
            .any(|(m, p)| *m == method && *p == path)
    }
}

/// A new secret: `sk_` and 32 random bytes (base64url), its SHA-256 and its display prefix.
pub struct NewSecret {
    pub secret: String,
    pub hash: Vec<u8>,
    pub prefix: String,
}

pub fn new_secret() -> NewSecret {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    let secret = format!("{SECRET_PREFIX}{}", URL_SAFE_NO_PAD.encode(bytes));
    NewSecret {
        hash: hash_secret(&secret),
        prefix: secret[..DISPLAY_LEN].to_owned(),
        secret,
    }
}

/// The stored form of a secret. SHA-256 suffices: the secret is 256 random bits, so nothing
/// can be guessed from the hash, and checking it costs nothing on the request path.
pub fn hash_secret(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

/// True when a bearer token is meant as an API key.
pub fn is_api_key(token: &str) -> bool {
    token.starts_with(SECRET_PREFIX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_names_round_trip() {
        for scope in ApiScope::ALL {
            assert_eq!(ApiScope::parse(scope.as_str()), Some(scope));
        }
        assert_eq!(ApiScope::parse("usage:read"), None);
        assert_eq!(ApiScope::parse("USAGE:WRITE"), None);
        assert_eq!(ApiScope::parse(""), None);
    }

    #[test]
    fn scopes_parse_without_repeats_and_name_the_unknown_one() {
        let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            parse_scopes(&names(&["usage:write", "entitlements:read", "usage:write"])),
            Ok(vec![ApiScope::UsageWrite, ApiScope::EntitlementsRead])
        );
        assert_eq!(
            parse_scopes(&names(&["customers:read", "admin", "x"])),
            Err("admin".to_owned())
        );
        assert_eq!(parse_scopes(&[]), Ok(vec![]));
    }

    #[test]
    fn a_scope_grants_only_its_permissions_and_routes() {
        use Permission::*;
        let usage = ApiKeyGrant {
            scopes: vec![ApiScope::UsageWrite],
        };
        assert!(usage.allows(WriteBilling));
        assert!(!usage.allows(ReadBilling));
        assert!(!usage.allows(ManageUsers));
        assert!(usage.reaches("POST", "/api/usage-events"));
        // The permission alone would open these; the route list does not.
        assert!(!usage.reaches("POST", "/api/subscriptions"));
        assert!(!usage.reaches("POST", "/api/invoices/{id}/void"));
        assert!(!usage.reaches("GET", "/api/auth/me"));

        let invoices = ApiKeyGrant {
            scopes: vec![ApiScope::InvoicesRead],
        };
        assert!(invoices.reaches("GET", "/api/invoices/{id}"));
        assert!(!invoices.reaches("GET", "/api/subscriptions"));
        assert!(!invoices.reaches("POST", "/api/invoices"));

        let write = ApiKeyGrant {
            scopes: vec![ApiScope::CustomersWrite],
        };
        assert!(write.allows(WriteCustomers) && write.allows(ReadCustomers));
        assert!(!write.allows(WriteBilling));
        assert!(!write.reaches("DELETE", "/api/customers/{id}"));
        assert!(!write.reaches("POST", "/api/customers/{id}/members"));

        let none = ApiKeyGrant { scopes: vec![] };
        for permission in [ReadCustomers, WriteCustomers, ReadBilling, WriteBilling] {
            assert!(!none.allows(permission));
        }
    }

    #[test]
    fn secrets_are_random_and_hashed() {
        let a = new_secret();
        let b = new_secret();
        assert_ne!(a.secret, b.secret);
        assert!(is_api_key(&a.secret));
        assert_eq!(a.secret.len(), 3 + 43);
        assert!(a.secret.starts_with(&a.prefix) && a.prefix.len() == 11);
        assert_eq!(a.hash, hash_secret(&a.secret));
        assert_ne!(a.hash, b.hash);
        assert!(!is_api_key("eyJhbGciOi"));
    }
}
