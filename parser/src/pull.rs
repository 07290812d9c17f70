//! The pull parser over a whole text body.

use crate::error::ParseError;
use crate::format::Format;
use crate::text::{Entry, parse_om, parse_prom};

/// Yields the entries of a Prometheus text or OpenMetrics body, each
/// borrowing from the input. Stops after the first error, which it yields.
///
/// ```
/// use promshard_parser::{Entry, Format, Parser};
/// let body = b"# TYPE http_requests counter\nhttp_requests{code=\"200\"} 7\n";
/// let mut names = Vec::new();
/// for entry in Parser::new(body, Format::Text) {
///     if let Entry::Sample(s) = entry.unwrap() {
///         names.push(s.metric_name().into_owned());
///     }
/// }
/// assert_eq!(names, ["http_requests"]);
/// ```
#[derive(Debug, Clone)]
pub struct Parser<'a> {
    buf: &'a [u8],
    pos: usize,
    line_no: u64,
    om: bool,
    state: PullState,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PullState {
    Running,
    SawEof,
    Done,
}

impl<'a> Parser<'a> {
    /// A parser for `buf` in `format`. Protobuf bodies have no entries of
    /// this kind: use [`count_with`](crate::count_with) and a visitor.
    pub fn new(buf: &'a [u8], format: Format) -> Self {
        let state = if format == Format::Protobuf {
            PullState::Done
        } else {
            PullState::Running
        };
        Self {
            buf,
            pos: 0,
            line_no: 0,
            om: format == Format::OpenMetrics,
            state,
        }
    }

    /// The 1-based line of the entry returned last.
    pub fn line(&self) -> u64 {
        self.line_no
    }
}

impl<'a> Iterator for Parser<'a> {
    type Item = Result<Entry<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.state {
            PullState::Done => return None,
            PullState::SawEof => {
                self.state = PullState::Done;
                if self.om && self.pos < self.buf.len() {
                    return Some(Err(ParseError::at_line(
                        self.line_no + 1,
                        1,
                        "end of body after # EOF",
                        "more data",
                    )));
                }
                return None;
            }
            PullState::Running => {}
        }
        if self.pos >= self.buf.len() {
            self.state = PullState::Done;
            if self.om {
                return Some(Err(ParseError::at_line(
                    self.line_no + 1,
                    1,
                    "# EOF at the end of the body",
                    "end of data",
                )));
            }
            return None;
        }
        let rest = &self.buf[self.pos..];
        let (line, terminated) = match memchr::memchr(b'\n', rest) {
            Some(nl) => {
                self.pos += nl + 1;
                (&rest[..nl], true)
            }
            None => {
                self.pos = self.buf.len();
                (rest, false)
            }
        };
        self.line_no += 1;
        let parsed = if self.om {
            parse_om(line, terminated)
        } else {
            parse_prom(line)
        };
        match parsed {
            Ok(Entry::Eof) => {
                self.state = PullState::SawEof;
                Some(Ok(Entry::Eof))
            }
            Ok(e) => Some(Ok(e)),
            Err(e) => {
                self.state = PullState::Done;
                Some(Err(e.into_parse_error(self.line_no, line)))
            }
        }
    }
}
