//! What a report mail says: subject, a short summary as text and HTML in the subscription's
//! language, the chart inline, the table as a CSV attachment named after the report and its
//! dates.

use chrono::{DateTime, Duration, Utc};
use chrono_tz::Tz;
use gatewatch_model::alert::Lang;
use gatewatch_model::report::ReportKind;
use gatewatch_model::report_subscription::{ReportFormat, ReportSubscriptionSpec};
use serde_json::Value;

use super::mail::{Letter, CHART_CID};
use crate::catalog::Report;
use gatewatch_model::html::escape;

/// Rows of the table shown in the mail's body (the CSV has them all).
const BODY_ROWS: usize = 10;

/// The mail of subscription `id` for `report`, with `png` as its chart when the subscription
/// wants one.
pub fn letter(
    id: &str,
    spec: &ReportSubscriptionSpec,
    report: &Report,
    png: Option<Vec<u8>>,
    slot: DateTime<Utc>,
) -> Letter {
    let tz = report.window.tz;
    let (from, to) = (report.window.from, report.window.to);
    let period = period(from, to, tz);
    let zh = spec.lang == Lang::ZhTw;
    // The catalog's titles are English; a zh-TW mail names the report in Chinese.
    let title = if zh {
        zh_title(report.kind).to_string()
    } else {
        report.title.clone()
    };
    let subject = if zh {
        format!("【gatewatch】{}：{title}（{period}）", spec.name)
    } else {
        format!("[gatewatch] {}: {title} ({period})", spec.name)
    };
    let png = png.filter(|_| spec.formats.contains(&ReportFormat::Chart));
    let csv = spec
        .formats
        .contains(&ReportFormat::Csv)
        .then(|| (csv_name(report, tz), report.table.to_csv()));

    let (l_period, l_zone, l_rows, l_attached, l_more) = if zh {
        ("期間", "時區", "筆數", "完整資料見附件", "其餘列見附件 CSV")
    } else {
        (
            "Period",
            "Time zone",
            "Rows",
            "The full table is attached",
            "More rows are in the attached CSV",
        )
    };
    let mut text = format!(
        "{}\n{}\n\n{l_period}: {period}\n{l_zone}: {}\n{l_rows}: {}\n",
        spec.name,
        title,
        tz.name(),
        report.table.rows.len()
    );
    let mut summary_html = String::new();
    // Single figures only: lists and objects (per-module breakdowns) are in the table and CSV.
    for (k, v) in report
        .summary
        .iter()
        .filter(|(_, v)| !v.is_array() && !v.is_object())
    {
        let v = figure(v);
        text.push_str(&format!("{k}: {v}\n"));
        summary_html.push_str(&format!(
            "<tr><th align=\"left\">{}</th><td>{}</td></tr>",
            escape(k),
            escape(&v)
        ));
    }
    if let Some((name, _)) = &csv {
        text.push_str(&format!("\n{l_attached}: {name}\n"));
    }

    let mut html = format!(
        "<!doctype html><html><body style=\"font-family:sans-serif\"><h2>{}</h2><p>{}</p>\
         <table cellpadding=\"4\"><tr><th align=\"left\">{l_period}</th><td>{}</td></tr>\
         <tr><th align=\"left\">{l_zone}</th><td>{}</td></tr>\
         <tr><th align=\"left\">{l_rows}</th><td>{}</td></tr>{summary_html}</table>",
        escape(&spec.name),
        escape(&title),
        escape(&period),
        escape(tz.name()),
        report.table.rows.len()
    );
    if png.is_some() {
        html.push_str(&format!(
            "<p><img src=\"cid:{CHART_CID}\" alt=\"{}\" style=\"max-width:100%\"></p>",
            escape(&title)
        ));
    }
    html.push_str(&table_html(report));
    if csv.is_some() && report.table.rows.len() > BODY_ROWS {
        html.push_str(&format!("<p>{l_more}</p>"));
    }
    html.push_str("</body></html>");

    Letter {
        subject,
        text,
        html,
        png,
        csv,
        message_id: format!("report-{id}-{}@gatewatch", slot.timestamp()),
    }
}

/// The report's name in Traditional Chinese.
fn zh_title(kind: ReportKind) -> &'static str {
    match kind {
        ReportKind::Usage => "API 用量",
        ReportKind::Traffic => "流量趨勢",
        ReportKind::Latency => "回應時間",
        ReportKind::Errors => "錯誤分析",
        ReportKind::Clients => "客戶用量",
        ReportKind::ClientApis => "客戶 × API 用量",
        ReportKind::Nodes => "節點資源",
        ReportKind::Top => "排行",
        ReportKind::ClientEvents => "客戶事件",
        ReportKind::Calls => "呼叫明細",
    }
}

/// `2026-11-24` for one local day, `2026-11-17 – 2026-11-23` for several whole days, else
/// times.
fn period(from: DateTime<Utc>, to: DateTime<Utc>, tz: Tz) -> String {
    let (f, t) = (from.with_timezone(&tz), to.with_timezone(&tz));
    let midnight = |d: &DateTime<Tz>| d.format("%H:%M:%S").to_string() == "00:00:00";
    if midnight(&f) && midnight(&t) {
        let last = (t - Duration::seconds(1)).date_naive();
        if last == f.date_naive() {
            return f.format("%Y-%m-%d").to_string();
        }
        return format!("{} – {last}", f.format("%Y-%m-%d"));
    }
    format!(
        "{} – {}",
        f.format("%Y-%m-%d %H:%M"),
        t.format("%Y-%m-%d %H:%M")
    )
}

/// `<report>-<first day>[_<last day>].csv`, days in the report's zone.
pub fn csv_name(report: &Report, tz: Tz) -> String {
    let from = report.window.from.with_timezone(&tz).date_naive();
    let last = (report.window.to - Duration::seconds(1))
        .with_timezone(&tz)
        .date_naive();
    if last <= from {
        format!("{}-{from}.csv", report.kind.slug())
    } else {
        format!("{}-{from}_{last}.csv", report.kind.slug())
    }
}

fn figure(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => match n.as_f64() {
            Some(f) if n.is_f64() => format!("{f:.2}"),
            _ => n.to_string(),
        },
        Value::Null => "–".into(),
        other => other.to_string(),
    }
}

/// The first rows of the table as HTML, values as the JSON answer shows them.
fn table_html(report: &Report) -> String {
    let t = &report.table;
    if t.columns.is_empty() || t.rows.is_empty() {
        return String::new();
    }
    let json = t.to_json();
    let mut s = String::from(
        "<table border=\"1\" cellpadding=\"4\" style=\"border-collapse:collapse\"><tr>",
    );
    for c in &t.columns {
        s.push_str(&format!("<th>{}</th>", escape(&c.label)));
    }
    s.push_str("</tr>");
    if let Some(rows) = json["rows"].as_array() {
        for r in rows.iter().take(BODY_ROWS) {
            s.push_str("<tr>");
            for c in &t.columns {
                s.push_str(&format!("<td>{}</td>", escape(&figure(&r[&c.key]))));
            }
            s.push_str("</tr>");
        }
    }
    s.push_str("</table>");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn periods_and_escaping() {
        let tz: Tz = "Asia/Taipei".parse().unwrap();
        let day = |d| {
            tz.with_ymd_and_hms(2026, 11, d, 0, 0, 0)
                .unwrap()
                .with_timezone(&Utc)
        };
        assert_eq!(period(day(24), day(25), tz), "2026-11-24");
        assert_eq!(period(day(17), day(24), tz), "2026-11-17 – 2026-11-23");
        assert_eq!(
            escape("<a href=\"x\">&'"),
            "&lt;a href=&quot;x&quot;&gt;&amp;&#39;"
        );
    }
}
