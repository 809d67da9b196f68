//! Both providers, for real: a folder, and moto's S3 server (multipart upload included).

use bytes::Bytes;
use futures_util::StreamExt;
use paperclip_config::{StorageProvider, StorageSettings};
use paperclip_storage::{Storage, StorageError};
use sha2::{Digest, Sha256};

fn settings(provider: StorageProvider) -> StorageSettings {
    StorageSettings {
        provider,
        max_bytes: 1 << 30,
        allowed_types: vec!["*".into()],
    }
}

fn s3(prefix: &str) -> (Storage, String) {
    let server = paperclip_testkit::s3_server();
    let bucket = format!("t-{}", uuid_like());
    server.create_bucket(&bucket);
    // moto accepts any credentials; object_store insists on some.
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let st = Storage::open(&settings(StorageProvider::S3 {
        bucket: bucket.clone(),
        region: "us-east-1".into(),
        endpoint: Some(server.endpoint.clone()),
        prefix: prefix.into(),
        force_path_style: true,
    }))
    .unwrap();
    (st, bucket)
}

fn uuid_like() -> String {
    use std::time::{SystemTime, UNIX_EPOCH};
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("{n:x}")
}

/// `total` bytes in 1 MiB chunks of a repeating pattern, and their SHA-256.
fn body(
    total: usize,
) -> (
    impl futures_util::Stream<Item = Result<Bytes, std::io::Error>>,
    String,
) {
    let chunk: Vec<u8> = (0..(1 << 20)).map(|i| (i % 251) as u8).collect();
    let mut h = Sha256::new();
    let mut left = total;
    let mut parts = Vec::new();
    while left > 0 {
        let n = left.min(chunk.len());
        h.update(&chunk[..n]);
        parts.push(Ok(Bytes::copy_from_slice(&chunk[..n])));
        left -= n;
    }
    (futures_util::stream::iter(parts), hex::encode(h.finalize()))
}

async fn read_all(st: &Storage, key: &str) -> (u64, String) {
    let mut d = st.get(key).await.unwrap();
    let mut h = Sha256::new();
    let mut n = 0u64;
    while let Some(c) = d.body.next().await {
        let c = c.unwrap();
        n += c.len() as u64;
        h.update(&c);
    }
    assert_eq!(n, d.size);
    (n, hex::encode(h.finalize()))
}

async fn round_trip(st: &Storage) {
    // 20 MiB: several 8 MiB parts on S3.
    let (b, sha) = body(20 << 20);
    let stored = st.put("c1/attachments/big", b, 1 << 30).await.unwrap();
    assert_eq!(stored.byte_size, 20 << 20);
    assert_eq!(stored.sha256, sha);
    assert_eq!(read_all(st, "c1/attachments/big").await, (20 << 20, sha));

    // Over the limit: refused, nothing kept.
    let (b, _) = body(3 << 20);
    let e = st
        .put("c1/attachments/toobig", b, 2 << 20)
        .await
        .unwrap_err();
    assert!(
        matches!(e, StorageError::TooLarge { limit } if limit == 2 << 20),
        "{e}"
    );
    assert!(matches!(
        st.get("c1/attachments/toobig").await,
        Err(StorageError::NotFound)
    ));

    // A body that breaks mid-way: nothing kept.
    let broken = futures_util::stream::iter(vec![
        Ok(Bytes::from(vec![1u8; 1 << 20])),
        Err(std::io::Error::other("client went away")),
    ]);
    let e = st
        .put("c1/attachments/broken", broken, 1 << 30)
        .await
        .unwrap_err();
    assert!(matches!(e, StorageError::Interrupted(_)), "{e}");
    assert!(matches!(
        st.get("c1/attachments/broken").await,
        Err(StorageError::NotFound)
    ));

    st.delete("c1/attachments/big").await.unwrap();
    assert!(matches!(
        st.get("c1/attachments/big").await,
        Err(StorageError::NotFound)
    ));
    // Deleting twice is fine.
    st.delete("c1/attachments/big").await.unwrap();
    st.probe().await.unwrap();
}

#[tokio::test]
async fn local_disk_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("storage");
    let st = Storage::open(&settings(StorageProvider::LocalDisk {
        base_dir: base.clone(),
    }))
    .unwrap();
    assert_eq!(st.provider(), "local_disk");
    round_trip(&st).await;
    // No staging files are left behind by the aborted uploads.
    let mut left = Vec::new();
    for e in walk(&base) {
        left.push(e);
    }
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[tokio::test]
async fn s3_round_trip_with_a_prefix() {
    let (st, bucket) = s3("paperclip/prod");
    assert_eq!(st.provider(), "s3");
    round_trip(&st).await;
    // Everything went under the prefix, and aborted uploads left nothing.
    let (b, _) = body(10);
    st.put("c2/x", b, 100).await.unwrap();
    let keys = paperclip_testkit::s3_server().keys(&bucket);
    assert_eq!(keys, vec!["paperclip/prod/c2/x".to_string()]);
}

#[tokio::test]
async fn an_unreachable_bucket_is_an_error_not_a_hang() {
    std::env::set_var("AWS_ACCESS_KEY_ID", "test");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "test");
    let port = paperclip_testkit::free_port();
    let st = Storage::open(&settings(StorageProvider::S3 {
        bucket: "nope".into(),
        region: "us-east-1".into(),
        endpoint: Some(format!("http://127.0.0.1:{port}")),
        prefix: String::new(),
        force_path_style: true,
    }))
    .unwrap();
    let e = tokio::time::timeout(std::time::Duration::from_secs(60), st.probe())
        .await
        .expect("the probe gives up")
        .unwrap_err();
    assert!(matches!(e, StorageError::Backend(_)), "{e}");
}
