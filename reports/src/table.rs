//! [`Table`]: every report's rows, one shape for JSON (the UI), CSV (Excel) and the charts.
//!
//! Times are kept as Unix seconds and shown in the report's zone, so one table renders the same
//! in every output.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use serde_json::{Map, Value};

/// One value.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Int(i64),
    Float(f64),
    Text(String),
    /// Unix seconds, shown in the table's zone.
    Time(i64),
}

impl From<u64> for Cell {
    fn from(v: u64) -> Cell {
        Cell::Int(i64::try_from(v).unwrap_or(i64::MAX))
    }
}
impl From<i64> for Cell {
    fn from(v: i64) -> Cell {
        Cell::Int(v)
    }
}
impl From<f64> for Cell {
    fn from(v: f64) -> Cell {
        if v.is_finite() {
            Cell::Float(v)
        } else {
            Cell::Null
        }
    }
}
impl From<String> for Cell {
    fn from(v: String) -> Cell {
        Cell::Text(v)
    }
}
impl From<&str> for Cell {
    fn from(v: &str) -> Cell {
        Cell::Text(v.to_string())
    }
}

/// A column: its key in JSON, its heading in CSV and charts, and its unit if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub key: String,
    pub label: String,
    pub unit: Option<&'static str>,
}

impl Column {
    pub fn new(key: &str, label: &str) -> Column {
        Column {
            key: key.to_string(),
            label: label.to_string(),
            unit: None,
        }
    }

    pub fn unit(mut self, unit: &'static str) -> Column {
        self.unit = Some(unit);
        self
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    pub columns: Vec<Column>,
    pub rows: Vec<Vec<Cell>>,
    /// The zone times are shown in.
    pub tz: Tz,
}

/// Excel reads a CSV as UTF-8 only when it starts with this mark; without it Chinese names
/// come out garbled.
pub const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";

impl Table {
    pub fn new(columns: Vec<Column>, tz: Tz) -> Table {
        Table {
            columns,
            rows: Vec::new(),
            tz,
        }
    }

    /// Adds a row; it must have one cell per column (a bug otherwise, caught in tests).
    pub fn push(&mut self, row: Vec<Cell>) {
        debug_assert_eq!(row.len(), self.columns.len(), "row width");
        self.rows.push(row);
    }

    /// The index of a column by key.
    pub fn col(&self, key: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.key == key)
    }

    fn time_text(&self, secs: i64) -> String {
        DateTime::<Utc>::from_timestamp(secs, 0)
            .map(|t| t.with_timezone(&self.tz).to_rfc3339())
            .unwrap_or_default()
    }

    fn cell_json(&self, c: &Cell) -> Value {
        match c {
            Cell::Null => Value::Null,
            Cell::Int(v) => Value::from(*v),
            Cell::Float(v) => serde_json::Number::from_f64(*v).map_or(Value::Null, Value::Number),
            Cell::Text(s) => Value::String(s.clone()),
            Cell::Time(s) => Value::String(self.time_text(*s)),
        }
    }

    /// `{"columns":[{key,label,unit}],"rows":[{key: value, …}]}`.
    pub fn to_json(&self) -> Value {
        let columns: Vec<Value> = self
            .columns
            .iter()
            .map(|c| serde_json::json!({"key": c.key, "label": c.label, "unit": c.unit}))
            .collect();
        let rows: Vec<Value> = self
            .rows
            .iter()
            .map(|r| {
                let mut m = Map::new();
                for (c, v) in self.columns.iter().zip(r) {
                    m.insert(c.key.clone(), self.cell_json(v));
                }
                Value::Object(m)
            })
            .collect();
        serde_json::json!({"columns": columns, "rows": rows})
    }

    /// UTF-8 with a byte-order mark, a heading row of labels (with units), RFC 4180 quoting.
    pub fn to_csv(&self) -> Vec<u8> {
        let mut w = csv::Writer::from_writer(UTF8_BOM.to_vec());
        let heading = self.columns.iter().map(|c| match c.unit {
            Some(u) => format!("{} ({u})", c.label),
            None => c.label.clone(),
        });
        // Writing to a Vec cannot fail.
        let _ = w.write_record(heading);
        for r in &self.rows {
            let _ = w.write_record(r.iter().map(|c| match c {
                Cell::Null => String::new(),
                Cell::Int(v) => v.to_string(),
                Cell::Float(v) => format!("{v}"),
                Cell::Text(s) => csv_safe(s),
                Cell::Time(s) => self.time_text(*s),
            }));
        }
        w.into_inner().unwrap_or_default()
    }
}

/// A text cell that a spreadsheet would run as a formula (`=`, `+`, `-`, `@` first) gets a
/// leading quote: paths and names come from callers and must not become formulas in Excel.
fn csv_safe(s: &str) -> String {
    if s.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{s}")
    } else {
        s.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Table {
        let mut t = Table::new(
            vec![
                Column::new("api", "API"),
                Column::new("calls", "Calls"),
                Column::new("p95", "p95").unit("ms"),
                Column::new("ts", "Time"),
            ],
            chrono_tz::Asia::Taipei,
        );
        t.push(vec![
            "訂單, \"查詢\"".into(),
            3u64.into(),
            1.5.into(),
            Cell::Time(0),
        ]);
        t.push(vec![
            "=cmd()".into(),
            Cell::Null,
            f64::NAN.into(),
            Cell::Time(3600),
        ]);
        t
    }

    #[test]
    fn csv_has_a_bom_quotes_and_no_formulas() {
        let csv = sample().to_csv();
        assert!(csv.starts_with(UTF8_BOM));
        let text = std::str::from_utf8(&csv[3..]).unwrap();
        let mut r = csv::Reader::from_reader(text.as_bytes());
        assert_eq!(
            r.headers().unwrap().iter().collect::<Vec<_>>(),
            ["API", "Calls", "p95 (ms)", "Time"]
        );
        let rows: Vec<csv::StringRecord> = r.records().map(|r| r.unwrap()).collect();
        assert_eq!(&rows[0][0], "訂單, \"查詢\"");
        assert_eq!(&rows[0][3], "1970-01-01T08:00:00+08:00");
        assert_eq!(&rows[1][0], "'=cmd()");
        assert_eq!(&rows[1][1], "");
    }

    #[test]
    fn json_rows_are_objects_by_key() {
        let j = sample().to_json();
        assert_eq!(j["rows"][0]["calls"], 3);
        assert_eq!(j["rows"][1]["p95"], Value::Null);
        assert_eq!(j["columns"][2]["unit"], "ms");
    }
}
