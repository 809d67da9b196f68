use paperclip_domain::DomainError;
use paperclip_postgres::DbError;

/// Everything a store call can answer besides its result: a rule said no ([`DomainError`]), a
/// statement failed (with what we were doing), or the PostgreSQL layer or the secrets key did.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A domain rule said no (422/409/404/403).
    #[error(transparent)]
    Domain(#[from] DomainError),

    /// A statement failed; `context` says what we were doing.
    #[error("{context}: {source}")]
    Sql {
        context: String,
        #[source]
        source: sqlx::Error,
    },

    /// The PostgreSQL layer failed (connect, pool, unavailable).
    #[error(transparent)]
    Db(#[from] DbError),

    /// A secrets failure (bad material, wrong key).
    #[error(transparent)]
    Secrets(#[from] paperclip_secrets::SecretsError),

    /// The master key is not the one the stored secrets were encrypted with.
    #[error(
        "the secrets master key (fingerprint {current}) is not the key this database's secrets were encrypted with (fingerprint {stored}).\n\
         Restore the original key file or PAPERCLIP_SECRETS_MASTER_KEY{hint}"
    )]
    KeyMismatch {
        stored: String,
        current: String,
        hint: String,
    },
}

impl StoreError {
    /// A rule violation on `field` (422).
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        DomainError::invalid(field, message).into()
    }

    /// A conflict with the current state (409).
    pub fn conflict(message: impl Into<String>, details: serde_json::Value) -> Self {
        DomainError::conflict(message, details).into()
    }

    /// A referenced object that does not exist (404).
    pub fn not_found(message: impl Into<String>) -> Self {
        DomainError::NotFound(message.into()).into()
    }

    /// Something the actor may not do (403).
    pub fn forbidden(message: impl Into<String>) -> Self {
        DomainError::Forbidden(message.into()).into()
    }

    /// Parses stored text into a domain enum; text the CHECK constraints admit always parses,
    /// so a failure names `field` as a rule violation rather than panicking.
    pub fn parse_stored<T>(field: &'static str, text: &str) -> Result<T, Self>
    where
        T: std::str::FromStr<Err = paperclip_domain::UnknownValue>,
    {
        text.parse()
            .map_err(|e: paperclip_domain::UnknownValue| Self::invalid(field, e.to_string()))
    }

    /// Wraps a sqlx error with what we were doing.
    pub fn sql(context: impl Into<String>) -> impl FnOnce(sqlx::Error) -> Self {
        let context = context.into();
        move |source| Self::Sql { context, source }
    }
}
