//! What an upload may be, and how it is served back.
//!
//! Context: attachments come from agents and from anyone who can reach the board. A file served
//! from our origin must never run as a page there, so: only listed types are accepted, an image
//! or archive must start with its format's signature (a "PNG" that is really HTML is refused),
//! and downloads carry `nosniff`, a sandboxing CSP and `Content-Disposition` (inline only for the
//! raster images the board shows).

/// The lower-case `type/subtype` of a Content-Type value, or `None` when it is not one.
pub fn essence(content_type: &str) -> Option<String> {
    let main = content_type.split(';').next()?.trim().to_ascii_lowercase();
    let (t, s) = main.split_once('/')?;
    let token = |x: &str| {
        !x.is_empty()
            && x.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"!#$&-^_.+".contains(&b))
    };
    (token(t) && token(s)).then_some(main)
}

/// Whether `essence` is in `allowed` (`type/subtype`, `type/*` or `*`).
pub fn allowed(essence: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|a| {
        a == "*"
            || a == essence
            || a.strip_suffix("/*")
                .is_some_and(|t| essence.split('/').next() == Some(t))
    })
}

/// Bytes [`Stored::head`](crate::Stored) keeps for [`signature_matches`].
pub const HEAD_BYTES: usize = 16;

/// Whether the first bytes of a file match what its declared type starts with. Types without a
/// fixed signature (text, JSON, octet-stream) always match.
pub fn signature_matches(essence: &str, head: &[u8]) -> bool {
    let starts = |m: &[u8]| head.starts_with(m);
    match essence {
        "image/png" => starts(b"\x89PNG\r\n\x1a\n"),
        "image/jpeg" => starts(b"\xff\xd8\xff"),
        "image/gif" => starts(b"GIF87a") || starts(b"GIF89a"),
        "image/webp" => starts(b"RIFF") && head.get(8..12) == Some(b"WEBP"),
        "application/pdf" => starts(b"%PDF-"),
        "application/zip" => starts(b"PK\x03\x04") || starts(b"PK\x05\x06"),
        "application/gzip" => starts(b"\x1f\x8b"),
        _ => true,
    }
}

/// `inline` for the raster images the board displays, `attachment` for everything else.
pub fn disposition(essence: &str) -> &'static str {
    match essence {
        "image/png" | "image/jpeg" | "image/gif" | "image/webp" => "inline",
        _ => "attachment",
    }
}

/// A `Content-Disposition` value carrying `filename` safely: an ASCII fallback (quotes,
/// backslashes and control characters replaced) plus the exact name in RFC 5987 form.
pub fn content_disposition(kind: &str, filename: &str) -> String {
    let ascii: String = filename
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in filename.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(b as char);
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

/// A file name as given, cut to its last path segment, without control characters, at most 255
/// bytes; `None` when nothing is left.
pub fn clean_filename(raw: &str) -> Option<String> {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or(raw);
    let mut name: String = last.chars().filter(|c| !c.is_control()).collect();
    name = name.trim().to_string();
    while name.len() > 255 {
        name.pop();
    }
    (!name.is_empty() && name != "." && name != "..").then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_normalized_and_matched() {
        assert_eq!(
            essence("Image/PNG; charset=x").as_deref(),
            Some("image/png")
        );
        assert_eq!(essence("png"), None);
        assert_eq!(essence("text/<script>"), None);
        let list = vec!["image/*".to_string(), "application/pdf".to_string()];
        assert!(allowed("image/webp", &list));
        assert!(allowed("application/pdf", &list));
        assert!(!allowed("text/html", &list));
        assert!(allowed("text/html", &["*".to_string()]));
    }

    #[test]
    fn signatures_catch_disguised_files() {
        assert!(signature_matches("image/png", b"\x89PNG\r\n\x1a\n0000"));
        assert!(!signature_matches("image/png", b"<html><script>"));
        assert!(!signature_matches("application/pdf", b"<svg"));
        assert!(signature_matches("text/plain", b"anything"));
    }

    #[test]
    fn names_are_made_safe() {
        assert_eq!(
            clean_filename("../../etc/passwd").as_deref(),
            Some("passwd")
        );
        assert_eq!(
            clean_filename("C:\\x\\report.pdf").as_deref(),
            Some("report.pdf")
        );
        assert_eq!(clean_filename("a\r\nb.txt").as_deref(), Some("ab.txt"));
        assert_eq!(clean_filename(".."), None);
        let d = content_disposition("attachment", "bé\"\r\n.txt");
        assert_eq!(
            d,
            "attachment; filename=\"b____.txt\"; filename*=UTF-8''b%C3%A9%22%0D%0A.txt"
        );
    }
}
