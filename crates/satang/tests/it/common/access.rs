//! Access tables: rows of (who, method, path, body, expected status) run in order by one loop,
//! each failure naming its row.

use reqwest::Method;
use serde_json::Value;

use super::TestApp;

// The methods, short, for the tables.
pub const GET: Method = Method::GET;
pub const POST: Method = Method::POST;
pub const PATCH: Method = Method::PATCH;
pub const DELETE: Method = Method::DELETE;

/// One row of an access table: who calls (a name in the cast), the method, the path, the JSON
/// body (`None`: no body), and the status they must get.
pub type Access<'a> = (&'a str, Method, String, Option<Value>, u16);

/// Runs access rows in order (a row may change what the next one sees); `cast` maps names to
/// access tokens. A success other than 204 must answer JSON, a refusal a problem document; a
/// failure names its row.
pub async fn check_access<const N: usize>(
    app: &TestApp,
    cast: &[(&str, &str)],
    rows: [Access<'_>; N],
) {
    for (who, method, path, body, want) in rows {
        let row = format!("{who} {method} {path} (want {want})");
        let token = cast
            .iter()
            .find(|(name, _)| *name == who)
            .unwrap_or_else(|| panic!("{row}: {who} is not in the cast"))
            .1;
        let res = app.call(method, &path, Some(token), body).await;
        assert_eq!(res.status(), want, "{row}");
        if want == 204 {
            continue;
        }
        let problem = want >= 400;
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body: Value = res
            .json()
            .await
            .unwrap_or_else(|e| panic!("{row}: the body is not JSON: {e}"));
        if problem {
            assert_eq!(content_type, "application/problem+json", "{row}");
            assert_eq!(body["status"], want, "{row}: {body}");
            assert!(
                body["type"].is_string() && body["title"].is_string() && body["detail"].is_string(),
                "{row}: {body}"
            );
        }
    }
}
