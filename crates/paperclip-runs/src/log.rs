//! Run logs: one NDJSON file per run under the instance folder (`<company>/<agent>/<run>.ndjson`,
//! upstream's `local_file` store), each line `{"ts", "stream", "chunk"}`, with secret values
//! replaced before anything is written, and the byte count, SHA-256 and output excerpts the run
//! row records.

use std::path::{Component, Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt, BufWriter};
use uuid::Uuid;

use crate::Result;

/// What replaces a secret value in output.
pub const REDACTED: &str = "***REDACTED***";
/// Shorter values are not redacted (a two-letter "secret" would blank every such pair).
pub const MIN_REDACTED_LEN: usize = 4;
/// How much of the end of each stream the run row keeps.
const EXCERPT: usize = 4096;

/// Replaces known secret values in text.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    values: Vec<String>,
}

impl Redactor {
    /// Redacts these values (longest first, so a value containing another goes whole).
    pub fn new(values: impl IntoIterator<Item = String>) -> Self {
        let mut values: Vec<String> = values
            .into_iter()
            .filter(|v| v.len() >= MIN_REDACTED_LEN)
            .collect();
        values.sort_by_key(|v| std::cmp::Reverse(v.len()));
        values.dedup();
        Self { values }
    }

    pub fn apply(&self, text: &str) -> String {
        let mut out = text.to_string();
        for v in &self.values {
            if out.contains(v.as_str()) {
                out = out.replace(v.as_str(), REDACTED);
            }
        }
        out
    }
}

#[derive(Serialize)]
struct Line<'a> {
    ts: String,
    stream: &'a str,
    chunk: &'a str,
}

/// An open run log.
#[derive(Debug)]
pub struct LogWriter {
    file: BufWriter<tokio::fs::File>,
    sha: Sha256,
    bytes: u64,
    redactor: Redactor,
    stdout: String,
    stderr: String,
}

/// What the run row records about a finished log.
#[derive(Debug, Clone)]
pub struct LogSummary {
    pub bytes: i64,
    pub sha256: String,
    pub stdout_excerpt: Option<String>,
    pub stderr_excerpt: Option<String>,
}

/// `<company>/<agent>/<run>.ndjson`.
pub fn log_ref(company: Uuid, agent: Uuid, run: Uuid) -> String {
    format!("{company}/{agent}/{run}.ndjson")
}

/// The file of `log_ref` under `dir`; `None` for a reference that would leave `dir`.
pub fn path_of(dir: &Path, log_ref: &str) -> Option<PathBuf> {
    let rel = Path::new(log_ref);
    rel.components()
        .all(|c| matches!(c, Component::Normal(_)))
        .then(|| dir.join(rel))
}

impl LogWriter {
    /// Creates the log (and its folders, owner-only).
    pub async fn create(dir: &Path, log_ref: &str, redactor: Redactor) -> Result<Self> {
        let path =
            path_of(dir, log_ref).ok_or_else(|| std::io::Error::other("bad log reference"))?;
        if let Some(parent) = path.parent() {
            tokio::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .await?;
        }
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&path)
            .await?;
        Ok(Self {
            file: BufWriter::new(file),
            sha: Sha256::new(),
            bytes: 0,
            redactor,
            stdout: String::new(),
            stderr: String::new(),
        })
    }

    /// Appends one chunk of `stream` (redacted first); answers the redacted text.
    pub async fn write(&mut self, stream: &str, chunk: &str) -> Result<String> {
        let chunk = self.redactor.apply(chunk);
        let mut line = serde_json::to_vec(&Line {
            ts: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            stream,
            chunk: &chunk,
        })
        .expect("serializable");
        line.push(b'\n');
        self.file.write_all(&line).await?;
        // Whole lines reach the file as they come: a client polling the log (or a board page
        // woken by the live event for this chunk) reads them now, not at the end of the run.
        self.file.flush().await?;
        self.sha.update(&line);
        self.bytes += line.len() as u64;
        let tail = match stream {
            "stdout" => Some(&mut self.stdout),
            "stderr" => Some(&mut self.stderr),
            _ => None,
        };
        if let Some(t) = tail {
            t.push_str(&chunk);
            if t.len() > EXCERPT * 2 {
                let mut cut = t.len() - EXCERPT;
                while !t.is_char_boundary(cut) {
                    cut += 1;
                }
                t.drain(..cut);
            }
        }
        Ok(chunk)
    }

    /// Bytes written so far.
    pub fn bytes(&self) -> u64 {
        self.bytes
    }

    /// Flushes (and fsyncs) the log and answers its summary.
    pub async fn finish(mut self) -> Result<LogSummary> {
        self.file.flush().await?;
        self.file.get_ref().sync_data().await?;
        let excerpt = |s: &str| {
            let mut cut = s.len().saturating_sub(EXCERPT);
            while !s.is_char_boundary(cut) {
                cut += 1;
            }
            (!s.is_empty()).then(|| s[cut..].to_string())
        };
        Ok(LogSummary {
            bytes: i64::try_from(self.bytes).unwrap_or(i64::MAX),
            sha256: hex::encode(self.sha.finalize()),
            stdout_excerpt: excerpt(&self.stdout),
            stderr_excerpt: excerpt(&self.stderr),
        })
    }
}

/// A slice of a log.
#[derive(Debug, Clone, Serialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogChunk {
    /// The bytes from `offset` (whole NDJSON lines when the log is complete up to there).
    pub content: String,
    pub offset: u64,
    /// Where the next read starts.
    pub next_offset: u64,
    /// The log's size now.
    pub size: u64,
}

/// Reads up to `limit` bytes of a log from `offset`; the slice ends at a line boundary when one
/// is within it, so a client polling `nextOffset` never sees half a line.
pub async fn read(dir: &Path, log_ref: &str, offset: u64, limit: u64) -> Result<Option<LogChunk>> {
    let Some(path) = path_of(dir, log_ref) else {
        return Ok(None);
    };
    let mut file = match tokio::fs::File::open(&path).await {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let size = file.metadata().await?.len();
    let start = offset.min(size);
    file.seek(std::io::SeekFrom::Start(start)).await?;
    let mut buf = Vec::new();
    file.take(limit).read_to_end(&mut buf).await?;
    if start + (buf.len() as u64) < size {
        if let Some(i) = buf.iter().rposition(|b| *b == b'\n') {
            buf.truncate(i + 1);
        }
    }
    let next = start + buf.len() as u64;
    Ok(Some(LogChunk {
        content: String::from_utf8_lossy(&buf).into_owned(),
        offset: start,
        next_offset: next,
        size,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_takes_the_longest_value_first_and_skips_tiny_ones() {
        let r = Redactor::new([
            "sk-abc".to_string(),
            "sk-abc-long".to_string(),
            "ab".to_string(),
        ]);
        assert_eq!(
            r.apply("k=sk-abc-long and sk-abc, ab"),
            format!("k={REDACTED} and {REDACTED}, ab")
        );
    }

    #[test]
    fn log_references_cannot_leave_the_folder() {
        let d = Path::new("/x");
        assert!(path_of(d, "a/b/c.ndjson").is_some());
        assert!(path_of(d, "../etc/passwd").is_none());
        assert!(path_of(d, "/etc/passwd").is_none());
    }

    #[tokio::test]
    async fn a_log_is_hashed_redacted_and_read_by_whole_lines() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = LogWriter::create(
            dir.path(),
            "c/a/r.ndjson",
            Redactor::new(["hunter22".to_string()]),
        )
        .await
        .unwrap();
        w.write("stdout", "password hunter22\n").await.unwrap();
        w.write("stderr", "oops\n").await.unwrap();
        let s = w.finish().await.unwrap();
        let raw = std::fs::read(dir.path().join("c/a/r.ndjson")).unwrap();
        assert_eq!(s.bytes as usize, raw.len());
        assert_eq!(s.sha256, hex::encode(Sha256::digest(&raw)));
        assert!(!String::from_utf8_lossy(&raw).contains("hunter22"));
        assert_eq!(
            s.stdout_excerpt.as_deref(),
            Some(format!("password {REDACTED}\n").as_str())
        );
        let first = read(dir.path(), "c/a/r.ndjson", 0, raw.len() as u64 - 3)
            .await
            .unwrap()
            .unwrap();
        assert!(
            first.content.ends_with('\n') && first.content.lines().count() == 1,
            "{first:?}"
        );
        let rest = read(dir.path(), "c/a/r.ndjson", first.next_offset, 1 << 20)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rest.next_offset, rest.size);
    }
}
