//! Aligned columns with widths taken from the content, as `birdc show
//! protocols` and `vtysh show bgp summary` print them.

use std::io::Write;

use crate::cli::output::outln;

/// Between two columns.
const GAP: &str = "  ";
/// The last column never gets narrower than this when it wraps.
const MIN_WRAP: usize = 24;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    Left,
    Right,
}

#[derive(Debug)]
enum Row {
    Cells(Vec<String>),
    /// A line of its own under the row before it; not part of the columns.
    Note(String),
}

#[derive(Debug, Default)]
pub(super) struct Table {
    columns: Vec<(&'static str, Align)>,
    rows: Vec<Row>,
    /// Wrap the last column at spaces to keep lines within this width.
    wrap: Option<usize>,
}

impl Table {
    pub(super) fn new() -> Table {
        Table::default()
    }

    pub(super) fn column(&mut self, header: &'static str, align: Align) {
        self.columns.push((header, align));
    }

    pub(super) fn wrap_last(&mut self, width: usize) {
        self.wrap = Some(width);
    }

    pub(super) fn row(&mut self, cells: Vec<String>) {
        debug_assert_eq!(cells.len(), self.columns.len(), "one cell per column");
        self.rows.push(Row::Cells(cells));
    }

    pub(super) fn note(&mut self, line: String) {
        self.rows.push(Row::Note(line));
    }

    pub(super) fn print(&self, out: &mut impl Write, indent: &str) -> anyhow::Result<()> {
        let n = self.columns.len();
        let mut widths: Vec<usize> = self.columns.iter().map(|(h, _)| width(h)).collect();
        for row in &self.rows {
            if let Row::Cells(cells) = row {
                for (w, c) in widths.iter_mut().zip(cells) {
                    *w = (*w).max(width(c));
                }
            }
        }
        // Where the last column starts, for its continuation lines.
        let last_at = width(indent)
            + widths[..n.saturating_sub(1)].iter().sum::<usize>()
            + GAP.len() * n.saturating_sub(1);
        let room = self.wrap.map(|w| w.saturating_sub(last_at).max(MIN_WRAP));

        let headers: Vec<String> = self.columns.iter().map(|(h, _)| h.to_string()).collect();
        self.line(out, indent, &widths, &headers)?;
        for row in &self.rows {
            match row {
                Row::Note(text) => outln!(out, "{indent}{text}")?,
                Row::Cells(cells) => {
                    let Some(room) = room else {
                        self.line(out, indent, &widths, cells)?;
                        continue;
                    };
                    let mut chunks = wrap(&cells[n - 1], room).into_iter();
                    let mut first = cells.clone();
                    first[n - 1] = chunks.next().unwrap_or_default();
                    self.line(out, indent, &widths, &first)?;
                    for more in chunks {
                        outln!(out, "{:last_at$}{more}", "")?;
                    }
                }
            }
        }
        Ok(())
    }

    fn line(
        &self,
        out: &mut impl Write,
        indent: &str,
        widths: &[usize],
        cells: &[String],
    ) -> anyhow::Result<()> {
        let mut line = String::from(indent);
        for (i, ((cell, (_, align)), w)) in cells.iter().zip(&self.columns).zip(widths).enumerate()
        {
            if i > 0 {
                line.push_str(GAP);
            }
            let pad = " ".repeat(w - width(cell));
            match align {
                Align::Left => {
                    line.push_str(cell);
                    line.push_str(&pad);
                }
                Align::Right => {
                    line.push_str(&pad);
                    line.push_str(cell);
                }
            }
        }
        outln!(out, "{}", line.trim_end())
    }
}

/// Columns a cell takes; what we print is ASCII but for descriptions.
fn width(s: &str) -> usize {
    s.chars().count()
}

/// Splits at spaces into lines of at most `room` columns (a longer word
/// gets a line of its own).
pub(super) fn wrap(text: &str, room: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut line = String::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        if !line.is_empty() && width(&line) + 1 + width(word) > room {
            lines.push(std::mem::take(&mut line));
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(word);
    }
    if !line.is_empty() || lines.is_empty() {
        lines.push(line);
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(t: &Table, indent: &str) -> String {
        let mut out = Vec::new();
        t.print(&mut out, indent).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn widths_come_from_the_content_and_numbers_align_right() {
        let mut t = Table::new();
        t.column("Name", Align::Left);
        t.column("N", Align::Right);
        t.column("Note", Align::Left);
        t.row(vec!["a".into(), "1234".into(), String::new()]);
        t.note("(under a)".into());
        t.row(vec!["longer-name".into(), "5".into(), "x".into()]);
        assert_eq!(
            render(&t, ""),
            "\
Name            N  Note
a            1234
(under a)
longer-name     5  x
"
        );
    }

    #[test]
    fn the_last_column_wraps_under_itself() {
        let mut t = Table::new();
        t.column("P", Align::Left);
        t.column("Communities", Align::Left);
        t.wrap_last(30);
        t.row(vec![
            "p1".into(),
            "65000:1 65000:2 65000:3 65000:4 65000:5 65000:6".into(),
        ]);
        assert_eq!(
            render(&t, "  "),
            "  P   Communities
  p1  65000:1 65000:2 65000:3
      65000:4 65000:5 65000:6
"
        );
    }

    #[test]
    fn wrap_keeps_long_words_whole() {
        assert_eq!(wrap("", 5), vec![String::new()]);
        assert_eq!(wrap("abcdefgh ab c", 5), vec!["abcdefgh", "ab c"]);
    }
}
