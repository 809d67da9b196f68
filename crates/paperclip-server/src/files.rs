//! Attachment storage as the handlers see it: the provider chosen at startup and the upload
//! rules (size limit, accepted types).

use paperclip_config::StorageSettings;
use paperclip_storage::Storage;

/// The configured storage and its rules.
#[derive(Debug, Clone)]
pub struct Files {
    /// Where bytes go.
    pub storage: Storage,
    /// Largest upload in bytes.
    pub max_bytes: u64,
    /// Accepted content types (`type/subtype`, `type/*`, `*`).
    pub allowed_types: Vec<String>,
}

impl Files {
    /// Opens the provider `settings` names.
    pub fn open(settings: &StorageSettings) -> paperclip_storage::Result<Self> {
        Ok(Self {
            storage: Storage::open(settings)?,
            max_bytes: settings.max_bytes,
            allowed_types: settings.allowed_types.clone(),
        })
    }

    /// The largest request body an upload route accepts: the file plus room for multipart
    /// framing and small form fields.
    pub fn upload_body_limit(&self) -> u64 {
        self.max_bytes.saturating_add(64 << 10)
    }
}

/// A company bundle's files go through the same storage as uploads.
impl paperclip_store::portability::Blobs for Files {
    async fn read(&self, key: &str) -> Result<Vec<u8>, String> {
        use futures_util::TryStreamExt;
        let d = self.storage.get(key).await.map_err(|e| e.to_string())?;
        let chunks: Vec<bytes::Bytes> = d.body.try_collect().await.map_err(|e| e.to_string())?;
        Ok(chunks.concat())
    }

    async fn write(&self, key: &str, bytes: Vec<u8>) -> Result<(), String> {
        let body = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from(bytes))]);
        self.storage
            .put(key, body, u64::MAX)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }
}
