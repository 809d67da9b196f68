//! Attachments for real: uploads streamed to a folder and to an S3-compatible server (moto),
//! downloads served safely, refusals that keep nothing, deletes that remove the bytes.

mod common;

use common::files::files_in;
use common::*;
use futures_util::StreamExt;
use paperclip_config::{StorageProvider, StorageSettings};
use paperclip_server::files::Files;
use reqwest::multipart::{Form, Part};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR-not-really-but-signed";

impl TestApp {
    async fn upload(&self, path: &str, form: Form, token: Option<&str>) -> (StatusCode, Value) {
        let mut req = self
            .client
            .post(format!("{}{}", self.base, path))
            .multipart(form);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let text = res.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("{status}: {text}")),
        )
    }

    /// Downloads an attachment: status, headers, and the bytes' length and SHA-256.
    async fn download(&self, id: &str) -> (StatusCode, reqwest::header::HeaderMap, u64, String) {
        let res = self
            .client
            .get(format!("{}/attachments/{id}/content", self.base))
            .send()
            .await
            .unwrap();
        let status = res.status();
        let headers = res.headers().clone();
        let mut stream = res.bytes_stream();
        let mut h = Sha256::new();
        let mut n = 0u64;
        while let Some(c) = stream.next().await {
            let c = c.unwrap();
            n += c.len() as u64;
            h.update(&c);
        }
        (status, headers, n, hex::encode(h.finalize()))
    }
}

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// `total` bytes of a repeating pattern as a streamed body (never whole in memory) and its hash.
fn streamed(total: usize) -> (reqwest::Body, String) {
    let chunk: Vec<u8> = (0..(256 << 10)).map(|i| (i % 253) as u8).collect();
    let mut h = Sha256::new();
    let mut left = total;
    while left > 0 {
        let n = left.min(chunk.len());
        h.update(&chunk[..n]);
        left -= n;
    }
    let chunk = bytes::Bytes::from(chunk);
    let stream = futures_util::stream::unfold(total, move |left| {
        let chunk = chunk.clone();
        async move {
            (left > 0).then(|| {
                let n = left.min(chunk.len());
                (Ok::<_, std::io::Error>(chunk.slice(..n)), left - n)
            })
        }
    });
    (
        reqwest::Body::wrap_stream(stream),
        hex::encode(h.finalize()),
    )
}

#[tokio::test]
async fn files_round_trip_on_issues_and_comments_and_deletes_remove_the_bytes() {
    let app = TestApp::spawn().await;
    let c = app.company("Files Co").await;
    let issue = app.issue(&c, json!({"title": "with files"})).await;
    let up = format!("/companies/{}/issues/{}/attachments", id(&c), id(&issue));

    let form = Form::new().part(
        "file",
        Part::bytes(PNG.to_vec())
            .file_name("shot.png")
            .mime_str("image/png")
            .unwrap(),
    );
    let (s, a) = app.upload(&up, form, None).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["contentType"], "image/png");
    assert_eq!(a["originalFilename"], "shot.png");
    assert_eq!(a["byteSize"], PNG.len());
    assert_eq!(a["sha256"], sha(PNG));
    assert_eq!(a["provider"], "local_disk");
    assert_eq!(a["issueId"], id(&issue));
    assert_eq!(
        a["contentPath"],
        format!("/api/attachments/{}/content", id(&a))
    );

    let (s, h, n, digest) = app.download(id(&a)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!((n, digest), (PNG.len() as u64, sha(PNG)));
    assert_eq!(h["content-type"], "image/png");
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert!(h["content-disposition"]
        .to_str()
        .unwrap()
        .starts_with("inline; filename=\"shot.png\""));
    assert!(h["content-security-policy"]
        .to_str()
        .unwrap()
        .starts_with("sandbox"));

    // Raw bytes, named by the query; text is served as a download, never inline.
    let (s, t) = app
        .upload_raw(
            &format!("{up}?filename=..%2F..%2Fnotes%20%C3%A9.txt"),
            "text/plain; charset=utf-8",
            reqwest::Body::from("hello <script>alert(1)</script>"),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["originalFilename"], "notes é.txt");
    assert_eq!(t["contentType"], "text/plain");
    let (_, h, _, _) = app.download(id(&t)).await;
    assert_eq!(
        h["content-disposition"],
        "attachment; filename=\"notes _.txt\"; filename*=UTF-8''notes%20%C3%A9.txt"
    );

    // On a comment.
    let (_, cm) = app
        .post(
            &format!("/issues/{}/comments", id(&issue)),
            json!({"body": "see file"}),
        )
        .await;
    let form = Form::new()
        .text("issueCommentId", id(&cm).to_string())
        .part(
            "file",
            Part::bytes(b"{\"a\":1}".to_vec())
                .file_name("d.json")
                .mime_str("application/json")
                .unwrap(),
        );
    let (s, ca) = app.upload(&up, form, None).await;
    assert_eq!(s, StatusCode::CREATED, "{ca}");
    assert_eq!(ca["issueCommentId"], id(&cm));

    let (_, list) = app
        .get(&format!("/issues/{}/attachments", id(&issue)))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 3, "{list}");
    assert_eq!(files_in(&app.storage_dir()).len(), 3);

    // Deleting the comment removes its attachment, rows and bytes.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/issues/{}/comments/{}", id(&issue), id(&cm)),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let (_, list) = app
        .get(&format!("/issues/{}/attachments", id(&issue)))
        .await;
    assert_eq!(list.as_array().unwrap().len(), 2, "{list}");
    assert_eq!(files_in(&app.storage_dir()).len(), 2);

    // Deleting an attachment removes its bytes; its content is then 404.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/attachments/{}", id(&t)),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(files_in(&app.storage_dir()).len(), 1);
    let (s, _, _, _) = app.download(id(&t)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // The audit log saw it all.
    let (_, act) = app.get(&format!("/issues/{}/activity", id(&issue))).await;
    let actions: Vec<&str> = act
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["action"].as_str())
        .collect();
    assert!(actions.contains(&"issue.attachment_added"), "{actions:?}");
    assert!(actions.contains(&"issue.attachment_removed"), "{actions:?}");
}

#[tokio::test]
async fn refused_uploads_name_the_problem_and_keep_nothing() {
    let app = TestApp::spawn_with(|cfg| cfg.files.max_bytes = 1 << 20).await;
    let c = app.company("Strict Files").await;
    let issue = app.issue(&c, json!({"title": "t"})).await;
    let other = app.issue(&c, json!({"title": "other"})).await;
    let up = format!("/companies/{}/issues/{}/attachments", id(&c), id(&issue));
    let file = |bytes: &[u8], name: &str, ct: &str| {
        Part::bytes(bytes.to_vec())
            .file_name(name.to_string())
            .mime_str(ct)
            .unwrap()
    };

    // HTML dressed as a PNG.
    let (s, e) = app
        .upload(
            &up,
            Form::new().part(
                "file",
                file(b"<html><script>x</script>", "a.png", "image/png"),
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["details"][0]["path"][0], "contentType", "{e}");
    // A type not on the list.
    let (s, e) = app
        .upload(
            &up,
            Form::new().part("file", file(b"<svg/>", "a.svg", "image/svg+xml")),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("image/svg+xml"),
        "{e}"
    );
    // A field nobody reads.
    let form = Form::new()
        .text("caption", "hi")
        .part("file", file(b"x", "a.txt", "text/plain"));
    let (s, e) = app.upload(&up, form, None).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");
    assert_eq!(e["details"][0]["path"][0], "caption", "{e}");
    // No file at all.
    let (s, e) = app
        .upload(&up, Form::new().text("issueCommentId", "x"), None)
        .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    // A comment of another issue.
    let (_, cm) = app
        .post(
            &format!("/issues/{}/comments", id(&other)),
            json!({"body": "elsewhere"}),
        )
        .await;
    let form = Form::new()
        .text("issueCommentId", id(&cm).to_string())
        .part("file", file(b"x", "a.txt", "text/plain"));
    let (s, e) = app.upload(&up, form, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["details"][0]["path"][0], "issueCommentId", "{e}");
    // Too large, declared (refused before reading) and chunked (refused while streaming).
    let (s, e) = app
        .upload_raw(
            &up,
            "application/octet-stream",
            reqwest::Body::from(vec![0u8; 2 << 20]),
        )
        .await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    let (body, _) = streamed(3 << 20);
    let (s, e) = app.upload_raw(&up, "application/octet-stream", body).await;
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "{e}");
    assert!(e["error"].as_str().unwrap().contains("1048576"), "{e}");
    // An unknown query parameter on a raw upload.
    let (s, e) = app
        .upload_raw(
            &format!("{up}?name=x"),
            "text/plain",
            reqwest::Body::from("x"),
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "{e}");

    assert!(
        files_in(&app.storage_dir()).is_empty(),
        "{:?}",
        files_in(&app.storage_dir())
    );
    let (_, list) = app
        .get(&format!("/issues/{}/attachments", id(&issue)))
        .await;
    assert_eq!(list, json!([]));
}

#[tokio::test]
async fn agents_see_only_their_company_and_delete_only_their_own() {
    let app = TestApp::spawn().await;
    let c = app.company("Mine").await;
    let theirs = app.company("Theirs").await;
    let me = app.agent(&c, "Uploader").await;
    let peer = app.agent(&c, "Peer").await;
    let stranger = app.agent(&theirs, "Stranger").await;
    let (me_key, peer_key, stranger_key) = (
        app.key(&me).await,
        app.key(&peer).await,
        app.key(&stranger).await,
    );
    let issue = app.issue(&c, json!({"title": "t"})).await;
    let up = format!("/companies/{}/issues/{}/attachments", id(&c), id(&issue));
    let part = || {
        Form::new().part(
            "file",
            Part::bytes(b"report".to_vec())
                .file_name("r.txt")
                .mime_str("text/plain")
                .unwrap(),
        )
    };

    let (s, _) = app.upload(&up, part(), Some(&stranger_key)).await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );
    let (s, a) = app.upload(&up, part(), Some(&me_key)).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["createdByAgentId"], id(&me));

    let (s, _) = app
        .call(
            Method::GET,
            &format!("/attachments/{}/content", id(&a)),
            None,
            Some(&stranger_key),
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/attachments/{}", id(&a)),
            None,
            Some(&peer_key),
        )
        .await;
    assert_eq!(s, StatusCode::FORBIDDEN);
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/attachments/{}", id(&a)),
            None,
            Some(&me_key),
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

/// 40 MiB through a server whose JSON bodies are capped at 1 MiB: the upload streams to
/// storage and back without ever being a body in memory. Both providers.
async fn large_round_trip(app: &TestApp) {
    let c = app.company("Big Files").await;
    let issue = app.issue(&c, json!({"title": "big"})).await;
    let up = format!(
        "/companies/{}/issues/{}/attachments?filename=big.bin",
        id(&c),
        id(&issue)
    );
    let size = 40 << 20;
    let (body, digest) = streamed(size);
    let (s, a) = app.upload_raw(&up, "application/octet-stream", body).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["byteSize"], size);
    assert_eq!(a["sha256"], digest);
    let (s, h, n, got) = app.download(id(&a)).await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["content-length"], size.to_string().as_str());
    assert_eq!((n, got), (size as u64, digest));
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/attachments/{}", id(&a)),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn a_file_larger_than_any_body_streams_on_local_disk() {
    let app = TestApp::spawn_with(|cfg| cfg.files.max_bytes = 64 << 20).await;
    large_round_trip(&app).await;
    assert!(files_in(&app.storage_dir()).is_empty());
}

#[tokio::test]
async fn a_file_larger_than_any_body_streams_on_s3() {
    let s3 = paperclip_testkit::s3_server();
    let bucket = format!("pc-{}", uuid::Uuid::new_v4().simple());
    s3.create_bucket(&bucket);
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let settings = StorageSettings {
        provider: StorageProvider::S3 {
            bucket: bucket.clone(),
            region: "us-east-1".into(),
            endpoint: Some(s3.endpoint.clone()),
            prefix: "attachments".into(),
            force_path_style: true,
        },
        max_bytes: 64 << 20,
        allowed_types: vec!["*".into()],
    };
    let app = TestApp::spawn_with(|cfg| cfg.files = Files::open(&settings).unwrap()).await;
    let c = app.company("S3 Co").await;
    let issue = app.issue(&c, json!({"title": "s3"})).await;
    let up = format!("/companies/{}/issues/{}/attachments", id(&c), id(&issue));
    let (s, a) = app
        .upload(
            &up,
            Form::new().part(
                "file",
                Part::bytes(PNG.to_vec())
                    .file_name("p.png")
                    .mime_str("image/png")
                    .unwrap(),
            ),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["provider"], "s3");
    let keys = s3.keys(&bucket);
    assert_eq!(
        keys,
        vec![format!("attachments/{}", a["objectKey"].as_str().unwrap())]
    );
    large_round_trip(&app).await;
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/attachments/{}", id(&a)),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(s3.keys(&bucket).is_empty(), "{:?}", s3.keys(&bucket));
}

#[tokio::test]
async fn company_images_are_images_of_one_company() {
    let app = TestApp::spawn().await;
    let c = app.company("Logo Co").await;
    let other = app.company("Other Logo Co").await;
    let stranger = app.agent(&other, "Stranger").await;
    let key = app.key(&stranger).await;
    let up = format!("/companies/{}/assets/images", id(&c));
    let png = || {
        Part::bytes(PNG.to_vec())
            .file_name("logo.png")
            .mime_str("image/png")
            .unwrap()
    };
    let (s, a) = app.upload(&up, Form::new().part("file", png()), None).await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["contentPath"], format!("/api/assets/{}/content", id(&a)));
    assert_eq!(a["sha256"], sha(PNG));
    let res = app
        .client
        .get(format!("{}/assets/{}/content", app.base, id(&a)))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["content-type"], "image/png");
    assert_eq!(res.bytes().await.unwrap().as_ref(), PNG);
    let (s, _) = app
        .call(
            Method::GET,
            &format!("/assets/{}/content", id(&a)),
            None,
            Some(&key),
        )
        .await;
    assert!(
        s == StatusCode::NOT_FOUND || s == StatusCode::FORBIDDEN,
        "{s}"
    );
    // Only raster images, on no comment.
    let text = Part::bytes(b"hello".to_vec())
        .file_name("a.txt")
        .mime_str("text/plain")
        .unwrap();
    let (s, e) = app.upload(&up, Form::new().part("file", text), None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["details"][0]["path"][0], "contentType");
    let form = Form::new()
        .text("issueCommentId", uuid::Uuid::new_v4().to_string())
        .part("file", png());
    let (s, e) = app.upload(&up, form, None).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["details"][0]["path"][0], "issueCommentId");
    // The attachment's asset id serves its bytes too.
    let issue = app.issue(&c, json!({"title": "t"})).await;
    let (_, att) = app
        .upload_raw(
            &format!("/companies/{}/issues/{}/attachments", id(&c), id(&issue)),
            "text/plain",
            reqwest::Body::from("via asset"),
        )
        .await;
    let body = app
        .client
        .get(format!(
            "{}/assets/{}/content",
            app.base,
            att["assetId"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(body.text().await.unwrap(), "via asset");
    // Company deletion removes images too.
    let (s, _) = app
        .call(
            Method::DELETE,
            &format!("/companies/{}", id(&c)),
            None,
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(files_in(&app.storage_dir()).is_empty());
}
