use super::*;
use crate::alert::rule::Severity;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn alert(node: &str, status: NoticeKind, value: Option<f64>) -> NoticeAlert {
    let labels: BTreeMap<String, String> = [
        ("alertname", "CPU 過高"),
        ("rule", "cpu"),
        ("severity", "critical"),
        ("kind", "node_cpu"),
        ("node", node),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    NoticeAlert {
        rule_id: "cpu".into(),
        rule_name: "CPU 過高".into(),
        labels,
        status,
        severity: Severity::Critical,
        value,
        threshold: 90.0,
        unit: "%".into(),
        started_at: at("2026-11-25T01:02:03Z"),
        ended_at: (status == NoticeKind::Resolved).then(|| at("2026-11-25T01:07:03Z")),
        subject: format!("[critical] CPU 過高: {node}"),
        text: format!("CPU 過高 on {node}: 95%"),
        fingerprint: "0123456789abcdef".into(),
        ack_url: format!("https://dash.example.tw/#/alerts/ack?rule=cpu&key={node}&episode=1"),
    }
}

fn group(lang: Lang, kind: NoticeKind, alerts: Vec<NoticeAlert>) -> GroupNotice {
    GroupNotice {
        policy: "ops".into(),
        group_key: "ops/{alertname=\"CPU 過高\"}".into(),
        group_labels: [("alertname".to_string(), "CPU 過高".to_string())].into(),
        common_labels: [("alertname".to_string(), "CPU 過高".to_string())].into(),
        kind,
        alerts,
        lang,
        link: "https://dash.example.tw/".into(),
        at: at("2026-11-25T01:14:03Z"),
    }
}

#[test]
fn one_alert_reads_as_its_rule_with_the_ack_link_while_firing() {
    let g = group(
        Lang::En,
        NoticeKind::Firing,
        vec![alert("gw1", NoticeKind::Firing, Some(95.0))],
    );
    let (s, t) = render_group(&g);
    assert_eq!(s, "[critical] CPU 過高: gw1");
    assert_eq!(
        t,
        "CPU 過高 on gw1: 95%\nAcknowledge: https://dash.example.tw/#/alerts/ack?rule=cpu&key=gw1&episode=1"
    );
    assert!(render_group_html(&g).is_none());
    // Resolved, or without a link base: the rule's text alone.
    let mut r = alert("gw1", NoticeKind::Resolved, Some(50.0));
    let g = group(Lang::ZhTw, NoticeKind::Resolved, vec![r.clone()]);
    assert_eq!(render_group(&g).1, "CPU 過高 on gw1: 95%");
    r.status = NoticeKind::Firing;
    r.ack_url = String::new();
    let g = group(Lang::ZhTw, NoticeKind::Firing, vec![r]);
    assert_eq!(render_group(&g).1, "CPU 過高 on gw1: 95%");
}

#[test]
fn several_alerts_list_firing_then_resolved_in_both_languages() {
    let alerts = vec![
        alert("gw1", NoticeKind::Firing, Some(95.5)),
        alert("gw2", NoticeKind::Firing, None),
        alert("gw3", NoticeKind::Resolved, Some(70.0)),
    ];
    let mut g = group(Lang::En, NoticeKind::Firing, alerts);
    g.group_labels.insert("node".into(), "gw1".into());
    let (s, t) = render_group(&g);
    assert_eq!(s, "[gatewatch] 2 firing, 1 resolved: CPU 過高 (node=gw1)");
    let want = "Firing (2):
- [critical] CPU 過高: gw1 — 95.5% (threshold 90%), since 2026-11-25 01:02:03 UTC (12 min)
  Acknowledge: https://dash.example.tw/#/alerts/ack?rule=cpu&key=gw1&episode=1
- [critical] CPU 過高: gw2 — failed (threshold 90%), since 2026-11-25 01:02:03 UTC (12 min)
  Acknowledge: https://dash.example.tw/#/alerts/ack?rule=cpu&key=gw2&episode=1
Resolved (1):
- [critical] CPU 過高: gw3 — 70% (threshold 90%), since 2026-11-25 01:02:03 UTC (5 min)
Dashboards: https://dash.example.tw/";
    assert_eq!(t, want);
    g.lang = Lang::ZhTw;
    let (s, t) = render_group(&g);
    assert_eq!(
        s,
        "[gatewatch] 2 則告警中、1 則已恢復：CPU 過高（node=gw1）"
    );
    assert!(t.starts_with("告警中（2）：\n- [critical] CPU 過高: gw1 — 95.5%（門檻 90%），開始於 2026-11-25 01:02:03 UTC（12 分鐘）\n  確認處理：https://"), "{t}");
    assert!(
        t.contains("\n已恢復（1）：\n") && t.ends_with("\n儀表板：https://dash.example.tw/"),
        "{t}"
    );
    assert!(t.contains("無法量測"), "{t}");
    // Repeats and all-resolved groups say so.
    g.alerts.pop();
    g.kind = NoticeKind::Repeat;
    assert_eq!(
        render_group(&g).0,
        "[gatewatch] 仍有 2 則告警中：CPU 過高（node=gw1）"
    );
    g.lang = Lang::En;
    assert_eq!(
        render_group(&g).0,
        "[gatewatch] still 2 firing: CPU 過高 (node=gw1)"
    );
    for a in &mut g.alerts {
        a.status = NoticeKind::Resolved;
    }
    g.kind = NoticeKind::Resolved;
    let (s, t) = render_group(&g);
    assert_eq!(s, "[gatewatch] 2 resolved: CPU 過高 (node=gw1)");
    assert!(!t.contains("Acknowledge"), "{t}");
}

#[test]
fn long_groups_fit_one_line_message_and_count_the_rest() {
    for lang in [Lang::En, Lang::ZhTw] {
        let alerts: Vec<NoticeAlert> = (0..300)
            .map(|i| alert(&format!("gw{i}"), NoticeKind::Firing, Some(99.0)))
            .collect();
        let g = group(lang, NoticeKind::Firing, alerts);
        let (s, t) = render_group(&g);
        let line = format!("{s}\n{t}");
        assert!(line.encode_utf16().count() <= TEXT_MAX, "{}", line.len());
        let listed = t.matches("\n- ").count()
            + usize::from(t.starts_with("- ") || t.contains("：\n- ") || t.contains("):\n- "));
        let more = t.lines().find(|l| l.starts_with('+')).expect("a +N line");
        let n: usize = more[1..].split(' ').next().unwrap().parse().unwrap();
        assert!(n > 0 && listed > 10, "{listed} {n}");
        assert_eq!(t.matches("- [critical]").count() + n, 300, "{more}");
        assert!(t.ends_with("https://dash.example.tw/"));
    }
}

#[test]
fn hostile_values_stay_in_their_place() {
    let mut a = alert("gw1", NoticeKind::Firing, Some(95.0));
    a.subject = format!("x\"</script><b>\n{}", "長".repeat(10_000));
    a.ack_url = "javascript:alert(1)".into();
    let mut b = alert("gw2", NoticeKind::Firing, Some(95.0));
    b.rule_name = "a\nb".into();
    let mut g = group(Lang::En, NoticeKind::Firing, vec![a, b]);
    g.group_labels.insert("node".into(), "\"<i>\n".repeat(100));
    let (s, t) = render_group(&g);
    assert!(!s.contains('\n') && s.chars().count() < 200, "{s}");
    assert!(t.encode_utf16().count() + s.encode_utf16().count() < TEXT_MAX);
    assert!(!t.contains("javascript:"), "{t}");
    assert!(
        t.lines().all(|l| l.chars().count() <= ENTRY_MAX + 200),
        "{t}"
    );
    let h = render_group_html(&g).unwrap();
    assert!(
        !h.contains("</script>") && !h.contains("<b>") && !h.contains("<i>"),
        "{h}"
    );
    assert!(h.contains("&lt;/script&gt;") && h.contains("&quot;"));
    assert!(!h.contains("javascript:"));
    assert!(
        h.contains(
            "<a href=\"https://dash.example.tw/#/alerts/ack?rule=cpu&amp;key=gw2&amp;episode=1\">"
        ),
        "{h}"
    );
}

#[test]
fn group_placeholders() {
    let g = group(
        Lang::En,
        NoticeKind::Firing,
        vec![
            alert("gw1", NoticeKind::Firing, Some(95.0)),
            alert("gw2", NoticeKind::Resolved, Some(50.0)),
        ],
    );
    let v = group_values(&g);
    assert_eq!(v["alerts_count"], "2");
    assert_eq!(v["firing_count"], "1");
    assert_eq!(v["resolved_count"], "1");
    assert_eq!(v["group_status"], "firing");
    assert_eq!(v["group_kind"], "firing");
    assert_eq!(v["group_labels"], "alertname=CPU 過高");
    assert_eq!(v["policy"], "ops");
    assert!(v["alerts_text"].starts_with("Firing (1):\n- [critical] CPU 過高: gw1"));
    assert!(!v["alerts_text"].contains("Acknowledge"));
    assert_eq!(v["external_url"], "https://dash.example.tw/");
}
