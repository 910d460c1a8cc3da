//! A CSV record reader with bounded memory (crate-private), on `csv-core`.
//!
//! The `csv` crate grows its record buffer to fit any record, so a file without line breaks
//! is read whole into memory. This reader keeps at most `record_cap` bytes of a record: a
//! longer record is still parsed to its end (quoting decides where it ends, so the reader
//! stays in step with the file), but its bytes are counted and dropped, and the record is
//! returned as [`Oversize`] with the length of each field, so the caller can report it and
//! read on. Line feeds are counted as bytes are consumed, for line numbers.

use std::io::{self, Read};

/// Why a record was not kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Oversize {
    /// A field is longer than the field cap: its 0-based index and its length in bytes.
    Field { index: usize, len: u64 },
    /// Every field is within the field cap but the record is longer than the record cap.
    Record { len: u64 },
    /// More fields than the fields cap (`count` is the real number of fields).
    Fields { count: u64 },
}

/// What [`Records::read`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecordInfo {
    /// 1-based physical line on which the record starts.
    pub line: u64,
    /// Set when the record was too large to keep; its fields are then not available.
    pub oversize: Option<Oversize>,
}

/// Streams CSV records from `input` (comma, double quotes, CR/LF/CRLF terminators, like the
/// `csv` crate's defaults), holding at most one buffer of input and `record_cap` bytes of
/// record.
pub(crate) struct Records<R> {
    input: R,
    core: csv_core::Reader,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
    eof: bool,
    done: bool,
    /// The current record's field bytes (`len` = the record cap + 1, so that a record of
    /// exactly the cap fits and one byte more is detected).
    out: Box<[u8]>,
    out_len: usize,
    /// The current record's field ends, relative to the record (`len` = the fields cap + 1).
    ends: Box<[usize]>,
    fields_cap: usize,
    nends: usize,
    /// Line feeds consumed so far, and whether the last byte consumed was one.
    line_feeds: u64,
    last_was_lf: bool,
}

impl<R: Read> Records<R> {
    pub(crate) fn new(input: R, buf_len: usize, record_cap: usize, fields_cap: usize) -> Self {
        Records {
            input,
            core: csv_core::Reader::new(),
            buf: vec![0u8; buf_len.max(1)].into_boxed_slice(),
            start: 0,
            end: 0,
            eof: false,
            done: false,
            out: vec![0u8; record_cap + 1].into_boxed_slice(),
            out_len: 0,
            ends: vec![0usize; fields_cap + 1].into_boxed_slice(),
            fields_cap,
            nends: 0,
            line_feeds: 0,
            last_was_lf: false,
        }
    }

    /// The fields of the last record read (empty after an oversized one).
    pub(crate) fn fields(&self) -> impl Iterator<Item = &[u8]> + '_ {
        let ends = self.ends.get(..self.nends).unwrap_or_default();
        let mut from = 0;
        ends.iter().map(move |&to| {
            let field = self.out.get(from..to).unwrap_or_default();
            from = to;
            field
        })
    }

    /// The bytes of the last record kept (fields concatenated), or of its first `record_cap`
    /// bytes when [`Records::read`] stopped early.
    pub(crate) fn bytes(&self) -> &[u8] {
        self.out.get(..self.out_len).unwrap_or_default()
    }

    /// 1-based line of the next byte to be read.
    pub(crate) fn current_line(&self) -> u64 {
        self.line_feeds + 1
    }

    /// Reads the next record. `cap` (at most the record cap) limits how many bytes of it are
    /// kept. With `stop_early`, an oversized record ends the reading at once (for a header:
    /// there is no point reading 2 GB to report that the first line is not one); otherwise
    /// the rest of it is read and dropped. `field_cap` is checked on every field.
    pub(crate) fn read(
        &mut self,
        cap: usize,
        field_cap: usize,
        stop_early: bool,
    ) -> io::Result<Option<RecordInfo>> {
        use csv_core::ReadRecordResult as R;
        if self.done {
            return Ok(None);
        }
        // One byte of slack: a record of exactly `cap` bytes is kept.
        let cap = cap.saturating_add(1).min(self.out.len());
        self.out_len = 0;
        self.nends = 0;
        // Counted over the whole record, even while its bytes are being dropped.
        let mut fields: u64 = 0;
        let mut prev_end: u64 = 0;
        let mut long_field: Option<(usize, u64)> = None;
        let mut overflow = false;
        let mut embedded: u64 = 0;
        loop {
            if self.start == self.end && !self.eof {
                self.start = 0;
                self.end = read_some(&mut self.input, &mut self.buf)?;
                self.eof = self.end == 0;
            }
            let input = self.buf.get(self.start..self.end).unwrap_or_default();
            let out_from = if overflow { 0 } else { self.out_len };
            let ends_from = if overflow { 0 } else { self.nends };
            let (res, nin, nout, nend) = self.core.read_record(
                input,
                self.out.get_mut(out_from..cap).unwrap_or_default(),
                self.ends.get_mut(ends_from..).unwrap_or_default(),
            );
            let consumed = input.get(..nin).unwrap_or_default();
            self.line_feeds += count_lf(consumed);
            if let Some(&last) = consumed.last() {
                self.last_was_lf = last == b'\n';
            }
            self.start += nin;
            let written = self.out.get(out_from..out_from + nout).unwrap_or_default();
            embedded += count_lf(written);
            for &end in self
                .ends
                .get(ends_from..ends_from + nend)
                .unwrap_or_default()
            {
                let end = end as u64;
                let len = end.saturating_sub(prev_end);
                if len > field_cap as u64 && long_field.is_none() {
                    long_field = Some((fields as usize, len));
                }
                prev_end = end;
                fields += 1;
            }
            if !overflow {
                self.out_len += nout;
                self.nends += nend;
            }
            match res {
                R::InputEmpty => {
                    if self.eof && nin == 0 {
                        // Not reached (empty input ends or completes a record); never spin.
                        self.done = true;
                        return Ok(None);
                    }
                }
                R::OutputFull | R::OutputEndsFull => {
                    if stop_early {
                        self.done = true;
                        let len = (self.out_len as u64).max(prev_end);
                        return Ok(Some(RecordInfo {
                            line: self.current_line().saturating_sub(embedded).max(1),
                            oversize: Some(if res == R::OutputEndsFull {
                                Oversize::Fields { count: fields }
                            } else {
                                Oversize::Record { len }
                            }),
                        }));
                    }
                    overflow = true;
                }
                R::Record => {
                    // A record ends on a byte it consumes (CR or LF), except at the end of input,
                    // where the last byte read, even a line feed, was inside a quoted value.
                    let end_line = if nin > 0 && self.last_was_lf {
                        self.line_feeds
                    } else {
                        self.line_feeds + 1
                    };
                    let line = end_line.saturating_sub(embedded).max(1);
                    let oversize = if let Some((index, len)) = long_field {
                        Some(Oversize::Field { index, len })
                    } else if fields > self.fields_cap as u64 {
                        Some(Oversize::Fields { count: fields })
                    } else if overflow {
                        Some(Oversize::Record { len: prev_end })
                    } else {
                        None
                    };
                    if oversize.is_some() {
                        self.nends = 0;
                        if overflow {
                            self.out_len = 0;
                        }
                    }
                    return Ok(Some(RecordInfo { line, oversize }));
                }
                R::End => {
                    self.done = true;
                    return Ok(None);
                }
            }
        }
    }
}

fn count_lf(bytes: &[u8]) -> u64 {
    bytes.iter().filter(|&&b| b == b'\n').count() as u64
}

fn read_some<R: Read>(input: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match input.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(
        text: &[u8],
        cap: usize,
        field_cap: usize,
    ) -> Vec<(u64, Option<Oversize>, Vec<Vec<u8>>)> {
        let mut r = Records::new(text, 3, cap, 4);
        let mut got = Vec::new();
        while let Some(info) = r.read(cap, field_cap, false).unwrap() {
            got.push((
                info.line,
                info.oversize,
                r.fields().map(<[u8]>::to_vec).collect(),
            ));
        }
        got
    }

    #[test]
    fn records_lines_and_quoted_line_breaks() {
        let got = all(b"a,b\r\n\r\n\"x\ny\",z\nlast", 64, 64);
        assert_eq!(
            got,
            vec![
                (1, None, vec![b"a".to_vec(), b"b".to_vec()]),
                (3, None, vec![b"x\ny".to_vec(), b"z".to_vec()]),
                (5, None, vec![b"last".to_vec()]),
            ]
        );
    }

    #[test]
    fn a_quoted_value_open_at_the_end_of_input_keeps_its_line() {
        let got = all(b"h\nrow,\"open\nstill\n", 64, 64);
        assert_eq!(got[1].0, 2);
        assert_eq!(got[1].2, vec![b"row".to_vec(), b"open\nstill\n".to_vec()]);
    }

    #[test]
    fn an_oversized_record_is_measured_dropped_and_reading_goes_on() {
        let mut text = b"ok\n".to_vec();
        text.extend(std::iter::repeat_n(b'x', 100));
        text.extend_from_slice(b",\"q,\nq\"\nshort,1\n");
        text.extend_from_slice(b"aaaa,bbbb,cccc,dddd\n");
        text.extend_from_slice(b"aaaa,bbbb,cccc,ddddd\n");
        text.extend_from_slice(b"1,2,3,4,5,6\nend\n");
        let got = all(&text, 16, 8);
        assert_eq!(got[0], (1, None, vec![b"ok".to_vec()]));
        assert_eq!(
            got[1],
            (2, Some(Oversize::Field { index: 0, len: 100 }), vec![])
        );
        assert_eq!(got[2], (4, None, vec![b"short".to_vec(), b"1".to_vec()]));
        let full = [b"aaaa", b"bbbb", b"cccc", b"dddd"].map(|f| f.to_vec());
        assert_eq!(got[3], (5, None, full.to_vec()));
        assert_eq!(got[4], (6, Some(Oversize::Record { len: 17 }), vec![]));
        assert_eq!(got[5], (7, Some(Oversize::Fields { count: 6 }), vec![]));
        assert_eq!(got[6], (8, None, vec![b"end".to_vec()]));
        assert_eq!(got.len(), 7);
    }
}
