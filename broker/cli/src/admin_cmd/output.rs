//! How the admin, produce and consume commands print: aligned text tables for people, or one
//! JSON document (`--json`) for scripts. Every command builds its rows once and hands them here,
//! so both forms always carry the same facts.

use std::fmt::Write as _;

use serde_json::Value;

/// Rows under a header, printed with each column padded to its widest cell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    /// An empty table with these column names.
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Table {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    /// Appends one row (as many cells as columns).
    pub fn row<S: ToString>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows
            .push(cells.into_iter().map(|c| c.to_string()).collect());
    }

    /// The table as text: header line, then one line per row; no trailing spaces.
    pub fn render(&self) -> String {
        let mut widths: Vec<usize> = self.header.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate() {
                if let Some(w) = widths.get_mut(i) {
                    *w = (*w).max(cell.chars().count());
                }
            }
        }
        let mut out = String::new();
        for line in std::iter::once(&self.header).chain(&self.rows) {
            let mut text = String::new();
            for (i, cell) in line.iter().enumerate() {
                let width = widths.get(i).copied().unwrap_or(0);
                let _ = write!(text, "{cell:<width$}  ");
            }
            out.push_str(text.trim_end());
            out.push('\n');
        }
        out
    }
}

/// Where a command's result goes: a table (plus notes) or a JSON value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Aligned text tables.
    Text,
    /// One pretty-printed JSON document.
    Json,
}

impl Format {
    /// `Json` when `json` is set.
    pub fn from_flag(json: bool) -> Self {
        if json { Format::Json } else { Format::Text }
    }

    /// Prints `table` (text) or `json` (JSON).
    pub fn print(self, table: &Table, json: &Value) {
        match self {
            Format::Text => print!("{}", table.render()),
            Format::Json => println!("{}", pretty(json)),
        }
    }

    /// Prints `text` as is (text) or `json` (JSON).
    pub fn print_text(self, text: &str, json: &Value) {
        match self {
            Format::Text => println!("{text}"),
            Format::Json => println!("{}", pretty(json)),
        }
    }
}

fn pretty(json: &Value) -> String {
    serde_json::to_string_pretty(json).unwrap_or_else(|_| json.to_string())
}

/// `ms` since the epoch as "YYYY-MM-DD HH:MM:SS.mmm" (UTC); "-" for 0 or negative.
pub fn format_millis(ms: i64) -> String {
    if ms <= 0 {
        return "-".to_owned();
    }
    let (days, rem) = (ms.div_euclid(86_400_000), ms.rem_euclid(86_400_000));
    let (year, month, day) = civil_from_days(days);
    let (h, m, s, milli) = (
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
    );
    format!("{year:04}-{month:02}-{day:02} {h:02}:{m:02}:{s:02}.{milli:03}")
}

/// Proleptic Gregorian date of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `perm` as RocketMQ prints it: "RW-", "R--", "-W-", with "X" for inherit.
pub fn perm_text(perm: i32) -> String {
    let bit = |b: i32, c: char| if perm & b != 0 { c } else { '-' };
    [bit(4, 'R'), bit(2, 'W'), bit(1, 'X')].iter().collect()
}

/// `text` cut to `max` characters with "..." when longer (table cells only; JSON is never cut).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let kept: String = text.chars().take(max.saturating_sub(3)).collect();
    format!("{kept}...")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_pads_columns_to_the_widest_cell() {
        let mut t = Table::new(["TOPIC", "QUEUES"]);
        t.row(["a", "8"]);
        t.row(["long-topic", "16"]);
        assert_eq!(
            t.render(),
            "TOPIC       QUEUES\na           8\nlong-topic  16\n"
        );
    }

    #[test]
    fn millis_format_as_utc() {
        assert_eq!(format_millis(0), "-");
        assert_eq!(format_millis(1), "1970-01-01 00:00:00.001");
        assert_eq!(format_millis(951_782_400_000), "2000-02-29 00:00:00.000");
        assert_eq!(format_millis(1_700_000_000_123), "2023-11-14 22:13:20.123");
    }

    #[test]
    fn perm_and_clip() {
        assert_eq!(perm_text(6), "RW-");
        assert_eq!(perm_text(2), "-W-");
        assert_eq!(perm_text(7), "RWX");
        assert_eq!(clip("abcdef", 10), "abcdef");
        assert_eq!(clip("abcdefghijkl", 6), "abc...");
    }
}
