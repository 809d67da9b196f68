//! Where attachment bytes live: a folder on this machine (`local_disk`) or an S3-compatible
//! bucket (`s3`), chosen once from [`paperclip_config::StorageSettings`].
//!
//! Context: uploads can be far larger than the server's memory budget, so bytes are streamed
//! both ways: [`Storage::put`] writes chunk by chunk (multipart for S3), counting and hashing as
//! it goes, and [`Storage::get`] hands back a stream. The database row that names an object is
//! written only after the object is complete, so a row never points at half a file; an object
//! whose row could not be written is deleted again.
//!
//! Invariant: nothing beyond the size limit is ever stored — the write is aborted as soon as the
//! count passes it.

pub mod content;

use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::{BoxStream, Stream, StreamExt};
use object_store::aws::AmazonS3Builder;
use object_store::buffered::BufWriter;
use object_store::local::LocalFileSystem;
use object_store::path::Path as ObjectPath;
use object_store::prefix::PrefixStore;
use object_store::ObjectStore;
use paperclip_config::{StorageProvider, StorageSettings};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

/// What can go wrong with stored bytes.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The upload passed the size limit; nothing was kept.
    #[error("the file is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    /// The client's body failed mid-upload (disconnect, timeout); nothing was kept.
    #[error("the upload was interrupted: {0}")]
    Interrupted(String),
    /// No object under that key.
    #[error("the stored file is missing")]
    NotFound,
    /// The provider could not be set up.
    #[error("storage is misconfigured: {0}")]
    Config(String),
    /// The provider failed.
    #[error("storage failed: {0}")]
    Backend(#[source] object_store::Error),
}

/// `Result` with [`StorageError`].
pub type Result<T, E = StorageError> = std::result::Result<T, E>;

fn backend(e: object_store::Error) -> StorageError {
    match e {
        object_store::Error::NotFound { .. } => StorageError::NotFound,
        e => StorageError::Backend(e),
    }
}

/// An object that was written completely.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    /// Bytes written.
    pub byte_size: u64,
    /// Lower-case hex SHA-256 of the bytes.
    pub sha256: String,
    /// The first [`content::HEAD_BYTES`] bytes, for [`content::signature_matches`].
    pub head: Vec<u8>,
}

/// An object being read.
pub struct Download {
    /// Its size in bytes.
    pub size: u64,
    /// Its bytes, in order.
    pub body: BoxStream<'static, Result<Bytes>>,
}

impl std::fmt::Debug for Download {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Download")
            .field("size", &self.size)
            .finish()
    }
}

/// The configured provider.
#[derive(Debug, Clone)]
pub struct Storage {
    store: Arc<dyn ObjectStore>,
    provider: &'static str,
    /// Where it is, for logs and `doctor` (a folder, or `s3://bucket/prefix`).
    location: String,
}

/// S3 parts are at least 5 MiB; 8 MiB parts keep memory per upload small and bounded.
const PART_BYTES: usize = 8 << 20;

/// Parts in flight per upload. object_store's default (8) would hold 64 MiB per upload; two
/// keep a fast link busy at a quarter of that.
const PARTS_IN_FLIGHT: usize = 2;

impl Storage {
    /// Opens the provider `settings` names (creating the local folder if needed). Nothing is
    /// contacted yet: an unreachable bucket shows up at the first upload (and in `doctor`).
    pub fn open(settings: &StorageSettings) -> Result<Self> {
        match &settings.provider {
            StorageProvider::LocalDisk { base_dir } => {
                std::fs::create_dir_all(base_dir).map_err(|e| {
                    StorageError::Config(format!("cannot create {}: {e}", base_dir.display()))
                })?;
                let fs = LocalFileSystem::new_with_prefix(base_dir).map_err(|e| {
                    StorageError::Config(format!("cannot use {}: {e}", base_dir.display()))
                })?;
                Ok(Self {
                    store: Arc::new(fs),
                    provider: "local_disk",
                    location: base_dir.display().to_string(),
                })
            }
            StorageProvider::S3 {
                bucket,
                region,
                endpoint,
                prefix,
                force_path_style,
            } => {
                // Credentials (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, or the
                // instance role) the way every AWS tool finds them.
                let mut b = AmazonS3Builder::from_env()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_virtual_hosted_style_request(!force_path_style);
                if let Some(e) = endpoint {
                    b = b.with_endpoint(e).with_allow_http(e.starts_with("http://"));
                }
                let s3 = b.build().map_err(|e| StorageError::Config(e.to_string()))?;
                let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
                    Arc::new(s3)
                } else {
                    Arc::new(PrefixStore::new(s3, prefix.as_str()))
                };
                Ok(Self {
                    store,
                    provider: "s3",
                    location: format!("s3://{bucket}/{prefix}"),
                })
            }
        }
    }

    /// `local_disk` or `s3`.
    pub fn provider(&self) -> &'static str {
        self.provider
    }

    /// Where the bytes go, for people.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Streams `body` into `key`, at most `limit` bytes. On any failure (too large, the body
    /// broke, the provider failed) the partial object is aborted and nothing is kept.
    pub async fn put<S, E>(&self, key: &str, body: S, limit: u64) -> Result<Stored>
    where
        S: Stream<Item = Result<Bytes, E>> + Send,
        E: std::fmt::Display,
    {
        let path = ObjectPath::from(key);
        let mut w = BufWriter::with_capacity(self.store.clone(), path, PART_BYTES)
            .with_max_concurrency(PARTS_IN_FLIGHT);
        let mut hash = Sha256::new();
        let mut size: u64 = 0;
        let mut head = Vec::with_capacity(content::HEAD_BYTES);
        let mut body = std::pin::pin!(body);
        // BufWriter panics on `abort` after `shutdown`; a failed shutdown has nothing to abort.
        let mut finishing = false;
        let outcome: Result<()> = async {
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| StorageError::Interrupted(e.to_string()))?;
                size += chunk.len() as u64;
                if size > limit {
                    return Err(StorageError::TooLarge { limit });
                }
                hash.update(&chunk);
                if head.len() < content::HEAD_BYTES {
                    let take = (content::HEAD_BYTES - head.len()).min(chunk.len());
                    head.extend_from_slice(&chunk[..take]);
                }
                w.put(chunk).await.map_err(backend)?;
            }
            finishing = true;
            w.shutdown().await.map_err(|e| {
                StorageError::Backend(object_store::Error::Generic {
                    store: "storage",
                    source: Box::new(e),
                })
            })
        }
        .await;
        if let Err(e) = outcome {
            if finishing {
                return Err(e);
            }
            if let Err(abort) = w.abort().await {
                tracing::warn!(key, error = %abort, "cannot abort a partial upload");
            }
            return Err(e);
        }
        Ok(Stored {
            byte_size: size,
            sha256: hex::encode(hash.finalize()),
            head,
        })
    }

    /// Opens `key` for reading.
    pub async fn get(&self, key: &str) -> Result<Download> {
        let got = self
            .store
            .get(&ObjectPath::from(key))
            .await
            .map_err(backend)?;
        let size = got.meta.size;
        let body = got.into_stream().map(|r| r.map_err(backend)).boxed();
        Ok(Download { size, body })
    }

    /// Removes `key`; a key that is already gone is not an error.
    pub async fn delete(&self, key: &str) -> Result<()> {
        match self.store.delete(&ObjectPath::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(backend(e)),
        }
    }

    /// Proves the provider answers: writes, reads back and deletes a small probe object.
    pub async fn probe(&self) -> Result<()> {
        let key = format!(".paperclip-probe-{}", std::process::id());
        let data = Bytes::from_static(b"paperclip storage probe");
        let chunks = futures_util::stream::iter([Ok::<_, std::io::Error>(data.clone())]);
        self.put(&key, chunks, 1024).await?;
        let mut got = self.get(&key).await?;
        let mut back = Vec::new();
        while let Some(c) = got.body.next().await {
            back.extend_from_slice(&c?);
        }
        self.delete(&key).await?;
        if back != data {
            return Err(StorageError::Config(
                "the probe object came back different".into(),
            ));
        }
        Ok(())
    }
}
