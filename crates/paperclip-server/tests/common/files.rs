//! Helpers of the tests that store files: raw uploads and what is left in the storage folder.

use reqwest::StatusCode;
use serde_json::Value;

use super::{id, TestApp};

/// Every file under `dir` (none when it does not exist).
pub fn files_in(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return out;
    };
    for e in rd {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(files_in(&p));
        } else {
            out.push(p);
        }
    }
    out
}

impl TestApp {
    /// The `local_disk` storage folder of this server.
    pub fn storage_dir(&self) -> std::path::PathBuf {
        self.instance.join("data").join("storage")
    }

    /// How many files the storage folder holds.
    pub fn stored_files(&self) -> usize {
        files_in(&self.storage_dir()).len()
    }

    /// Uploads `body` as the raw bytes of one request with `content_type`.
    pub async fn upload_raw(
        &self,
        path: &str,
        content_type: &str,
        body: reqwest::Body,
    ) -> (StatusCode, Value) {
        let res = self
            .client
            .post(format!("{}{}", self.base, path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
        )
    }

    /// Attaches a small text file to `issue`; answers the attachment.
    pub async fn attach_text(&self, c: &Value, issue: &Value, text: &str) -> Value {
        let path = format!(
            "/companies/{}/issues/{}/attachments?filename=f.txt",
            id(c),
            id(issue)
        );
        let (s, a) = self
            .upload_raw(&path, "text/plain", reqwest::Body::from(text.to_string()))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{a}");
        a
    }
}
