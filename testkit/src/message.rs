//! A message captured by one of the test SMTP servers, with a small
//! RFC 5322 header parser (header unfolding) and an RFC 2047 encoded-word
//! decoder (`=?utf-8?b?...?=`, as produced by lettre for non-ASCII headers).

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};

/// One message accepted by [`FakeSmtp`](crate::smtp::FakeSmtp) or
/// [`SmtpSink`](crate::smtp::SmtpSink).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceivedMessage {
    /// Argument of the last `HELO`/`EHLO` command of the session, if any.
    pub helo: Option<String>,
    /// Envelope sender (`MAIL FROM`), without angle brackets; empty for the
    /// null sender `<>`.
    pub envelope_from: String,
    /// Accepted envelope recipients (`RCPT TO`), without angle brackets, in
    /// the order they were sent.
    pub recipients: Vec<String>,
    /// Message content as received after `DATA`, dot-unstuffed, without the
    /// terminating `.` line.
    ///
    /// `FakeSmtp` keeps the line endings exactly as sent (CRLF for lettre);
    /// `smtp-sink` strips every CR, so its data uses bare LF.
    pub data: Vec<u8>,
    /// All header fields in order: `(name, unfolded raw value)`. Values are
    /// not RFC 2047-decoded; see [`header_decoded`](Self::header_decoded).
    pub headers: Vec<(String, String)>,
    /// `Subject:` header, unfolded and RFC 2047-decoded.
    pub subject: Option<String>,
    /// `Message-ID:` header, unfolded, including the angle brackets.
    pub message_id: Option<String>,
    /// `To:` header, unfolded and RFC 2047-decoded.
    pub to: Option<String>,
    /// `FakeSmtp` only: sequence number (1-based) of the TCP connection that
    /// carried the message, to check connection reuse. `None` for smtp-sink.
    pub session: Option<u64>,
    /// `FakeSmtp` only: when the message was accepted (recorded just before
    /// the `250` reply). `None` for smtp-sink.
    pub received_at: Option<std::time::Instant>,
    body_offset: usize,
}

impl ReceivedMessage {
    /// Builds a message from its envelope and raw data, parsing the headers.
    pub fn new(
        helo: Option<String>,
        envelope_from: String,
        recipients: Vec<String>,
        data: Vec<u8>,
    ) -> Self {
        let (headers, body_offset) = parse_headers(&data);
        let first = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.clone())
        };
        let subject = first("Subject").map(|v| decode_rfc2047(&v));
        let message_id = first("Message-ID");
        let to = first("To").map(|v| decode_rfc2047(&v));
        Self {
            helo,
            envelope_from,
            recipients,
            data,
            headers,
            subject,
            message_id,
            to,
            session: None,
            received_at: None,
            body_offset,
        }
    }

    /// First header field called `name` (case-insensitive), unfolded, raw.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// All header fields called `name` (case-insensitive), unfolded, raw.
    pub fn header_all(&self, name: &str) -> Vec<&str> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// First header field called `name`, with RFC 2047 encoded words decoded.
    pub fn header_decoded(&self, name: &str) -> Option<String> {
        self.header(name).map(decode_rfc2047)
    }

    /// The body: everything after the empty line that ends the header block
    /// (still transfer-encoded, e.g. quoted-printable or base64).
    pub fn body(&self) -> &[u8] {
        &self.data[self.body_offset.min(self.data.len())..]
    }

    /// [`body`](Self::body) as (lossy) UTF-8 text.
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(self.body()).into_owned()
    }

    /// The whole [`data`](Self::data) as (lossy) UTF-8 text.
    pub fn data_text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// Parses the header block of `data`. Returns the unfolded header fields and
/// the byte offset at which the body starts.
///
/// Accepts both CRLF and bare LF line endings. Lines without a colon inside
/// the header block are ignored.
pub(crate) fn parse_headers(data: &[u8]) -> (Vec<(String, String)>, usize) {
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut pos = 0;
    while pos < data.len() {
        let (line, next) = match data[pos..].iter().position(|&b| b == b'\n') {
            Some(i) => (&data[pos..pos + i], pos + i + 1),
            None => (&data[pos..], data.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.is_empty() {
            return (headers, next);
        }
        let text = String::from_utf8_lossy(line);
        if line[0] == b' ' || line[0] == b'\t' {
            // Continuation line: unfolding only removes the line break.
            if let Some((_, value)) = headers.last_mut() {
                value.push_str(&text);
            }
        } else if let Some((name, value)) = text.split_once(':') {
            headers.push((name.trim().to_owned(), value.trim_start().to_owned()));
        }
        pos = next;
    }
    for (_, value) in &mut headers {
        let trimmed = value.trim_end().len();
        value.truncate(trimmed);
    }
    (headers, data.len())
}

/// Decodes RFC 2047 encoded words (`=?charset?B|Q?text?=`) in a header value.
///
/// Whitespace between two adjacent encoded words is dropped, as the RFC
/// requires. Supported charsets: UTF-8 and US-ASCII (decoded as UTF-8) and
/// ISO-8859-1; anything else is decoded as lossy UTF-8. Malformed encoded
/// words are kept verbatim.
pub fn decode_rfc2047(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    // Whitespace seen after an encoded word, held back in case another
    // encoded word follows.
    let mut pending_ws: Option<&str> = None;
    loop {
        let Some(start) = rest.find("=?") else {
            if let Some(ws) = pending_ws.take() {
                out.push_str(ws);
            }
            out.push_str(rest);
            return out;
        };
        match decode_encoded_word(&rest[start..]) {
            Some((decoded, consumed)) => {
                let before = &rest[..start];
                match pending_ws.take() {
                    // Only whitespace between two encoded words: drop it.
                    Some(_) if before.is_empty() => {}
                    Some(ws) => {
                        out.push_str(ws);
                        out.push_str(before);
                    }
                    None => out.push_str(before),
                }
                out.push_str(&decoded);
                rest = &rest[start + consumed..];
                let ws_len = rest.len() - rest.trim_start().len();
                if ws_len > 0 {
                    pending_ws = Some(&rest[..ws_len]);
                    rest = &rest[ws_len..];
                }
            }
            None => {
                if let Some(ws) = pending_ws.take() {
                    out.push_str(ws);
                }
                out.push_str(&rest[..start + 2]);
                rest = &rest[start + 2..];
            }
        }
    }
}

/// Decodes one encoded word at the start of `s`. Returns the decoded text and
/// the number of bytes consumed.
fn decode_encoded_word(s: &str) -> Option<(String, usize)> {
    let inner = s.strip_prefix("=?")?;
    let (charset, inner) = inner.split_once('?')?;
    let (encoding, inner) = inner.split_once('?')?;
    let end = inner.find("?=")?;
    let text = &inner[..end];
    let consumed = s.len() - (inner.len() - end - 2);
    if charset.is_empty() || text.contains(char::is_whitespace) {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => {
            let engine = GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                GeneralPurposeConfig::new()
                    .with_decode_padding_mode(DecodePaddingMode::Indifferent),
            );
            engine.decode(text).ok()?
        }
        "Q" | "q" => decode_q(text)?,
        _ => return None,
    };
    // RFC 2231 allows a language suffix: `utf-8*en`.
    let charset = charset.split('*').next().unwrap_or(charset);
    let decoded =
        if charset.eq_ignore_ascii_case("iso-8859-1") || charset.eq_ignore_ascii_case("latin1") {
            bytes.iter().map(|&b| char::from(b)).collect()
        } else {
            String::from_utf8_lossy(&bytes).into_owned()
        };
    Some((decoded, consumed))
}

fn decode_q(text: &str) -> Option<Vec<u8>> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = text.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

/// Parses an SMTP path argument such as `<a@b.c> BODY=8BITMIME` (the part
/// after `FROM:` / `TO:`). Returns the address without angle brackets and the
/// remaining ESMTP parameters.
pub(crate) fn parse_path(arg: &str) -> Option<(String, &str)> {
    let arg = arg.trim_start();
    if let Some(rest) = arg.strip_prefix('<') {
        let end = rest.find('>')?;
        let mut addr = &rest[..end];
        // Strip an obsolete source route: `<@a,@b:user@host>`.
        if addr.starts_with('@') {
            addr = addr.split_once(':').map_or(addr, |(_, a)| a);
        }
        Some((addr.to_owned(), rest[end + 1..].trim()))
    } else {
        // Lenient: bare address without brackets.
        let (addr, params) = arg.split_once(char::is_whitespace).unwrap_or((arg, ""));
        if addr.is_empty() {
            return None;
        }
        Some((addr.to_owned(), params.trim()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_unfolds_headers_crlf() {
        let data = b"Subject: Hello\r\n world\r\nMessage-ID: <1@x>\r\nTo: a@x.org,\r\n\tb@y.org\r\n\r\nbody\r\nline2\r\n";
        let m = ReceivedMessage::new(None, "f@x".into(), vec!["a@x.org".into()], data.to_vec());
        assert_eq!(m.subject.as_deref(), Some("Hello world"));
        assert_eq!(m.message_id.as_deref(), Some("<1@x>"));
        assert_eq!(m.to.as_deref(), Some("a@x.org,\tb@y.org"));
        assert_eq!(m.body(), b"body\r\nline2\r\n");
        assert_eq!(m.header("message-id"), Some("<1@x>"));
        assert_eq!(m.headers.len(), 3);
    }

    #[test]
    fn parses_headers_lf_and_no_body() {
        let data = b"Subject: x\nX-A: 1\nX-A: 2\n";
        let m = ReceivedMessage::new(None, String::new(), vec![], data.to_vec());
        assert_eq!(m.subject.as_deref(), Some("x"));
        assert_eq!(m.header_all("x-a"), vec!["1", "2"]);
        assert!(m.body().is_empty());
    }

    #[test]
    fn decodes_encoded_words() {
        assert_eq!(decode_rfc2047("plain text"), "plain text");
        assert_eq!(decode_rfc2047("=?utf-8?b?S8O2bG4=?="), "Köln");
        assert_eq!(decode_rfc2047("=?UTF-8?Q?K=C3=B6ln_2026?="), "Köln 2026");
        // Whitespace between adjacent encoded words is dropped.
        assert_eq!(decode_rfc2047("=?utf-8?q?a?= =?utf-8?q?b?="), "ab");
        assert_eq!(decode_rfc2047("x =?utf-8?q?a?= y"), "x a y");
        assert_eq!(decode_rfc2047("=?iso-8859-1?q?caf=E9?="), "café");
        assert_eq!(
            decode_rfc2047("broken =?utf-8?x?a?= end"),
            "broken =?utf-8?x?a?= end"
        );
        assert_eq!(
            decode_rfc2047("\"=?utf-8?b?SsO8cmdlbg==?=\" <j@x.org>"),
            "\"Jürgen\" <j@x.org>"
        );
    }

    #[test]
    fn parses_smtp_paths() {
        assert_eq!(
            parse_path("<a@b.c> BODY=8BITMIME SMTPUTF8"),
            Some(("a@b.c".to_owned(), "BODY=8BITMIME SMTPUTF8"))
        );
        assert_eq!(parse_path(" <>"), Some((String::new(), "")));
        assert_eq!(parse_path("<@r1,@r2:u@h>"), Some(("u@h".to_owned(), "")));
        assert_eq!(
            parse_path("u@h SIZE=10"),
            Some(("u@h".to_owned(), "SIZE=10"))
        );
        assert_eq!(parse_path("<unterminated"), None);
    }
}
