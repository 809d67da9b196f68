//! A real browser for the board's tests: Debian's Chromium, driven over WebDriver by
//! ChromeDriver (`.ci/run` installs both). Headless, as root (hence `--no-sandbox`), with the
//! background networking a closed machine refuses turned off.

use std::process::Stdio;
use std::time::{Duration, Instant};

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// A running ChromeDriver; each [`Driver::session`] is a fresh browser profile.
pub struct Driver {
    url: String,
    _child: tokio::process::Child,
}

fn chromedriver() -> String {
    for p in ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"] {
        if std::path::Path::new(p).exists() {
            return p.into();
        }
    }
    panic!(
        "chromedriver is not installed: apt-get install chromium chromium-driver (.ci/run does)"
    );
}

impl Driver {
    pub async fn start() -> Self {
        let port = paperclip_testkit::free_port();
        let child = tokio::process::Command::new(chromedriver())
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("start chromedriver");
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while reqwest::get(format!("{url}/status")).await.is_err() {
            assert!(Instant::now() < deadline, "chromedriver did not start");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { url, _child: child }
    }

    /// A new browser window of `width`×`height`.
    pub async fn session(&self, width: u32, height: u32) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut caps = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage",
                    format!("--window-size={width},{height}"),
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        if width < 600 {
            // A desktop window cannot be narrower than ~500 px: a phone is emulated.
            caps["goog:chromeOptions"]["mobileEmulation"] = json!({
                "deviceMetrics": {"width": width, "height": height, "pixelRatio": 2, "touch": true}
            });
        }
        let Value::Object(caps) = caps else {
            unreachable!("an object literal")
        };
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a chromium session");
        Browser {
            client,
            _profile: profile,
        }
    }
}

pub struct Browser {
    pub client: Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("navigate");
    }

    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!(
                "no element {css:?} on {}: {e}; form errors: {}",
                self.url().await,
                self.form_errors().await
            ),
        }
    }

    /// Types into the field `css` (after clearing it).
    pub async fn fill(&self, css: &str, text: &str) {
        let e = self.find(css).await;
        e.clear().await.unwrap();
        e.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.unwrap();
    }

    /// Chooses the option of value `value` in the select `css`.
    pub async fn select(&self, css: &str, value: &str) {
        self.find(css)
            .await
            .select_by_value(value)
            .await
            .unwrap_or_else(|e| panic!("select {value:?} in {css:?}: {e}"));
    }

    /// What the page's forms report (for a failing test's message).
    pub async fn form_errors(&self) -> Value {
        self.client
            .execute(
                "return Array.from(document.querySelectorAll('.form-error')).map(e => e.textContent).filter(t => t)",
                vec![],
            )
            .await
            .unwrap_or(Value::Null)
    }

    pub async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.expect("script")
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.unwrap()
    }

    /// Waits (up to 30 s) until the page's `css` text contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let t = self
                .client
                .find(Locator::Css(css))
                .await
                .ok()
                .map(|e| async move { e.text().await.unwrap_or_default() });
            let t = match t {
                Some(f) => f.await,
                None => String::new(),
            };
            if t.contains(needle) {
                return;
            }
            if Instant::now() > deadline {
                panic!(
                    "{css:?} never showed {needle:?} on {}; it shows {t:?}; form errors: {}",
                    self.url().await,
                    self.form_errors().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the URL contains `part`.
    pub async fn wait_url(&self, part: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let u = self.url().await;
            if u.contains(part) {
                return u;
            }
            assert!(Instant::now() < deadline, "never reached {part:?}; at {u}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits until the page's socket is open (events after this reach it).
    pub async fn wait_live(&self) {
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.js("return document.body.dataset.live || ''").await != "open" {
            assert!(
                Instant::now() < deadline,
                "the page's live socket never opened"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Marks the current document; [`Browser::same_document`] then proves nothing reloaded it.
    pub async fn mark(&self) {
        self.js("window.__paperclipMark = 'kept'; return null")
            .await;
    }

    pub async fn same_document(&self) -> bool {
        self.js("return window.__paperclipMark === 'kept'").await == json!(true)
    }

    pub async fn screenshot(&self, path: &std::path::Path) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(path, png).expect("write screenshot");
    }

    pub async fn close(self) {
        let _ = self.client.close().await;
    }
}
