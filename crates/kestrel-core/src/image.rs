//! [`Image`]: DSPy's `dspy.Image`, an image given by URL (`http(s)://`,
//! `gs://`) or inline as a `data:` URL, and how it is written into prompt
//! text (DSPy's custom-type markers around an `image_url` content part).
//!
//! Construction never touches the network or the file system, as in DSPy
//! 3.4.1. Bytes become a base64 data URL with the MIME type read from the
//! bytes' signature (PNG, JPEG, GIF, WebP, BMP, TIFF). DSPy instead opens
//! bytes with Pillow and re-encodes them, so its data URL can differ from
//! Kestrel's for the same bytes (Kestrel keeps the bytes as given).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::custom_type::marked;
use crate::error::CoreError;

/// An image input: a URL or a data URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[schemars(title = "Image", extend("x-kestrel-type" = "Image"))]
pub struct Image {
    /// `https://…`, `gs://…` or `data:<mime>;base64,…`.
    pub url: String,
}

impl Image {
    /// An image at a URL or in a data URL (DSPy's `encode_image` on a
    /// string): `data:` URLs as they are, `http`, `https` and `gs` URLs with
    /// a host; anything else (a local path) is refused.
    pub fn from_url(url: impl Into<String>) -> Result<Image, CoreError> {
        let url = url.into().trim().to_string();
        if url.starts_with("data:") || is_remote_url(&url) {
            Ok(Image { url })
        } else {
            Err(CoreError::InvalidValue(format!(
                "Unrecognized image string: {url}. Local files must be loaded explicitly (read the bytes and use Image::from_bytes)."
            )))
        }
    }

    /// An image from its encoded bytes, as a base64 data URL; the MIME type
    /// comes from the bytes' signature.
    pub fn from_bytes(bytes: &[u8]) -> Result<Image, CoreError> {
        let mime = sniff_mime(bytes).ok_or_else(|| {
            CoreError::InvalidValue(
                "Bytes could not be identified as an image (PNG, JPEG, GIF, WebP, BMP, TIFF)".into(),
            )
        })?;
        Ok(Self::from_bytes_with_mime(bytes, mime))
    }

    /// An image from bytes of a known MIME type (`image/png`...).
    pub fn from_bytes_with_mime(bytes: &[u8], mime: &str) -> Image {
        Image { url: format!("data:{mime};base64,{}", base64(bytes)) }
    }

    /// The content parts DSPy's `Image.format()` gives.
    pub fn content_parts(&self) -> Value {
        json!([{"type": "image_url", "image_url": {"url": self.url}}])
    }

    /// The image as prompt text: its content parts between DSPy's
    /// custom-type markers (what `str(image)` is in DSPy).
    pub fn marked_text(&self) -> String {
        marked(&self.content_parts())
    }

    /// The image a field value holds: `{"url": ..}` or the URL itself.
    pub fn from_value(value: &Value) -> Option<Image> {
        match value {
            Value::String(url) => Some(Image { url: url.clone() }),
            Value::Object(map) => map.get("url").and_then(Value::as_str).map(|url| Image { url: url.to_string() }),
            _ => None,
        }
    }
}

/// DSPy's `is_url`: an `http`, `https` or `gs` URL with a host.
fn is_remote_url(text: &str) -> bool {
    ["http://", "https://", "gs://"].iter().any(|scheme| {
        text.get(..scheme.len()).is_some_and(|p| p.eq_ignore_ascii_case(scheme))
            && text[scheme.len()..].split(['/', '?', '#']).next().is_some_and(|host| !host.is_empty())
    })
}

/// The MIME type of encoded image bytes, from their signature.
pub(crate) fn sniff_mime(bytes: &[u8]) -> Option<&'static str> {
    let starts = |sig: &[u8]| bytes.starts_with(sig);
    if starts(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if starts(b"\xff\xd8\xff") {
        Some("image/jpeg")
    } else if starts(b"GIF87a") || starts(b"GIF89a") {
        Some("image/gif")
    } else if bytes.len() >= 12 && starts(b"RIFF") && &bytes[8..12] == b"WEBP" {
        Some("image/webp")
    } else if starts(b"BM") && bytes.len() > 14 {
        Some("image/bmp")
    } else if starts(b"II*\0") || starts(b"MM\0*") {
        Some("image/tiff")
    } else {
        None
    }
}

/// Standard base64 with padding (RFC 4648 §4).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        for (plain, encoded) in
            [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE=")]
        {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn bytes_become_data_urls() {
        let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
        let image = Image::from_bytes(png).unwrap();
        assert_eq!(image.url, format!("data:image/png;base64,{}", base64(png)));
        assert!(Image::from_bytes(b"plain text").is_err());
        assert_eq!(sniff_mime(b"\xff\xd8\xff\xe0"), Some("image/jpeg"));
        assert_eq!(sniff_mime(b"RIFF\0\0\0\0WEBPVP8 "), Some("image/webp"));
    }

    #[test]
    fn urls_are_checked_like_dspy() {
        assert!(Image::from_url("https://example.com/a.png").is_ok());
        assert!(Image::from_url("gs://bucket/a.png").is_ok());
        assert!(Image::from_url("data:image/png;base64,AAAA").is_ok());
        assert!(Image::from_url("/etc/passwd").is_err());
        assert!(Image::from_url("https://").is_err());
        assert_eq!(
            Image { url: "u".into() }.marked_text(),
            r#"<<CUSTOM-TYPE-START-IDENTIFIER>>[{"type": "image_url", "image_url": {"url": "u"}}]<<CUSTOM-TYPE-END-IDENTIFIER>>"#
        );
    }
}
