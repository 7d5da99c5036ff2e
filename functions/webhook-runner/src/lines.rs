//! Chunks of a file → lines, each with its byte offsets and 1-based number, so a run can stop
//! after any line and the next one can resume at a line start with `Range: bytes=<offset>-`.

/// Longest line accepted: a file without newlines must not fill the memory.
pub const MAX_LINE: usize = 16 << 20;

/// One line, without its `\n` (nor a `\r` before it).
#[derive(Debug, PartialEq, Eq)]
pub struct Line<'a> {
    /// Offset of the line's first byte in the file.
    pub start: u64,
    /// Offset just past the line's `\n` (or the end of the file): where the next line starts.
    pub end: u64,
    pub number: u64,
    pub text: &'a [u8],
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {number} is longer than {MAX_LINE} bytes")]
pub struct TooLong {
    pub number: u64,
}

/// Splits a stream of chunks that starts at byte `offset` (a line start) of the file.
#[derive(Debug)]
pub struct LineSplitter {
    buf: Vec<u8>,
    /// Bytes of `buf` already handed out as lines.
    taken: usize,
    /// File offset of `buf[0]`.
    base: u64,
    /// Number of the next line.
    number: u64,
    /// Where in `buf` the search for the next `\n` resumes (everything before has none).
    scanned: usize,
    max_line: usize,
}

impl LineSplitter {
    /// `number` is the 1-based number of the line that starts at `offset`.
    pub fn new(offset: u64, number: u64) -> LineSplitter {
        LineSplitter {
            buf: Vec::new(),
            taken: 0,
            base: offset,
            number: number.max(1),
            scanned: 0,
            max_line: MAX_LINE,
        }
    }

    #[cfg(test)]
    fn with_max_line(mut self, max: usize) -> LineSplitter {
        self.max_line = max;
        self
    }

    /// Offset just past the last line handed out: a line start.
    pub fn position(&self) -> u64 {
        self.base + self.taken as u64
    }

    /// Number of the line that starts at [`position`](Self::position).
    pub fn line_number(&self) -> u64 {
        self.number
    }

    /// Offset just past the last byte pushed.
    pub fn received(&self) -> u64 {
        self.base + self.buf.len() as u64
    }

    /// Bytes held that do not yet form a whole line.
    pub fn buffered(&self) -> usize {
        self.buf.len() - self.taken
    }

    pub fn push(&mut self, chunk: &[u8]) {
        if self.taken > 0 {
            // drop what was handed out; keeps the buffer at one partial line plus one chunk
            self.buf.drain(..self.taken);
            self.base += self.taken as u64;
            self.scanned -= self.taken;
            self.taken = 0;
        }
        self.buf.extend_from_slice(chunk);
    }

    /// The next whole line, if one is buffered.
    pub fn next_line(&mut self) -> Result<Option<Line<'_>>, TooLong> {
        let from = self.scanned.max(self.taken);
        match self.buf[from..].iter().position(|b| *b == b'\n') {
            Some(i) => Ok(Some(self.take(from + i + 1))),
            None => {
                self.scanned = self.buf.len();
                if self.buf.len() - self.taken > self.max_line {
                    return Err(TooLong {
                        number: self.number,
                    });
                }
                Ok(None)
            }
        }
    }

    /// At the end of the file: the last line when it has no `\n`.
    pub fn finish(&mut self) -> Option<Line<'_>> {
        (self.taken < self.buf.len()).then(|| self.take(self.buf.len()))
    }

    fn take(&mut self, end: usize) -> Line<'_> {
        let start = self.taken;
        self.taken = end;
        self.scanned = end;
        let number = self.number;
        self.number += 1;
        let mut text = &self.buf[start..end];
        if let Some(t) = text.strip_suffix(b"\n") {
            text = t;
        }
        if let Some(t) = text.strip_suffix(b"\r") {
            text = t;
        }
        Line {
            start: self.base + start as u64,
            end: self.base + end as u64,
            number,
            text,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (start, end, number, text) of every line, the input cut into `chunk`-byte pieces.
    fn split(data: &[u8], chunk: usize, offset: u64) -> Vec<(u64, u64, u64, String)> {
        let mut s = LineSplitter::new(offset, 1);
        let mut out = Vec::new();
        let own = |l: Line| {
            (
                l.start,
                l.end,
                l.number,
                String::from_utf8(l.text.to_vec()).unwrap(),
            )
        };
        for piece in data.chunks(chunk.max(1)) {
            s.push(piece);
            while let Some(l) = s.next_line().unwrap() {
                out.push(own(l));
            }
        }
        if let Some(l) = s.finish() {
            out.push(own(l));
        }
        assert_eq!(s.position(), offset + data.len() as u64);
        out
    }

    #[test]
    fn offsets_and_numbers_whatever_the_chunking() {
        let data = b"{\"a\":1}\n\n{\"b\":2}\r\nlast";
        let want = vec![
            (0, 8, 1, "{\"a\":1}".to_string()),
            (8, 9, 2, String::new()),
            (9, 18, 3, "{\"b\":2}".to_string()),
            (18, 22, 4, "last".to_string()),
        ];
        for chunk in 1..=data.len() {
            assert_eq!(split(data, chunk, 0), want, "chunks of {chunk}");
        }
    }

    #[test]
    fn starts_at_a_resume_offset() {
        let got = split(b"x\ny\n", 3, 100);
        assert_eq!(got, [(100, 102, 1, "x".into()), (102, 104, 2, "y".into())]);
        let mut s = LineSplitter::new(50, 7);
        s.push(b"z\n");
        let l = s.next_line().unwrap().unwrap();
        assert_eq!((l.start, l.end, l.number), (50, 52, 7));
        assert_eq!((s.position(), s.line_number()), (52, 8));
    }

    #[test]
    fn a_trailing_newline_leaves_no_empty_last_line() {
        assert_eq!(split(b"a\n", 1, 0).len(), 1);
        assert!(split(b"", 1, 0).is_empty());
    }

    #[test]
    fn position_stays_at_the_last_whole_line_while_a_partial_one_is_buffered() {
        let mut s = LineSplitter::new(0, 1);
        s.push(b"abc\nde");
        assert!(s.next_line().unwrap().is_some());
        assert!(s.next_line().unwrap().is_none());
        assert_eq!((s.position(), s.received(), s.buffered()), (4, 6, 2));
        s.push(b"f\n");
        let l = s.next_line().unwrap().unwrap();
        assert_eq!((l.start, l.text), (4, &b"def"[..]));
    }

    #[test]
    fn an_endless_line_is_an_error_not_a_full_memory() {
        let mut s = LineSplitter::new(0, 1).with_max_line(8);
        s.push(b"ok\n0123456");
        assert!(s.next_line().unwrap().is_some());
        assert_eq!(s.next_line().unwrap(), None);
        s.push(b"789");
        assert_eq!(s.next_line().unwrap_err(), TooLong { number: 2 });
    }
}
