//! Report texts in the reader's language: the queries name columns, titles and chart labels
//! in English; [`localise`] turns a finished [`Report`] into Traditional Chinese (Taiwan) for
//! `lang=zh-TW` (the report API) or a zh-TW subscription (the mail). Data — API, client and
//! node names, paths, x labels — is never translated.
//!
//! One catalogue keyed by the English text, so a query keeps its words in one place; a unit
//! test scans the query modules and fails on a heading this catalogue misses.

use gatewatch_model::alert::Lang;
use gatewatch_model::report::ReportKind;
use gatewatch_model::FieldError;

use crate::catalog::Report;

/// `lang` of a report request: `en` (default) or `zh-TW`.
pub fn lang_of(pairs: &[(String, String)]) -> Result<Lang, FieldError> {
    match pairs.iter().rev().find(|(k, _)| k == "lang") {
        None => Ok(Lang::En),
        Some((_, v)) => match v.trim() {
            "en" | "" => Ok(Lang::En),
            v if v.eq_ignore_ascii_case("zh-TW") => Ok(Lang::ZhTw),
            v => Err(FieldError::new("lang", format!("{v:?} is not en or zh-TW"))),
        },
    }
}

/// The report's headings, titles and chart labels in `lang`.
pub fn localise(report: &mut Report, lang: Lang) {
    if lang == Lang::En {
        return;
    }
    let tr = |s: &mut String| {
        if let Some(z) = zh(s) {
            *s = z.to_string();
        }
    };
    tr(&mut report.title);
    // The one label the queries put among the data: calls that matched no API.
    let no_api = |s: &mut String| {
        if s == crate::queries::usage::NO_API {
            *s = NO_API_ZH.to_string();
        } else if s == crate::queries::usage::NO_VERSION {
            *s = NO_VERSION_ZH.to_string();
        }
    };
    for row in &mut report.table.rows {
        for cell in row {
            if let crate::table::Cell::Text(t) = cell {
                no_api(t);
            }
        }
    }
    for c in &mut report.table.columns {
        tr(&mut c.label);
        c.unit = c.unit.map(|u| zh_unit(u).unwrap_or(u));
    }
    if let Some(chart) = &mut report.chart {
        tr(&mut chart.title);
        tr(&mut chart.y_label);
        chart.x_labels.iter_mut().for_each(no_api);
        if let Some(u) = zh_unit(&chart.y_label) {
            chart.y_label = u.to_string();
        }
        // The node chart's series are node names: data, left alone.
        if report.kind != ReportKind::Nodes {
            for s in &mut chart.series {
                tr(&mut s.name);
                no_api(&mut s.name);
            }
        }
    }
}

/// `(no version)` in zh-TW.
const NO_VERSION_ZH: &str = "（無版本）";

/// `(no API matched)` in zh-TW.
const NO_API_ZH: &str = "（未對應任何 API）";

fn zh_unit(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "bytes" => "位元組",
        "µs since epoch" => "微秒（自 1970 年起）",
        _ => return None,
    })
}

/// The zh-TW text of an English heading, title or label.
pub fn zh(en: &str) -> Option<&'static str> {
    Some(match en {
        // Report titles.
        "API usage" => "API 用量",
        "API usage per version" => "各版本 API 用量",
        "Calls per API version" => "各 API 版本呼叫數",
        "Version" => "版本",
        "API version" => "API 版本",
        "Traffic over time" => "流量趨勢",
        "Latency" => "回應時間",
        "Errors and failed connections" => "錯誤與連線失敗",
        "Client usage" => "用戶端用量",
        "Client × API usage" => "用戶端 × API 用量",
        "Nodes" => "節點資源",
        "Client events" => "用戶端事件",
        "Calls" => "呼叫數",
        // Chart titles and axis names.
        "Calls per API" => "各 API 呼叫數",
        "Calls over time by outcome" => "各結果呼叫數趨勢",
        "Latency percentiles over time" => "回應時間百分位數趨勢",
        "Errors by outcome" => "各結果錯誤數",
        "Calls per client" => "各用戶端呼叫數",
        "Calls per client and API" => "各用戶端與 API 呼叫數",
        "CPU per node (average)" => "各節點 CPU（平均）",
        "Slowest calls" => "最慢的呼叫",
        "Biggest payloads" => "資料量最大的呼叫",
        "Busiest clients" => "呼叫最多的用戶端",
        "calls" => "呼叫數",
        // Outcome classes.
        "Success" => "成功",
        "Client error" => "用戶端錯誤",
        "Server error" => "伺服器錯誤",
        "Refused" => "已拒絕",
        // Column headings.
        "Time" => "時間",
        "Call id" => "呼叫 ID",
        "Request id" => "請求 ID",
        "Node" => "節點",
        "API id" => "API ID",
        "Client" => "用戶端",
        "Client id" => "用戶端 ID",
        "Method" => "方法",
        "Path" => "路徑",
        "Status" => "狀態碼",
        "Outcome" => "結果",
        "Upstream time" => "上游時間",
        "Gateway overhead" => "閘道額外耗時",
        "Request size" => "請求大小",
        "Response size" => "回應大小",
        "Total size" => "總大小",
        "Request + response size" => "請求＋回應大小",
        "Upstream host" => "上游主機",
        "Start" => "開始時間",
        "Event" => "事件",
        "Detail" => "說明",
        "By" => "操作者",
        "Source" => "來源",
        "Module" => "模組",
        "Share" => "占比",
        "Average" => "平均",
        "Average latency" => "平均回應時間",
        "Longest latency" => "最長回應時間",
        "Slowest" => "最慢",
        "Upstream average" => "上游平均",
        "Gateway overhead average" => "閘道額外耗時平均",
        "Quota window" => "配額週期",
        "Quota" => "配額",
        "Quota used" => "已用配額",
        "Quota used share" => "配額使用率",
        "Breakdown" => "分類",
        "Key" => "項目",
        "Errors" => "錯誤數",
        "Error rate" => "錯誤率",
        "Group" => "分組",
        "Samples" => "取樣數",
        "CPU average" => "CPU 平均",
        "CPU highest" => "CPU 最高",
        "Memory" => "記憶體總量",
        "Memory used average" => "記憶體用量平均",
        "Memory used highest" => "記憶體用量最高",
        "Process RSS average" => "行程 RSS 平均",
        "Process RSS highest" => "行程 RSS 最高",
        "Fullest mount" => "最滿的掛載點",
        "Disk used highest" => "磁碟用量最高",
        "Disk size" => "磁碟容量",
        "Rank" => "排名",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every English heading and title the query modules write, read from their source.
    fn english_texts() -> Vec<String> {
        let sources = [
            include_str!("queries/usage.rs"),
            include_str!("queries/traffic.rs"),
            include_str!("queries/latency.rs"),
            include_str!("queries/errors.rs"),
            include_str!("queries/clients.rs"),
            include_str!("queries/nodes.rs"),
            include_str!("queries/top.rs"),
            include_str!("queries/client_events.rs"),
            include_str!("queries/calls.rs"),
            include_str!("queries/class.rs"),
        ];
        let mut out = Vec::new();
        for src in sources {
            for line in src.lines() {
                let quoted: Vec<&str> = line.split('"').skip(1).step_by(2).collect();
                let l = line.trim();
                if l.contains("Column::new(") {
                    // Column::new("key", "Label"): the second literal.
                    out.extend(quoted.get(1).map(|s| s.to_string()));
                } else if l.starts_with("title: \"")
                    || l.starts_with("y_label: \"")
                    || l.starts_with("name: \"")
                    || l.starts_with("TopBy::")
                    || l.starts_with("Class::")
                    || (l.starts_with("(\"") && l.ends_with("\")"))
                    || l.starts_with("\"Calls per client")
                {
                    out.extend(quoted.first().map(|s| s.to_string()));
                }
            }
        }
        // Keys (`success`, `client_error`) and units (`ms`) are not headings; `calls` (an axis) is.
        out.retain(|s| {
            s.chars().any(|c| c.is_ascii_alphabetic())
                && (s.starts_with(|c: char| !c.is_ascii_lowercase()) || s == "calls")
        });
        out.sort();
        out.dedup();
        out
    }

    #[test]
    fn every_heading_and_title_has_a_chinese_text() {
        let texts = english_texts();
        // The scan finds the headings (a broken scan would pass vacuously).
        for must in [
            "Calls",
            "Latency",
            "Quota used share",
            "Busiest clients",
            "Success",
        ] {
            assert!(
                texts.iter().any(|t| t == must),
                "scan misses {must}: {texts:?}"
            );
        }
        let missing: Vec<_> = texts
            .iter()
            .filter(|t| zh(t).is_none() && !t.starts_with('p') && *t != "5xx" && *t != "API")
            .collect();
        assert!(missing.is_empty(), "no zh-TW text for {missing:?}");
    }

    fn sample() -> Report {
        use crate::chart::{Chart, ChartKind, Series};
        use crate::table::{Column, Table};
        let tz = chrono_tz::Asia::Taipei;
        let mut table = Table::new(
            vec![
                Column::new("api_name", "API"),
                Column::new("calls", "Calls"),
                Column::new("avg_ms", "Average latency").unit("ms"),
                Column::new("request_bytes", "Request size").unit("bytes"),
            ],
            tz,
        );
        table.push(vec!["訂單".into(), 3u64.into(), 1.5.into(), 10u64.into()]);
        let now = chrono::Utc::now();
        Report {
            kind: ReportKind::Usage,
            title: "API usage".into(),
            window: gatewatch_model::report::Window {
                from: now - chrono::Duration::hours(1),
                to: now,
                tz,
                bucket: gatewatch_model::report::Bucket::Minute,
            },
            source: crate::queries::Source::Minute,
            summary: Default::default(),
            table,
            chart: Some(Chart {
                kind: ChartKind::StackedBar,
                title: "Calls over time by outcome".into(),
                x_labels: vec!["08:00".into(), "09:00".into()],
                y_label: "calls".into(),
                series: vec![
                    Series {
                        name: "Success".into(),
                        values: vec![3.0, 4.0],
                    },
                    Series {
                        name: "Server error".into(),
                        values: vec![1.0, 0.0],
                    },
                ],
            }),
            next_cursor: None,
        }
    }

    fn csv_heading(r: &Report) -> String {
        let csv = r.table.to_csv();
        let text = String::from_utf8_lossy(&csv[crate::table::UTF8_BOM.len()..]).to_string();
        text.lines().next().unwrap_or_default().to_string()
    }

    #[test]
    fn zh_tw_csv_and_chart_have_chinese_headings_and_en_stays_english() {
        let mut en = sample();
        localise(&mut en, Lang::En);
        assert_eq!(
            csv_heading(&en),
            "API,Calls,Average latency (ms),Request size (bytes)"
        );
        let svg_en = crate::chart::render_svg(en.chart.as_ref().unwrap(), (640, 320)).unwrap();
        assert!(svg_en.contains("Calls over time by outcome"));
        assert!(svg_en.contains("Server error"));

        let mut zh = sample();
        localise(&mut zh, Lang::ZhTw);
        assert_eq!(zh.title, "API 用量");
        assert_eq!(
            csv_heading(&zh),
            "API,呼叫數,平均回應時間 (ms),請求大小 (位元組)"
        );
        // Data is not translated.
        assert_eq!(zh.table.rows[0][0], crate::table::Cell::Text("訂單".into()));
        let svg = crate::chart::render_svg(zh.chart.as_ref().unwrap(), (640, 320)).unwrap();
        for text in ["各結果呼叫數趨勢", "成功", "伺服器錯誤", "呼叫數"] {
            assert!(svg.contains(text), "{text} missing from the zh-TW SVG");
        }
        assert!(!svg.contains("Calls over time"));
        assert!(!svg.contains("Server error"));

        // An empty zh-TW chart says so in Chinese.
        let mut empty = zh.chart.clone().unwrap();
        empty
            .series
            .iter_mut()
            .for_each(|s| s.values = vec![0.0, 0.0]);
        let svg = crate::chart::render_svg(&empty, (640, 320)).unwrap();
        assert!(svg.contains("此期間沒有呼叫"));
    }

    #[test]
    fn the_no_api_label_is_translated_in_cells_and_labels() {
        let mut r = sample();
        let no_api = crate::queries::usage::NO_API.to_string();
        r.table
            .rows
            .push(vec![crate::table::Cell::Text(no_api.clone())]);
        if let Some(c) = &mut r.chart {
            c.x_labels.push(no_api.clone());
        }
        localise(&mut r, Lang::ZhTw);
        let last = r.table.rows.last().unwrap();
        assert!(matches!(&last[0], crate::table::Cell::Text(t) if t == NO_API_ZH));
        assert_eq!(r.chart.unwrap().x_labels.last().unwrap(), NO_API_ZH);
    }

    #[test]
    fn node_names_stay_as_they_are() {
        let mut r = sample();
        r.kind = ReportKind::Nodes;
        if let Some(c) = &mut r.chart {
            c.series[0].name = "Success".into();
        }
        localise(&mut r, Lang::ZhTw);
        assert_eq!(r.chart.unwrap().series[0].name, "Success");
    }

    #[test]
    fn lang_is_en_or_zh_tw() {
        let p = |v: &str| lang_of(&[("lang".to_string(), v.to_string())]);
        assert_eq!(lang_of(&[]).unwrap(), Lang::En);
        assert_eq!(p("en").unwrap(), Lang::En);
        assert_eq!(p("zh-TW").unwrap(), Lang::ZhTw);
        assert_eq!(p("zh-tw").unwrap(), Lang::ZhTw);
        assert_eq!(p("fr").unwrap_err().field, "lang");
    }
}
