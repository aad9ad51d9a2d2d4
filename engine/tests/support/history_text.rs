//! A text format for a [`History`], so a failed crash case can be saved and replayed
//! (`super::replay`). Decoding an encoded history gives an equal one: the same spaces, the
//! same batches in the same recording order, the same points and value bytes.
//!
//! Format (UTF-8, `\n`-terminated lines, single spaces between fields):
//! ```text
//! infinitedb history v1
//! batch <space id> <revision> <record count>
//! put p:<c0>:<c1>... <value as lowercase hex, empty for an empty value>
//! del p:<c0>:<c1>...
//! ```
//! A point is `p` followed by `:<coordinate>` per dimension (so a zero-dimensional point is
//! `p`). Each `batch` line is followed by exactly its `<record count>` record lines. Values are
//! hex so that any byte (NUL, newline, non-UTF-8) survives.

use std::fmt::Write as _;
use std::io;

use infinitedb::{Revision, SpaceId};

use super::model::{History, Point, Record};

/// The first line of an encoded history.
const HEADER: &str = "infinitedb history v1";

/// `history` in the text format of this module.
pub fn encode(history: &History) -> String {
    let mut text = format!("{HEADER}\n");
    for (space, batch) in history.entries() {
        let count = batch.records.len();
        let _ = writeln!(text, "batch {} {} {count}", space.0, batch.revision.0);
        for (point, value) in &batch.records {
            match value {
                Some(value) => {
                    let _ = writeln!(text, "put {} {}", point_text(point), hex(value));
                }
                None => {
                    let _ = writeln!(text, "del {}", point_text(point));
                }
            }
        }
    }
    text
}

/// Parses the text format of this module.
///
/// # Errors
/// `InvalidData` naming the line when the text is not an encoded history.
pub fn decode(text: &str) -> io::Result<History> {
    let mut lines = text.lines().enumerate();
    match lines.next() {
        Some((_, HEADER)) => {}
        _ => return Err(invalid(1, "missing header")),
    }
    let mut history = History::default();
    while let Some((index, line)) = lines.next() {
        let number = index + 1;
        let fields: Vec<&str> = line.split(' ').collect();
        let ["batch", space, revision, count] = fields.as_slice() else {
            return Err(invalid(
                number,
                "expected `batch <space> <revision> <count>`",
            ));
        };
        let space = SpaceId(parse_number(space, number)?);
        let revision = Revision(parse_number(revision, number)?);
        let count: usize = parse_number(count, number)?;
        let mut records = Vec::with_capacity(count);
        for _ in 0..count {
            let (index, line) = lines
                .next()
                .ok_or_else(|| invalid(number, "batch ends early"))?;
            records.push(parse_record(line, index + 1)?);
        }
        history.record(space, revision, records);
    }
    Ok(history)
}

/// One `put` or `del` line.
fn parse_record(line: &str, number: usize) -> io::Result<Record> {
    let fields: Vec<&str> = line.splitn(3, ' ').collect();
    match fields.as_slice() {
        ["put", point, value] => Ok((parse_point(point, number)?, Some(unhex(value, number)?))),
        ["del", point] => Ok((parse_point(point, number)?, None)),
        _ => Err(invalid(number, "expected a `put` or `del` record")),
    }
}

fn point_text(point: &Point) -> String {
    let mut text = String::from("p");
    for coordinate in point {
        let _ = write!(text, ":{coordinate}");
    }
    text
}

fn parse_point(text: &str, number: usize) -> io::Result<Point> {
    let rest = text
        .strip_prefix('p')
        .ok_or_else(|| invalid(number, "a point starts with `p`"))?;
    if rest.is_empty() {
        return Ok(Vec::new());
    }
    let rest = rest
        .strip_prefix(':')
        .ok_or_else(|| invalid(number, "coordinates follow `:`"))?;
    rest.split(':')
        .map(|coordinate| parse_number(coordinate, number))
        .collect()
}

fn parse_number<T: std::str::FromStr>(text: &str, number: usize) -> io::Result<T> {
    text.parse()
        .map_err(|_| invalid(number, &format!("{text:?} is not a number")))
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        let _ = write!(text, "{byte:02x}");
    }
    text
}

fn unhex(text: &str, number: usize) -> io::Result<Vec<u8>> {
    let digits = text.as_bytes();
    if !digits.len().is_multiple_of(2) {
        return Err(invalid(number, "odd number of hex digits"));
    }
    let nibble = |digit: u8| match digit {
        b'0'..=b'9' => Ok(digit - b'0'),
        b'a'..=b'f' => Ok(digit - b'a' + 10),
        _ => Err(invalid(number, "a value is lowercase hex")),
    };
    digits
        .chunks_exact(2)
        .map(|pair| Ok(nibble(pair[0])? << 4 | nibble(pair[1])?))
        .collect()
}

fn invalid(number: usize, message: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("history line {number}: {message}"),
    )
}
