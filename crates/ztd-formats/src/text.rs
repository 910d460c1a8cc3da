//! Encoding sniffing and decoding shared by the readers (crate-private).

use std::borrow::Cow;
use std::io::{self, Read};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use encoding_rs::{UTF_16BE, UTF_16LE, WINDOWS_1252};

use crate::hash_csv::CsvEncoding;

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

/// Passes an even number of bytes through, so a UTF-16 decoder never sees a dangling
/// byte; a final odd byte is dropped and reported through the shared flag.
pub(crate) struct EvenBytes<R> {
    inner: R,
    carry: Option<u8>,
    odd: Arc<AtomicBool>,
    eof: bool,
}

impl<R> EvenBytes<R> {
    pub(crate) fn new(inner: R, odd: Arc<AtomicBool>) -> Self {
        EvenBytes {
            inner,
            carry: None,
            odd,
            eof: false,
        }
    }
}

impl<R: Read> Read for EvenBytes<R> {
    /// Invariant: `carry` is `Some` exactly when an odd number of bytes has been consumed
    /// from `inner`; at the end of input a carried byte is the dangling odd byte.
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.eof || buf.is_empty() {
            return Ok(0);
        }
        if buf.len() < 2 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "internal error: UTF-16 reader given a buffer shorter than 2 bytes",
            ));
        }
        let mut n = 0;
        if let Some(c) = self.carry.take() {
            buf[0] = c;
            n = 1;
        }
        loop {
            let m = match self.inner.read(&mut buf[n..]) {
                Ok(m) => m,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if m == 0 {
                self.eof = true;
                if n % 2 == 1 {
                    self.odd.store(true, Ordering::Relaxed);
                    n -= 1;
                }
                return Ok(n);
            }
            n += m;
            if n % 2 == 0 {
                return Ok(n);
            }
            if n == buf.len() || n > 1 {
                self.carry = Some(buf[n - 1]);
                return Ok(n - 1);
            }
            // n == 1 with room left: read more so that we never return 0 before EOF.
        }
    }
}
