//! A real headless Chromium for console tests, driven over WebDriver (chromedriver, fantoccini).
//!
//! Debian's `chromium` and `chromium-driver` (and `fonts-thai-tlwg`, so Thai is not drawn as
//! boxes) must be installed. Without them a browser test prints SKIPPED and passes — unless
//! `SATANG_REQUIRE_BROWSER=1` (set by CI), which turns the skip into a failure.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

fn required() -> bool {
    std::env::var("SATANG_REQUIRE_BROWSER").is_ok_and(|v| v == "1" || v == "true")
}

/// One browser session with its own chromedriver and an empty profile.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// A browser `width` px wide; `None` (and a SKIPPED line) when Chromium is not installed
    /// and not required.
    pub async fn start(width: u32, height: u32) -> Option<Browser> {
        if !std::path::Path::new(CHROMIUM).exists() || !std::path::Path::new(CHROMEDRIVER).exists()
        {
            assert!(
                !required(),
                "SATANG_REQUIRE_BROWSER=1 but {CHROMIUM} or {CHROMEDRIVER} is missing \
                 (apt-get install chromium chromium-driver fonts-thai-tlwg)"
            );
            eprintln!("SKIPPED: no Chromium/chromedriver; install chromium chromium-driver");
            return None;
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let profile = tempfile::tempdir().expect("a profile dir");
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                    "--disable-quic", "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    "--force-device-scale-factor=1",
                    format!("--user-data-dir={}", profile.path().display()),
                    format!("--window-size={width},{height}"),
                    "--lang=th-TH",
                ],
                "prefs": { "intl.accept_languages": "th-TH,th" },
            }),
        );
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            match ClientBuilder::new(connector)
                .capabilities(caps.clone())
                .connect(&url)
                .await
            {
                Ok(c) => break c,
                Err(e) if Instant::now() < deadline => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start Chromium through chromedriver: {e}"),
            }
        };
        // The viewport, not the window, is what a page sees: set it exactly.
        let browser = Browser {
            client,
            driver,
            _profile: profile,
        };
        browser.resize(width, height).await;
        Some(browser)
    }

    /// Makes the page's viewport `width` × `height` CSS pixels.
    pub async fn resize(&self, width: u32, height: u32) {
        self.client
            .set_window_size(width, height)
            .await
            .expect("resize");
        let inner: Value = self
            .client
            .execute("return [window.innerWidth, window.innerHeight];", vec![])
            .await
            .expect("viewport");
        let (iw, ih) = (
            inner[0].as_u64().unwrap_or(0),
            inner[1].as_u64().unwrap_or(0),
        );
        if iw as u32 != width || ih as u32 != height {
            let w = width + (width - iw as u32);
            let h = height + (height.saturating_sub(ih as u32));
            self.client.set_window_size(w, h).await.expect("resize");
        }
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("current url");
        match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        }
    }

    /// The element for `css`, waiting up to 10 s for it to appear.
    pub async fn find(&self, css: &str) -> Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    pub async fn exists(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    pub async fn body_text(&self) -> String {
        self.text("body").await
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Clicks something that loads a new page (a form's submit button, a link) and waits until
    /// the new page has loaded, so nothing is read from the old one.
    pub async fn submit(&self, css: &str) {
        self.js("window.__satangOldPage = true; return 1;").await;
        self.click(css).await;
        self.wait_for("!window.__satangOldPage && document.readyState === 'complete'")
            .await;
    }

    /// Replaces an input's value.
    pub async fn fill(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.clear().await.expect("clear");
        el.send_keys(value).await.expect("type");
    }

    pub async fn select(&self, css: &str, value: &str) {
        let el = self.find(css).await;
        el.select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value} in {css}: {e}"));
    }

    /// Waits until `condition` (a JavaScript expression) is true in the page.
    pub async fn wait_for(&self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = self
                .client
                .execute(&format!("return !!({condition});"), vec![])
                .await
                .map(|v| v == Value::Bool(true))
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {condition}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    pub async fn js_async(&self, script: &str) -> Value {
        self.client
            .execute_async(script, vec![])
            .await
            .expect("async script")
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }

    /// Runs axe-core in the page and returns its violations of impact serious or critical.
    /// axe.min.js comes from `npm pack axe-core` (see `.ci/run`); `None` when it is absent and
    /// the browser is not required.
    pub async fn serious_accessibility_violations(&self) -> Option<Vec<Value>> {
        let path = std::env::var("SATANG_AXE_JS").unwrap_or_else(|_| {
            format!(
                "{}/.cache/satang-axe/package/axe.min.js",
                std::env::var("HOME").unwrap_or_default()
            )
        });
        let Ok(source) = std::fs::read_to_string(&path) else {
            assert!(
                !required(),
                "SATANG_REQUIRE_BROWSER=1 but {path} is missing (npm pack axe-core)"
            );
            eprintln!("SKIPPED accessibility check: {path} missing");
            return None;
        };
        // Injected through WebDriver, so the page's CSP (no inline script) does not apply.
        self.client
            .execute(&source, vec![])
            .await
            .expect("inject axe");
        let result = self
            .js_async(
                "const done = arguments[arguments.length - 1];
                 axe.run(document, { resultTypes: ['violations'] })
                    .then(r => done(r.violations.filter(v => v.impact === 'serious' || v.impact === 'critical')
                        .map(v => ({ id: v.id, impact: v.impact, help: v.help,
                                     nodes: v.nodes.slice(0, 3).map(n => n.target.join(' ')) }))))
                    .catch(e => done([{ id: 'axe-error', help: String(e) }]));",
            )
            .await;
        Some(result.as_array().cloned().unwrap_or_default())
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
