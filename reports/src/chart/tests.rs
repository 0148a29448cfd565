//! Both renderers on every kind: SVG parses as XML with the asked size and the names in it,
//! PNG decodes to the asked size, Chinese names draw real glyphs, empty data draws the empty
//! picture. `GATEWATCH_SAVE_CHARTS=1` also writes each picture to `target/charts/` to look at.

use super::*;

/// Long Chinese API names, as a government platform has them.
const APIS: [&str; 12] = [
    "戶政資料查詢服務",
    "健保卡就醫紀錄查詢",
    "地籍圖資下載",
    "機車行照換發申請",
    "稅務電子申報（綜合所得稅）",
    "勞保投保薪資查詢",
    "公司登記資料 API",
    "空氣品質即時監測",
    "Payments v2 /charge",
    "不動產實價登錄",
    "電子發票載具歸戶",
    "國民年金繳費紀錄",
];

fn hours(n: usize) -> Vec<String> {
    (0..n)
        .map(|i| format!("11-{:02} {:02}:00", 24 + i / 24, i % 24))
        .collect()
}

fn wave(n: usize, base: f64, amp: f64, phase: f64) -> Vec<f64> {
    (0..n)
        .map(|i| {
            let t = i as f64 / 24.0 * std::f64::consts::TAU + phase;
            (base + amp * t.sin()).max(0.0).round()
        })
        .collect()
}

fn series(name: &str, values: Vec<f64>) -> Series {
    Series {
        name: name.into(),
        values,
    }
}

fn line() -> Chart {
    let n = 48;
    Chart {
        kind: ChartKind::Line,
        title: "每小時呼叫次數 — calls per hour".into(),
        x_labels: hours(n),
        y_label: "calls".into(),
        series: vec![
            series(APIS[0], wave(n, 1200.0, 800.0, 0.0)),
            series(APIS[1], wave(n, 700.0, 400.0, 1.0)),
            series(APIS[8], wave(n, 300.0, 250.0, 2.0)),
        ],
    }
}

fn stacked() -> Chart {
    let n = 288;
    let labels = (0..n)
        .map(|i| format!("{:02}:{:02}", i / 12, (i % 12) * 5))
        .collect();
    let ok: Vec<f64> = (0..n)
        .map(|i| {
            let t = i as f64 / n as f64 * std::f64::consts::TAU;
            (9000.0 - 6000.0 * t.cos()).round()
        })
        .collect();
    Chart {
        kind: ChartKind::StackedBar,
        title: "流量 Traffic by outcome, 24 h".into(),
        x_labels: labels,
        y_label: "calls / 5 min".into(),
        series: vec![
            series("success", ok.clone()),
            series(
                "client error",
                ok.iter().map(|v| (v * 0.06).round()).collect(),
            ),
            series(
                "server error",
                ok.iter().map(|v| (v * 0.015).round()).collect(),
            ),
            series("refused", ok.iter().map(|v| (v * 0.03).round()).collect()),
        ],
    }
}

fn horizontal(n: usize) -> Chart {
    Chart {
        kind: ChartKind::HorizontalBar,
        title: "各 API 呼叫次數 — calls per API".into(),
        x_labels: APIS.iter().cycle().take(n).map(|s| s.to_string()).collect(),
        y_label: "calls".into(),
        series: vec![series(
            "calls",
            (0..n)
                .map(|i| (2_400_000.0 / (i as f64 + 1.3)).round())
                .collect(),
        )],
    }
}

fn bands() -> Chart {
    let n = 30;
    let mut p50: Vec<f64> = (0..n).map(|i| 40.0 + (i % 7) as f64 * 3.0).collect();
    // A day without calls: a gap, not a drop to zero.
    p50[12] = f64::NAN;
    let p95: Vec<f64> = p50.iter().map(|v| v * 2.6).collect();
    let p99: Vec<f64> = p50
        .iter()
        .enumerate()
        .map(|(i, v)| v * (4.0 + (i % 5) as f64 * 0.4))
        .collect();
    let avg: Vec<f64> = p50.iter().map(|v| v * 1.3).collect();
    Chart {
        kind: ChartKind::Bands,
        title: "延遲 Latency, 戶政資料查詢服務, 30 days".into(),
        x_labels: (0..n)
            .map(|i| format!("2026-11-{:02}", i % 30 + 1))
            .collect(),
        y_label: "ms".into(),
        series: vec![
            series("p50", p50),
            series("p95", p95),
            series("p99", p99),
            series("avg", avg),
        ],
    }
}

fn empty(kind: ChartKind) -> Chart {
    Chart {
        kind,
        title: "Calls per API".into(),
        x_labels: hours(24),
        y_label: "calls".into(),
        series: vec![series("calls", vec![0.0; 24])],
    }
}

fn all() -> Vec<(&'static str, Chart)> {
    vec![
        ("line", line()),
        ("stacked", stacked()),
        ("horizontal", horizontal(12)),
        ("horizontal-many", horizontal(50)),
        ("bands", bands()),
        ("empty", empty(ChartKind::StackedBar)),
    ]
}

/// The CJK font `ops/test.sh` installs; these tests are about Chinese names, so they insist.
fn cjk_font() {
    match font::init(None) {
        Ok(f) => assert!(
            f.cjk,
            "the chart font {} has no Chinese: run ops/test.sh or apt-get install fonts-noto-cjk",
            f.path.display()
        ),
        Err(e) => panic!("{e}"),
    }
}

fn save(name: &str, ext: &str, bytes: &[u8]) {
    if std::env::var_os("GATEWATCH_SAVE_CHARTS").is_none() {
        return;
    }
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/charts");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(format!("{name}.{ext}")), bytes).unwrap();
}

fn decode(png_bytes: &[u8]) -> (u32, u32, Vec<u8>) {
    let dec = png::Decoder::new(png_bytes);
    let mut reader = dec.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgb);
    buf.truncate(info.buffer_size());
    (info.width, info.height, buf)
}

#[test]
fn svg_is_well_formed_with_the_asked_size_and_the_names_in_it() {
    cjk_font();
    for (name, chart) in all() {
        for size in [DEFAULT_SIZE, (MIN_SIDE, MIN_SIDE), (1600, 900)] {
            let svg = render_svg(&chart, size).unwrap();
            save(
                &format!("{name}-{}x{}", size.0, size.1),
                "svg",
                svg.as_bytes(),
            );
            let doc = roxmltree::Document::parse(&svg)
                .unwrap_or_else(|e| panic!("{name} {size:?}: {e}\n{svg}"));
            let root = doc.root_element();
            assert_eq!(root.tag_name().name(), "svg");
            assert_eq!(root.attribute("width"), Some(size.0.to_string().as_str()));
            assert_eq!(root.attribute("height"), Some(size.1.to_string().as_str()));
            let texts: Vec<&str> = doc
                .descendants()
                .filter(|n| n.has_tag_name("text"))
                .filter_map(|n| n.text())
                .map(str::trim)
                .collect();
            assert!(
                texts
                    .iter()
                    .any(|t| chart.title.starts_with(t.trim_end_matches('…'))),
                "{name}: no title in {texts:?}"
            );
            let fonts = doc
                .descendants()
                .filter_map(|n| n.attribute("font-family"))
                .collect::<Vec<_>>();
            assert!(
                fonts.iter().all(|f| *f == font::FAMILY),
                "{name}: {fonts:?}"
            );
            if draw::is_empty(&chart) {
                assert!(texts.contains(&draw::EMPTY_TEXT), "{name}: {texts:?}");
                continue;
            }
            if size == DEFAULT_SIZE && chart.series.len() > 1 {
                for s in &chart.series {
                    assert!(
                        texts.iter().any(|t| t.contains(s.name.as_str())),
                        "{name}: series {} not in {texts:?}",
                        s.name
                    );
                }
            }
        }
    }
}

#[test]
fn horizontal_bars_name_every_api_left_of_its_bar() {
    cjk_font();
    let chart = horizontal(12);
    let svg = render_svg(&chart, DEFAULT_SIZE).unwrap();
    let doc = roxmltree::Document::parse(&svg).unwrap();
    for api in &chart.x_labels {
        let node = doc
            .descendants()
            .find(|n| n.has_tag_name("text") && n.text().map(str::trim) == Some(api.as_str()))
            .unwrap_or_else(|| panic!("{api} is not drawn"));
        // Right-aligned against the axis, in the left part of the picture.
        assert_eq!(node.attribute("text-anchor"), Some("end"), "{api}");
        let x: f64 = node.attribute("x").unwrap().parse().unwrap();
        assert!(x < f64::from(DEFAULT_SIZE.0) / 2.0, "{api} at x={x}");
    }
}

#[test]
fn too_many_apis_are_cut_with_a_note_not_squeezed() {
    cjk_font();
    let svg = render_svg(&horizontal(50), DEFAULT_SIZE).unwrap();
    assert!(svg.contains("more not shown"), "{svg}");
}

#[test]
fn png_decodes_to_the_asked_size() {
    cjk_font();
    for (name, chart) in all() {
        for size in [DEFAULT_SIZE, (MIN_SIDE, MIN_SIDE), (1600, 900)] {
            let png_bytes = render_png(&chart, size).unwrap();
            save(&format!("{name}-{}x{}", size.0, size.1), "png", &png_bytes);
            let (w, h, rgb) = decode(&png_bytes);
            assert_eq!((w, h), size, "{name}");
            // Something besides the background was drawn (at least the title).
            let inked = rgb.chunks(3).filter(|p| *p != [255, 255, 255]).count();
            assert!(inked > 100, "{name} {size:?}: only {inked} pixels drawn");
        }
    }
}

/// Pixels of the left 40% of the picture (where the horizontal bars' names are) that differ
/// between two renderings.
fn label_area_difference(a: &Chart, b: &Chart) -> usize {
    let (w, _, pa) = decode(&render_png(a, DEFAULT_SIZE).unwrap());
    let (_, _, pb) = decode(&render_png(b, DEFAULT_SIZE).unwrap());
    let left = (w as usize * 2) / 5;
    pa.chunks(3)
        .zip(pb.chunks(3))
        .enumerate()
        .filter(|(i, (x, y))| i % w as usize <= left && x != y)
        .count()
}

#[test]
fn chinese_names_draw_real_glyphs_in_the_png() {
    cjk_font();
    let with = |names: [&str; 2]| Chart {
        kind: ChartKind::HorizontalBar,
        title: String::new(),
        x_labels: names.iter().map(|s| s.to_string()).collect(),
        y_label: String::new(),
        series: vec![series("calls", vec![100.0, 50.0])],
    };
    let blank = with(["", ""]);
    let a = with(["戶政資料查詢", "地籍圖資下載"]);
    let b = with(["健保就醫紀錄", "空氣品質監測"]);
    // The names are drawn: many pixels change against empty names.
    let drawn = label_area_difference(&blank, &a);
    assert!(drawn > 400, "only {drawn} pixels for 12 Chinese characters");
    // And they are glyphs, not one box per character: other names of the same length give
    // other pixels (missing glyphs would all draw the same box).
    let differ = label_area_difference(&a, &b);
    assert!(
        differ > 300,
        "only {differ} pixels differ between different names"
    );
}

#[test]
fn empty_data_draws_the_empty_picture_in_both_formats() {
    cjk_font();
    let kinds = [
        ChartKind::Line,
        ChartKind::StackedBar,
        ChartKind::HorizontalBar,
        ChartKind::Bands,
    ];
    for kind in kinds {
        let mut none = empty(kind);
        assert!(draw::is_empty(&none));
        assert!(render_svg(&none, DEFAULT_SIZE)
            .unwrap()
            .contains(draw::EMPTY_TEXT));
        let (w, h, _) = decode(&render_png(&none, DEFAULT_SIZE).unwrap());
        assert_eq!((w, h), DEFAULT_SIZE);
        // No buckets at all, and no series at all.
        none.x_labels.clear();
        assert!(render_svg(&none, DEFAULT_SIZE)
            .unwrap()
            .contains(draw::EMPTY_TEXT));
        none.x_labels = hours(3);
        none.series.clear();
        assert!(render_svg(&none, DEFAULT_SIZE)
            .unwrap()
            .contains(draw::EMPTY_TEXT));
        render_png(&none, DEFAULT_SIZE).unwrap();
    }
}

#[test]
fn the_empty_text_speaks_the_title_language() {
    cjk_font();
    // A title localised to zh-TW (crate::i18n) gets the Chinese words, an English one the English.
    let mut none = empty(ChartKind::Line);
    none.title = "流量趨勢".into();
    let svg = render_svg(&none, DEFAULT_SIZE).unwrap();
    assert!(svg.contains(draw::EMPTY_TEXT_ZH) && !svg.contains(draw::EMPTY_TEXT));
    none.title = "Traffic over time".into();
    let svg = render_svg(&none, DEFAULT_SIZE).unwrap();
    assert!(svg.contains(draw::EMPTY_TEXT) && !svg.contains(draw::EMPTY_TEXT_ZH));
}

#[test]
fn ragged_and_odd_values_draw_without_failing() {
    cjk_font();
    for kind in [
        ChartKind::Line,
        ChartKind::StackedBar,
        ChartKind::HorizontalBar,
        ChartKind::Bands,
    ] {
        let chart = Chart {
            kind,
            title: "x".repeat(500),
            x_labels: hours(5),
            y_label: "ms".into(),
            series: vec![
                // Shorter than the labels, with a gap, a negative and an infinity.
                series("p50", vec![1.0, f64::NAN, -3.0]),
                series("p99", vec![f64::INFINITY, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]),
                series("", vec![1e12; 5]),
            ],
        };
        let svg = render_svg(&chart, DEFAULT_SIZE).unwrap();
        roxmltree::Document::parse(&svg).unwrap();
        render_png(&chart, (MIN_SIDE, MAX_SIDE)).unwrap();
    }
}

#[test]
fn names_with_markup_stay_text_in_the_svg() {
    cjk_font();
    let mut chart = horizontal(2);
    chart.x_labels[0] = "<script>alert('x')</script> & \"q\"".into();
    chart.title = "</svg><svg onload=alert(1)>".into();
    let svg = render_svg(&chart, DEFAULT_SIZE).unwrap();
    assert!(!svg.contains("<script>"));
    let doc = roxmltree::Document::parse(&svg).unwrap();
    assert_eq!(
        doc.descendants().filter(|n| n.has_tag_name("svg")).count(),
        1
    );
    assert!(doc.descendants().all(|n| !n.has_tag_name("script")));
    assert!(doc
        .descendants()
        .any(|n| n.text().map(str::trim) == Some(chart.x_labels[0].as_str())));
}

#[test]
fn sizes_outside_the_bounds_are_refused() {
    for size in [(0, 480), (MIN_SIDE - 1, 480), (960, MAX_SIDE + 1)] {
        assert!(matches!(
            render_svg(&line(), size),
            Err(ReportError::Chart(_))
        ));
        assert!(matches!(
            render_png(&line(), size),
            Err(ReportError::Chart(_))
        ));
    }
}
