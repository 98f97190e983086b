//! The console's import page (`/imports`), on both databases: a billing clerk uploads a CSV of
//! customers, sees the dry run's figures, confirms and finds them through the API; then a file
//! of subscriptions with a bad row, refused by line in Thai until "import the good rows" is
//! chosen; a second check finds nothing new; forms without the CSRF token, files that are not
//! UTF-8, and English by the toggle.

use serde_json::Value;

use crate::common::{Backend, TestApp, json_of, spawn_clocked_on};
use crate::console_pages::{Browser, Page};
use crate::subscription_imports::{customers_csv, subscriptions_csv};

both_backends!(billing_staff_check_then_import_a_book_in_the_console);

/// The value of the hidden field `name` of the page, unescaped as a browser reads it.
fn hidden(page: &Page, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no field {name}: {}", page.body));
    let rest = &page.body[at + marker.len()..];
    rest[..rest.find('"').unwrap()]
        .replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&#x27;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

fn testid(page: &Page, id: &str) -> bool {
    page.body.contains(&format!("data-testid=\"{id}\""))
}

/// The text of the element marked `data-testid="{id}"`.
fn text_of(page: &Page, id: &str) -> String {
    let marker = format!("data-testid=\"{id}\">");
    let at = page
        .body
        .find(&marker)
        .unwrap_or_else(|| panic!("no {id}: {}", page.body));
    let rest = &page.body[at + marker.len()..];
    rest[..rest.find('<').unwrap()].trim().to_owned()
}

async fn check(browser: &Browser, kind: &str, partial: bool, file: &[u8]) -> Page {
    let csrf = browser.csrf();
    let mut fields = vec![("_csrf", csrf.as_str()), ("kind", kind)];
    if partial {
        fields.push(("partial", "on"));
    }
    browser
        .post_multipart("/imports", &fields, ("file", "book.csv", file))
        .await
}

async fn count(app: &TestApp, admin: &str, path: &str) -> usize {
    json_of(app.get(path, admin).await, 200).await["data"]
        .as_array()
        .map_or(0, Vec::len)
}

async fn billing_staff_check_then_import_a_book_in_the_console(backend: Backend) {
    let Some((app, admin)) = spawn_clocked_on(backend, "2030-11-24").await else {
        return;
    };
    app.staff_token("billing@satang.test", &["billing"]).await;
    let browser = Browser::signed_in(&app, "billing@satang.test").await;
    let page = browser.get("/imports").await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(testid(&page, "import-form"));
    assert!(page.body.contains("enctype=\"multipart/form-data\""));
    assert!(
        page.body
            .contains("href=\"/imports\" aria-current=\"page\"")
    );
    assert!(page.body.contains("นำเข้าข้อมูล"), "Thai by default");

    // Customers: checked, nothing written, then confirmed with the file the page carries.
    let checked = check(&browser, "customers", false, customers_csv().as_bytes()).await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(text_of(&checked, "import-rows"), "3");
    assert_eq!(text_of(&checked, "import-created"), "3");
    assert!(testid(&checked, "import-confirm"), "{}", checked.body);
    assert_eq!(count(&app, &admin, "/api/customers").await, 0);
    let carried = hidden(&checked, "csv");
    assert_eq!(carried, customers_csv());
    let done = browser
        .post(
            "/imports/confirm",
            &[("kind", "customers"), ("csv", carried.as_str())],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert!(testid(&done, "import-written"), "{}", done.body);
    assert_eq!(text_of(&done, "import-created"), "3");
    assert!(!testid(&done, "import-confirm"));
    assert_eq!(count(&app, &admin, "/api/customers").await, 3);

    // Subscriptions with a row naming nobody: refused in Thai, no confirm button.
    let with_bad_row = format!(
        "{},,nobody@example.co.th,PRO,,,,2029-01-31,,\n",
        subscriptions_csv()
    );
    let refused = check(&browser, "subscriptions", false, with_bad_row.as_bytes()).await;
    assert_eq!(refused.status, 422, "{}", refused.body);
    assert!(testid(&refused, "import-refused"));
    assert!(refused.body.contains("ไม่มีลูกค้าที่ใช้อีเมลนี้"), "{}", refused.body);
    assert!(refused.body.contains("<td class=\"num\">5</td>"));
    assert!(!testid(&refused, "import-confirm"));
    // The good rows only.
    let checked = check(&browser, "subscriptions", true, with_bad_row.as_bytes()).await;
    assert_eq!(checked.status, 200, "{}", checked.body);
    assert_eq!(text_of(&checked, "import-created"), "3");
    assert_eq!(text_of(&checked, "import-errors"), "1");
    assert!(testid(&checked, "import-confirm"));
    let done = browser
        .post(
            "/imports/confirm",
            &[
                ("kind", "subscriptions"),
                ("partial", hidden(&checked, "partial").as_str()),
                ("csv", hidden(&checked, "csv").as_str()),
            ],
        )
        .await;
    assert_eq!(done.status, 200, "{}", done.body);
    assert_eq!(text_of(&done, "import-created"), "3");
    let subs: Value = json_of(app.get("/api/subscriptions", &admin).await, 200).await;
    assert_eq!(subs["data"].as_array().unwrap().len(), 3, "{subs}");
    // Checked again: nothing new, every good row already present.
    let again = check(&browser, "subscriptions", true, with_bad_row.as_bytes()).await;
    assert!(testid(&again, "import-nothing"), "{}", again.body);
    assert_eq!(text_of(&again, "import-skipped"), "3");
    assert!(again.body.contains("?tab=subscriptions"));

    // A reload of the confirm address goes back to the page; forms need the session's token.
    let reload = browser.get("/imports/confirm").await;
    assert_eq!(reload.location.as_deref(), Some("/imports"));
    let forged = browser
        .post_multipart(
            "/imports",
            &[("_csrf", "forged"), ("kind", "customers")],
            ("file", "book.csv", customers_csv().as_bytes()),
        )
        .await;
    assert_eq!(forged.status, 403);
    // A file saved in another encoding (TIS-620 Thai) is explained, not garbled.
    let page = browser.get("/imports").await;
    assert_eq!(page.status, 200);
    let tis620 = b"name,email\n\xca\xc7\xb9,a@x.th\n";
    let refused = check(&browser, "customers", false, tis620).await;
    assert_eq!(refused.status, 422);
    assert!(refused.body.contains("CSV UTF-8"), "{}", refused.body);

    // In English by the toggle.
    browser
        .post("/preferences", &[("lang", "en"), ("back", "/imports")])
        .await;
    let page = browser.get("/imports").await;
    assert!(page.body.contains("Check the file"), "{}", page.body);
    let refused = check(&browser, "subscriptions", false, with_bad_row.as_bytes()).await;
    assert!(
        refused.body.contains("no customer has this e-mail"),
        "{}",
        refused.body
    );
}
