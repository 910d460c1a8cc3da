//! Encoding sniffing and decoding shared by the readers (crate-private).

use std::borrow::Cow;
use std::fmt;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};

/// Sniffs the encoding from the first bytes of a file. Returns the encoding and the length
/// of its byte-order mark. `at_eof` says whether `prefix` is the whole file (an incomplete
/// UTF-8 sequence at the end of a partial prefix does not count against UTF-8).
pub(crate) fn sniff(prefix: &[u8], at_eof: bool) -> (CsvEncoding, usize) {
    if prefix.starts_with(&[0xEF, 0xBB, 0xBF]) {
        return (CsvEncoding::Utf8Bom, 3);
    }
    if prefix.starts_with(&[0xFF, 0xFE]) {
        return (CsvEncoding::Utf16Le, 2);
    }
    if prefix.starts_with(&[0xFE, 0xFF]) {
        return (CsvEncoding::Utf16Be, 2);
    }
    match std::str::from_utf8(prefix) {
        Ok(_) => (CsvEncoding::Utf8, 0),
        Err(e) if e.error_len().is_none() && !at_eof => (CsvEncoding::Utf8, 0),
        Err(_) => (CsvEncoding::Windows1252, 0),
    }
}

/// Decodes one field of an 8-bit file (or of transcoded UTF-16, which is UTF-8).
/// In a UTF-8 file a field that is not valid UTF-8 falls back to Windows-1252.
pub(crate) fn decode_field(bytes: &[u8], encoding: CsvEncoding) -> Cow<'_, str> {
    match encoding {
        CsvEncoding::Windows1252 => WINDOWS_1252.decode_without_bom_handling(bytes).0,
        _ => match std::str::from_utf8(bytes) {
            Ok(s) => Cow::Borrowed(s),
            Err(_) => WINDOWS_1252.decode_without_bom_handling(bytes).0,
        },
    }
}

/// Most characters of input quoted in an error message.
pub const EXCERPT_CHARS: usize = 80;

/// A short, printable excerpt of `text` for an error message: control characters escaped
/// (`\0`, `\n`, `\x01`, `\u{85}`), at most [`EXCERPT_CHARS`] characters, `…` when cut.
pub fn excerpt(text: &str) -> String {
    excerpt_chars(text, EXCERPT_CHARS)
}

/// [`excerpt`] with a chosen maximum number of characters (at least 1).
pub fn excerpt_chars(text: &str, max: usize) -> String {
    let max = max.max(1);
    let mut out = String::new();
    let mut used = 0;
    for c in text.chars() {
        let escaped;
        let piece = match c {
            '\0' => "\\0",
            '\t' => "\\t",
            '\r' => "\\r",
            '\n' => "\\n",
            c if c.is_control()
                || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') =>
            {
                escaped = if (c as u32) < 0x100 {
                    format!("\\x{:02X}", c as u32)
                } else {
                    format!("\\u{{{:X}}}", c as u32)
                };
                escaped.as_str()
            }
            _ => {
                if used + 1 > max {
                    out.push('…');
                    return out;
                }
                out.push(c);
                used += 1;
                continue;
            }
        };
        let n = piece.chars().count();
        if used + n > max {
            out.push('…');
            return out;
        }
        out.push_str(piece);
        used += n;
    }
    out
}

/// Decodes a whole in-memory file (BOM sniffing, else UTF-8, else Windows-1252).
pub(crate) fn decode_whole(bytes: &[u8]) -> String {
    decode_whole_with(bytes).0
}

/// Like [`decode_whole`], also returning the encoding.
pub(crate) fn decode_whole_with(bytes: &[u8]) -> (String, CsvEncoding) {
    let (encoding, bom) = sniff(bytes, true);
    let body = bytes.get(bom..).unwrap_or_default();
    let text = match encoding {
        CsvEncoding::Utf16Le => UTF_16LE.decode_without_bom_handling(body).0.into_owned(),
        CsvEncoding::Utf16Be => UTF_16BE.decode_without_bom_handling(body).0.into_owned(),
        CsvEncoding::Windows1252 => WINDOWS_1252
            .decode_without_bom_handling(body)
            .0
            .into_owned(),
        CsvEncoding::Utf8 | CsvEncoding::Utf8Bom => String::from_utf8_lossy(body).into_owned(),
    };
    (text, encoding)
}

/// Reads until `buf` is full or the input ends. Returns the number of bytes read.
pub(crate) fn read_full<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(m) => n += m,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Passes bytes through one byte behind, so that at the end of input a dangling odd
/// byte of a UTF-16 stream can be dropped (and reported through the shared flag) instead of
/// decoding to U+FFFD.
pub(crate) struct EvenBytes<R> {
    inner: R,
    held: Option<u8>,
    total: u64,
    odd: Arc<AtomicBool>,
    eof: bool,
}

impl<R> EvenBytes<R> {
    pub(crate) fn new(inner: R, odd: Arc<AtomicBool>) -> Self {
        EvenBytes {
            inner,
            held: None,
            total: 0,
            odd,
            eof: false,
        }
    }
}

fn read_retry<R: Read>(inner: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match inner.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

impl<R: Read> Read for EvenBytes<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.eof || buf.is_empty() {
            return Ok(0);
        }
        let held = match self.held {
            Some(b) => b,
            None => {
                let mut one = [0u8; 1];
                if read_retry(&mut self.inner, &mut one)? == 0 {
                    self.eof = true;
                    return Ok(0);
                }
                self.total += 1;
                one[0]
            }
        };
        let m = if buf.len() == 1 {
            let mut one = [0u8; 1];
            let m = read_retry(&mut self.inner, &mut one)?;
            if m == 1 {
                buf[0] = held;
                self.held = Some(one[0]);
                self.total += 1;
                return Ok(1);
            }
            0
        } else {
            read_retry(&mut self.inner, &mut buf[1..])?
        };
        if m == 0 {
            self.eof = true;
            self.held = None;
            if self.total % 2 == 1 {
                self.odd.store(true, Ordering::Relaxed);
                return Ok(0);
            }
            buf[0] = held;
            return Ok(1);
        }
        self.total += m as u64;
        // New bytes are in buf[1..=m]: return the held byte and all but the last new byte.
        self.held = Some(buf[m]);
        buf[0] = held;
        Ok(m)
    }
}

/// The character encoding of a CSV file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CsvEncoding {
    /// UTF-16 little-endian with BOM `FF FE` (Windows PowerShell 5.1 `Out-File`).
    Utf16Le,
    /// UTF-16 big-endian with BOM `FE FF`.
    Utf16Be,
    /// UTF-8 with BOM `EF BB BF`.
    Utf8Bom,
    /// UTF-8 without BOM (PowerShell 7 `Out-File`).
    Utf8,
    /// Windows-1252 ("ANSI"), what Intune's documentation asks for.
    Windows1252,
}

impl CsvEncoding {
    /// Every encoding.
    pub const ALL: [CsvEncoding; 5] = [
        CsvEncoding::Utf16Le,
        CsvEncoding::Utf16Be,
        CsvEncoding::Utf8Bom,
        CsvEncoding::Utf8,
        CsvEncoding::Windows1252,
    ];

    /// The byte-order mark written at the start of a file.
    pub fn bom(self) -> &'static [u8] {
        match self {
            CsvEncoding::Utf16Le => &[0xFF, 0xFE],
            CsvEncoding::Utf16Be => &[0xFE, 0xFF],
            CsvEncoding::Utf8Bom => &[0xEF, 0xBB, 0xBF],
            CsvEncoding::Utf8 | CsvEncoding::Windows1252 => &[],
        }
    }
}

impl fmt::Display for CsvEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CsvEncoding::Utf16Le => "UTF-16LE",
            CsvEncoding::Utf16Be => "UTF-16BE",
            CsvEncoding::Utf8Bom => "UTF-8 (with BOM)",
            CsvEncoding::Utf8 => "UTF-8",
            CsvEncoding::Windows1252 => "Windows-1252 (ANSI)",
        })
    }
}
