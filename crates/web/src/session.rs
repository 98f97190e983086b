//! Who is asking and how: the session cookies (access and refresh token from the API's own
//! login), the CSRF token, language and theme, and the API calls made on the person's behalf.
//!
//! Cookies are `HttpOnly`, `SameSite=Lax`, `Path=/`; when the console's public URL is https (as
//! it always is when Satang serves TLS itself: `SATANG_TLS_CERT`) they are `Secure` and the
//! session's cookies carry the `__Host-` prefix, so no other site (a sibling subdomain included)
//! can set them. Every form repeats a CSRF token in a hidden `_csrf` field:
//! an HMAC, under a key derived from the server's encryption key, of the login the browser is
//! signed in to (the access token's `sid`), or, before sign-in, of a random pre-session id kept
//! in its own cookie. A token minted for one session is worth nothing in another, and signing in
//! or out changes it. A request acts only as the login its token was bound to: a refresh that
//! comes back in another login signs the browser out instead.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use satang_auth::crypto::MacKey;

use crate::client::{ApiReply, ApiRequest};
use crate::i18n::{Lang, Tr};
use crate::{Console, Failure};

pub const ACCESS_COOKIE: &str = "satang_at";
pub const REFRESH_COOKIE: &str = "satang_rt";
/// The pre-session id of a browser not signed in.
pub const CSRF_COOKIE: &str = "satang_csrf";
pub const LANG_COOKIE: &str = "satang_lang";
pub const THEME_COOKIE: &str = "satang_theme";

/// Light, dark, or whatever the system prefers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Theme {
    System,
    Light,
    Dark,
}

impl Theme {
    pub fn code(self) -> &'static str {
        match self {
            Theme::System => "system",
            Theme::Light => "light",
            Theme::Dark => "dark",
        }
    }

    pub fn parse(code: &str) -> Option<Theme> {
        match code {
            "system" => Some(Theme::System),
            "light" => Some(Theme::Light),
            "dark" => Some(Theme::Dark),
            _ => None,
        }
    }
}

/// Cookies a handler wants set, whatever the response turns out to be (a refreshed session must
/// reach the browser even when the page then fails). Put in the request by the console's
/// middleware, which copies them onto the response.
#[derive(Clone, Default)]
pub struct CookieJar(pub Arc<Mutex<Vec<String>>>);

impl CookieJar {
    pub fn set(&self, name: &str, value: &str, max_age: Option<Duration>, secure: bool) {
        let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
        if let Some(age) = max_age {
            cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
        }
        if secure {
            cookie.push_str("; Secure");
        }
        if let Ok(mut cookies) = self.0.lock() {
            cookies.push(cookie);
        }
    }

    pub fn remove(&self, name: &str, secure: bool) {
        self.set(name, "", Some(Duration::ZERO), secure);
    }

    pub fn take(&self) -> Vec<String> {
        self.0
            .lock()
            .map(|mut c| std::mem::take(&mut *c))
            .unwrap_or_default()
    }
}

/// The cookies a request carries.
pub fn read_cookies(parts: &Parts) -> HashMap<String, String> {
    let mut cookies = HashMap::new();
    for value in parts.headers.get_all(header::COOKIE) {
        let Ok(text) = value.to_str() else { continue };
        for pair in text.split(';') {
            if let Some((name, value)) = pair.trim().split_once('=') {
                cookies
                    .entry(name.trim().to_owned())
                    .or_insert_with(|| value.trim().to_owned());
            }
        }
    }
    cookies
}

/// The language a request asks for: the toggle's cookie, else `Accept-Language`, else Thai.
pub fn request_lang(parts: &Parts, cookies: &HashMap<String, String>) -> Lang {
    cookies
        .get(LANG_COOKIE)
        .and_then(|c| Lang::parse(c))
        .unwrap_or_else(|| {
            parts
                .headers
                .get(header::ACCEPT_LANGUAGE)
                .and_then(|v| v.to_str().ok())
                .map_or(Lang::Th, Lang::from_accept_language)
        })
}

pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::thread_rng().fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The names of the session's cookies: `__Host-` prefixed when served over https (the prefix
/// needs `Secure`, `Path=/` and no `Domain`, which is how they are set).
#[derive(Debug, Clone)]
pub struct CookieNames {
    pub access: String,
    pub refresh: String,
    pub csrf: String,
}

impl CookieNames {
    pub fn new(secure: bool) -> CookieNames {
        let name = |base: &str| {
            if secure {
                format!("__Host-{base}")
            } else {
                base.to_owned()
            }
        };
        CookieNames {
            access: name(ACCESS_COOKIE),
            refresh: name(REFRESH_COOKIE),
            csrf: name(CSRF_COOKIE),
        }
    }
}

/// The login (`sid`) an access token belongs to, read without checking its signature: it only
/// chooses what the CSRF token is bound to. The API checks the token itself, and a refresh
/// that lands in another login is refused ([`Ctx::api`]).
pub fn session_of(access_token: &str) -> Option<Uuid> {
    #[derive(Deserialize)]
    struct Sid {
        sid: Uuid,
    }
    let payload = access_token.split('.').nth(1)?;
    let bytes = URL_SAFE_NO_PAD.decode(payload).ok()?;
    serde_json::from_slice::<Sid>(&bytes).ok().map(|c| c.sid)
}

/// What a CSRF token vouches for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CsrfBinding<'a> {
    /// A signed-in browser's login.
    Login(Uuid),
    /// A browser not signed in: its pre-session cookie.
    PreSession(&'a str),
}

impl CsrfBinding<'_> {
    fn message(self) -> Vec<u8> {
        match self {
            CsrfBinding::Login(sid) => format!("login:{sid}").into_bytes(),
            CsrfBinding::PreSession(id) => format!("pre-session:{id}").into_bytes(),
        }
    }

    /// The token forms carry for this binding.
    pub fn token(self, key: &MacKey) -> String {
        URL_SAFE_NO_PAD.encode(key.tag(&self.message()))
    }

    /// Whether `sent` is this binding's token.
    pub fn accepts(self, key: &MacKey, sent: &str) -> bool {
        URL_SAFE_NO_PAD
            .decode(sent)
            .is_ok_and(|tag| key.verify(&self.message(), &tag))
    }
}

/// A pre-session id long enough to be one of ours (32 random bytes, base64).
fn pre_session<'a>(cookies: &'a HashMap<String, String>, names: &CookieNames) -> Option<&'a str> {
    cookies
        .get(&names.csrf)
        .map(String::as_str)
        .filter(|id| id.len() >= 32)
}

/// The signed-in browser's tokens and their login, when its cookies hold a refresh token and
/// an access token that names its login.
fn signed_in(cookies: &HashMap<String, String>, names: &CookieNames) -> Option<(Tokens, Uuid)> {
    let refresh = cookies.get(&names.refresh).filter(|r| !r.is_empty())?;
    let access = cookies.get(&names.access)?;
    let sid = session_of(access)?;
    Some((
        Tokens {
            access: access.clone(),
            refresh: refresh.clone(),
        },
        sid,
    ))
}

/// What a request's CSRF token must be bound to, by its cookies; `None` for a browser with
/// neither a session nor a pre-session id (no form of ours was shown to it).
fn binding<'a>(
    cookies: &'a HashMap<String, String>,
    names: &CookieNames,
) -> Option<CsrfBinding<'a>> {
    match signed_in(cookies, names) {
        Some((_, sid)) => Some(CsrfBinding::Login(sid)),
        None => pre_session(cookies, names).map(CsrfBinding::PreSession),
    }
}

/// The tokens of a signed-in browser.
#[derive(Clone)]
pub struct Tokens {
    pub access: String,
    pub refresh: String,
}

/// Everything a console handler needs about the request.
pub struct Ctx {
    pub console: Arc<Console>,
    pub lang: Lang,
    pub theme: Theme,
    /// The CSRF token this page's forms carry.
    pub csrf: String,
    pub tokens: Option<Tokens>,
    /// The login `tokens` belong to, which `csrf` is bound to.
    pub session: Option<Uuid>,
    pub peer: Option<SocketAddr>,
    /// The path and query of this page, for "back to where I was" after a toggle.
    pub here: String,
    pub jar: CookieJar,
}

impl FromRequestParts<Arc<Console>> for Ctx {
    type Rejection = Failure;

    async fn from_request_parts(parts: &mut Parts, console: &Arc<Console>) -> Result<Ctx, Failure> {
        let cookies = read_cookies(parts);
        let jar = parts
            .extensions
            .get::<CookieJar>()
            .cloned()
            .unwrap_or_default();
        let secure = console.secure_cookies;
        let names = &console.cookie_names;
        let (tokens, session, csrf) = match signed_in(&cookies, names) {
            Some((tokens, sid)) => {
                let csrf = CsrfBinding::Login(sid).token(&console.csrf_key);
                (Some(tokens), Some(sid), csrf)
            }
            None => {
                // A refresh token without an access token naming its login cannot be bound to
                // anything: it is dropped, and the browser is signed out.
                if cookies.get(&names.refresh).is_some_and(|r| !r.is_empty()) {
                    jar.remove(&names.access, secure);
                    jar.remove(&names.refresh, secure);
                }
                let pre = match pre_session(&cookies, names) {
                    Some(id) => id.to_owned(),
                    None => {
                        let id = random_token();
                        jar.set(&names.csrf, &id, None, secure);
                        id
                    }
                };
                let csrf = CsrfBinding::PreSession(&pre).token(&console.csrf_key);
                (None, None, csrf)
            }
        };
        Ok(Ctx {
            console: console.clone(),
            lang: request_lang(parts, &cookies),
            theme: cookies
                .get(THEME_COOKIE)
                .and_then(|t| Theme::parse(t))
                .unwrap_or(Theme::System),
            csrf,
            tokens,
            session,
            peer: parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0),
            here: parts
                .uri
                .path_and_query()
                .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned()),
            jar,
        })
    }
}

/// The pair of tokens the API's login, signup and refresh answer with.
#[derive(Deserialize)]
pub struct TokenPair {
    pub access_token: String,
    pub refresh_token: String,
}

/// Refreshes already made by this process, by the hash of the spent refresh token: a page and a
/// download racing with the same expired access token must not both spend the refresh token
/// (the second would look like reuse and sign the person out).
#[derive(Default)]
pub struct RecentRefreshes(Mutex<HashMap<[u8; 32], (Instant, Tokens)>>);

impl RecentRefreshes {
    fn get(&self, refresh: &str) -> Option<Tokens> {
        let key: [u8; 32] = Sha256::digest(refresh.as_bytes()).into();
        let mut map = self.0.lock().ok()?;
        map.retain(|_, (at, _)| at.elapsed() < Duration::from_secs(30));
        map.get(&key).map(|(_, t)| t.clone())
    }

    fn put(&self, refresh: &str, tokens: Tokens) {
        let key: [u8; 32] = Sha256::digest(refresh.as_bytes()).into();
        if let Ok(mut map) = self.0.lock() {
            map.insert(key, (Instant::now(), tokens));
        }
    }
}

impl Ctx {
    pub fn tr(&self) -> Tr {
        Tr::new(self.lang)
    }

    /// Starts a new session: its tokens in the cookies, the CSRF token bound to its login, and
    /// the pre-session id (what the sign-in form's token was bound to) forgotten.
    pub fn sign_in(&mut self, pair: TokenPair) {
        let secure = self.console.secure_cookies;
        self.store_tokens(pair);
        self.jar.remove(&self.console.cookie_names.csrf, secure);
    }

    /// Puts a pair of tokens in the cookies and binds the CSRF token to their login.
    fn store_tokens(&mut self, pair: TokenPair) {
        let secure = self.console.secure_cookies;
        let names = &self.console.cookie_names;
        let refresh_age = self.console.app.config.refresh_token_ttl;
        self.jar
            .set(&names.access, &pair.access_token, Some(refresh_age), secure);
        self.jar.set(
            &names.refresh,
            &pair.refresh_token,
            Some(refresh_age),
            secure,
        );
        self.session = session_of(&pair.access_token);
        self.csrf = match self.session {
            Some(sid) => CsrfBinding::Login(sid).token(&self.console.csrf_key),
            None => String::new(),
        };
        self.tokens = Some(Tokens {
            access: pair.access_token,
            refresh: pair.refresh_token,
        });
    }

    /// Ends the session in this browser, and gives it a new pre-session id.
    pub fn sign_out(&mut self) {
        let secure = self.console.secure_cookies;
        let names = &self.console.cookie_names;
        self.jar.remove(&names.access, secure);
        self.jar.remove(&names.refresh, secure);
        let pre = random_token();
        self.jar.set(&names.csrf, &pre, None, secure);
        self.csrf = CsrfBinding::PreSession(&pre).token(&self.console.csrf_key);
        self.tokens = None;
        self.session = None;
    }

    /// Calls the API as the signed-in person (anonymously when signed out). An expired access
    /// token is refreshed once and the call repeated; a refused refresh signs the browser out,
    /// and so does one that comes back in another login than the one the page's CSRF token was
    /// bound to (a refresh cookie that is not the access cookie's: someone mixed them).
    pub async fn api(&mut self, mut request: ApiRequest) -> ApiReply {
        request.peer = self.peer;
        request.accept_language = Some(self.lang.code());
        let retry = ApiRequest {
            method: request.method.clone(),
            uri: request.uri.clone(),
            token: None,
            body: request.body.clone(),
            peer: request.peer,
            idempotency_key: request.idempotency_key.clone(),
            if_match: request.if_match.clone(),
            payment_link: request.payment_link.clone(),
            accept_language: request.accept_language,
        };
        request.token = self.tokens.as_ref().map(|t| t.access.clone());
        let reply = self.console.api.send(request).await;
        if reply.status != StatusCode::UNAUTHORIZED || self.tokens.is_none() {
            return reply;
        }
        if !self.refresh().await {
            return reply;
        }
        let mut retry = retry;
        retry.token = self.tokens.as_ref().map(|t| t.access.clone());
        self.console.api.send(retry).await
    }

    async fn refresh(&mut self) -> bool {
        let Some(old) = self.tokens.clone() else {
            return false;
        };
        if let Some(tokens) = self.console.refreshes.get(&old.refresh) {
            if session_of(&tokens.access) != self.session {
                self.sign_out();
                return false;
            }
            self.store_tokens(TokenPair {
                access_token: tokens.access,
                refresh_token: tokens.refresh,
            });
            return true;
        }
        let mut request = ApiRequest::new(Method::POST, "/api/auth/refresh")
            .json(serde_json::json!({ "refresh_token": old.refresh }));
        request.peer = self.peer;
        let reply = self.console.api.send(request).await;
        match reply.json::<TokenPair>() {
            Ok(pair) if reply.ok() && session_of(&pair.access_token) == self.session => {
                self.console.refreshes.put(
                    &old.refresh,
                    Tokens {
                        access: pair.access_token.clone(),
                        refresh: pair.refresh_token.clone(),
                    },
                );
                self.store_tokens(pair);
                true
            }
            _ => {
                self.sign_out();
                false
            }
        }
    }

    /// GET a JSON document from the API; 401 → sign in, 404 → not found, other failures → the
    /// error page.
    pub async fn get<T: DeserializeOwned>(&mut self, uri: impl Into<String>) -> Result<T, Failure> {
        let reply = self.api(ApiRequest::new(Method::GET, uri)).await;
        self.expect(reply)
    }

    /// The JSON of a successful reply, or the failure page that fits the status.
    pub fn expect<T: DeserializeOwned>(&self, reply: ApiReply) -> Result<T, Failure> {
        if reply.ok() {
            return reply.json();
        }
        Err(Failure::from_status(reply.status, &self.here))
    }

    /// A mutation on the person's behalf. The key makes a repeated form submission (a double
    /// click, a reload) one change: the API answers the repeat with the first response.
    pub async fn send(
        &mut self,
        method: Method,
        uri: impl Into<String>,
        body: Option<serde_json::Value>,
        idempotency_key: Option<&str>,
    ) -> ApiReply {
        let mut request = ApiRequest::new(method, uri);
        request.body = body;
        request.idempotency_key = idempotency_key
            .filter(|k| Uuid::parse_str(k).is_ok())
            .map(str::to_owned);
        self.api(request).await
    }
}

/// A form posted from a console page: the CSRF field is checked before anything else (it must
/// be the token of the session the cookies hold, or of the pre-session id when not signed in),
/// then the fields are parsed into `T` (unknown fields ignored).
pub struct CsrfForm<T>(pub T);

impl<T: DeserializeOwned> FromRequest<Arc<Console>> for CsrfForm<T> {
    type Rejection = Failure;

    async fn from_request(req: Request, console: &Arc<Console>) -> Result<Self, Failure> {
        let (mut parts, body) = req.into_parts();
        let cookies = read_cookies(&parts);
        let _ = &mut parts;
        let bytes = Bytes::from_request(Request::from_parts(parts, body), console)
            .await
            .map_err(|_| Failure::BadRequest)?;
        let fields: Vec<(String, String)> =
            serde_urlencoded::from_bytes(&bytes).map_err(|_| Failure::BadRequest)?;
        let sent = fields
            .iter()
            .find(|(k, _)| k == "_csrf")
            .map(|(_, v)| v.as_str())
            .unwrap_or("");
        match binding(&cookies, &console.cookie_names) {
            Some(binding) if binding.accepts(&console.csrf_key, sent) => {}
            _ => return Err(Failure::Csrf),
        }
        serde_urlencoded::from_bytes(&bytes)
            .map(CsrfForm)
            .map_err(|_| Failure::BadRequest)
    }
}

/// A form with a file (`multipart/form-data`) posted from a console page: read whole (the
/// route's body limit bounds it), then its `_csrf` field checked exactly as [`CsrfForm`]'s
/// before anything else is looked at. Text fields and files by field name.
pub struct CsrfUpload {
    pub fields: std::collections::BTreeMap<String, String>,
    pub files: std::collections::BTreeMap<String, Vec<u8>>,
}

impl FromRequest<Arc<Console>> for CsrfUpload {
    type Rejection = Failure;

    async fn from_request(req: Request, console: &Arc<Console>) -> Result<Self, Failure> {
        let (parts, body) = req.into_parts();
        let cookies = read_cookies(&parts);
        let req = Request::from_parts(parts, body);
        let mut multipart = axum::extract::Multipart::from_request(req, console)
            .await
            .map_err(|_| Failure::BadRequest)?;
        let mut upload = CsrfUpload {
            fields: Default::default(),
            files: Default::default(),
        };
        while let Some(field) = multipart
            .next_field()
            .await
            .map_err(|_| Failure::BadRequest)?
        {
            let name = field.name().unwrap_or_default().to_owned();
            if field.file_name().is_some() {
                let bytes = field.bytes().await.map_err(|_| Failure::BadRequest)?;
                upload.files.insert(name, bytes.to_vec());
            } else {
                let text = field.text().await.map_err(|_| Failure::BadRequest)?;
                upload.fields.insert(name, text);
            }
        }
        let sent = upload.fields.get("_csrf").map_or("", String::as_str);
        match binding(&cookies, &console.cookie_names) {
            Some(binding) if binding.accepts(&console.csrf_key, sent) => Ok(upload),
            _ => Err(Failure::Csrf),
        }
    }
}
