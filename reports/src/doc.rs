//! The report API's part of the OpenAPI document: the query parameters each route reads
//! ([`ReportParams::from_pairs`](gatewatch_model::report::ReportParams::from_pairs) refuses
//! any other key), its answers and their schemas. The dashboards role, which serves these
//! routes, adds the security and the error answers.

use gatewatch_model::outcome::Outcome;
use gatewatch_model::report::{GroupBy, ReportKind, TopBy, MAX_LATENCY_MS, MAX_LIMIT};
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn, ParameterStyle};
use utoipa::openapi::schema::{
    ArrayBuilder, ObjectBuilder, OneOfBuilder, Schema, SchemaType, Type,
};
use utoipa::openapi::{
    ContentBuilder, KnownFormat, Ref, RefOr, Required, Response, ResponseBuilder, SchemaFormat,
};

fn string() -> ObjectBuilder {
    ObjectBuilder::new().schema_type(Type::String)
}

fn integer(min: u64, max: u64) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .minimum(Some(min as f64))
        .maximum(Some(max as f64))
}

fn enumeration<'a>(values: impl IntoIterator<Item = &'a str>) -> ObjectBuilder {
    string().enum_values(Some(values.into_iter().map(str::to_string)))
}

fn query(name: &str, description: &str, schema: impl Into<RefOr<Schema>>) -> Parameter {
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description))
        .schema(Some(schema))
        .build()
}

/// A filter that may be repeated (`api=a&api=b`); a comma list works too.
fn repeated(name: &str, description: &str, item: ObjectBuilder) -> Parameter {
    ParameterBuilder::from(query(name, description, ArrayBuilder::new().items(item)))
        .style(Some(ParameterStyle::Form))
        .explode(Some(true))
        .build()
}

fn id() -> ObjectBuilder {
    string().pattern(Some("^[A-Za-z0-9._-]{1,64}$"))
}

/// The window and zone of every report.
pub fn window() -> Vec<Parameter> {
    vec![
        query(
            "range",
            "a relative range (`15m`, `24h`, `7d`, up to 400 days) or a named one; not with from/to",
            string().pattern(Some(
                "^([1-9][0-9]{0,5}[mhd]|today|yesterday|this_week|last_week|this_month|last_month)$",
            )),
        ),
        query(
            "from",
            "start (RFC 3339), with `to`",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        ),
        query(
            "to",
            "end (RFC 3339), after `from`, at most 400 days later",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        ),
        query(
            "tz",
            "IANA zone of bucket edges, named ranges and shown times (default: the site's)",
            string().max_length(Some(64)),
        ),
        query(
            "lang",
            "language of titles and labels",
            enumeration(["en", "zh-TW"]),
        ),
    ]
}

/// The filters every report takes.
pub fn filters() -> Vec<Parameter> {
    vec![
        query(
            "granularity",
            "bucket size",
            enumeration(["auto", "minute", "hour", "day"]),
        ),
        repeated("api", "only these APIs", id()),
        repeated("module", "only these modules", id()),
        repeated("client", "only these clients", id()),
        repeated("node", "only these nodes", id()),
        // Whole values, no comma list: a plain API's version label is free text.
        ParameterBuilder::from(query(
            "version",
            "only calls answered by these API versions (exact labels as recorded; repeat the \
             key for several, no comma list); reads the raw calls, so at most 7 days",
            ArrayBuilder::new().items(
                string()
                    .max_length(Some(64))
                    .pattern(Some("^[^\\u0000-\\u001f\\u007f-\\u009f]*$")),
            ),
        ))
        .style(Some(ParameterStyle::Form))
        .explode(Some(true))
        .build(),
        query(
            "group",
            "usage and latency: per API version (as each call recorded it) instead of per API; \
             reads the raw calls, so at most 7 days",
            enumeration(GroupBy::ALL.iter().map(|g| g.as_str())),
        ),
        repeated(
            "status_class",
            "only these status classes",
            enumeration(["1xx", "2xx", "3xx", "4xx", "5xx"]),
        ),
        repeated(
            "outcome",
            "only these outcomes",
            enumeration(Outcome::ALL.iter().map(|o| o.as_str())),
        ),
        query(
            "limit",
            "rows of a top-N or a page of calls",
            integer(1, MAX_LIMIT.into()),
        ),
        query(
            "by",
            "what the top-N report ranks",
            enumeration(TopBy::ALL.iter().map(|b| b.as_str())),
        ),
    ]
}

/// The call search's own filters.
pub fn call_filters() -> Vec<Parameter> {
    vec![
        query(
            "call_id",
            "one call by id",
            string().format(Some(SchemaFormat::Custom("uuid".into()))),
        ),
        query(
            "request_id",
            "the request id the gateway recorded",
            string().min_length(Some(1)).max_length(Some(256)),
        ),
        query(
            "trace_id",
            "calls of one W3C trace (the trace id of a traceparent, 32 hex digits)",
            string().pattern(Some("^[0-9a-fA-F]{32}$")),
        ),
        query("status", "one HTTP status", integer(100, 599)),
        query(
            "path_contains",
            "calls whose path holds this text",
            string().min_length(Some(1)).max_length(Some(256)),
        ),
        repeated(
            "method",
            "only these HTTP methods",
            string().pattern(Some("^[A-Za-z]{1,16}$")),
        ),
        query(
            "min_latency_ms",
            "calls that took at least this long",
            integer(0, MAX_LATENCY_MS),
        ),
        query(
            "finding",
            "calls with a message-check finding: of a check (`sqli`, `xss`) or exactly one (`sqli:query.q`)",
            string()
                .min_length(Some(3))
                .max_length(Some(256))
                .pattern(Some("^(sqli|xss)(:[^\\u0000-\\u001f\\u007f-\\u009f]+)?$")),
        ),
        query(
            "cursor",
            "the `next_cursor` of the page before",
            string().min_length(Some(1)).max_length(Some(256)),
        ),
    ]
}

pub fn format() -> Parameter {
    query("format", "JSON or CSV", enumeration(["json", "csv"]))
}

pub fn chart_size() -> Vec<Parameter> {
    use crate::chart::{MAX_SIDE, MIN_SIDE};
    vec![
        query("width", "pixels", integer(MIN_SIDE.into(), MAX_SIDE.into())),
        query(
            "height",
            "pixels",
            integer(MIN_SIDE.into(), MAX_SIDE.into()),
        ),
    ]
}

/// `{kind}`: a report with a chart or a table (call search has its own routes).
pub fn kind_param() -> Parameter {
    ParameterBuilder::new()
        .name("kind")
        .parameter_in(ParameterIn::Path)
        .required(Required::True)
        .description(Some("the report"))
        .schema(Some(enumeration(
            ReportKind::ALL
                .iter()
                .filter(|k| **k != ReportKind::Calls)
                .map(|k| k.slug()),
        )))
        .build()
}

/// A report as JSON, or as CSV.
pub fn report_answer() -> Response {
    ResponseBuilder::new()
        .description("the report; CSV (UTF-8 with a BOM) with `format=csv`")
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Report")))
                .build(),
        )
        .content(
            "text/csv; charset=utf-8",
            ContentBuilder::new().schema(Some(string())).build(),
        )
        .build()
}

/// The call search: a report whose rows link to each call's detail.
pub fn call_search_answer() -> Response {
    let mut r = report_answer();
    r.links.insert(
        "CallDetail".into(),
        RefOr::T(
            utoipa::openapi::link::LinkBuilder::new()
                // The dashboards' id of `GET /api/v1/reports/calls/{call_id}`.
                .operation_id("getReportsCallsByCallId")
                .parameter("call_id", "$response.body#/rows/0/call_id")
                .build(),
        ),
    );
    r
}

pub fn json(description: &str, schema: &str) -> Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name(schema)))
                .build(),
        )
        .build()
}

pub fn image(content_type: &str) -> Response {
    ResponseBuilder::new()
        .description("the chart")
        .content(content_type, ContentBuilder::new().build())
        .build()
}

/// The schemas the report API's answers name.
pub fn schemas() -> Vec<(String, RefOr<Schema>)> {
    let nullable_string =
        || ObjectBuilder::new().schema_type(SchemaType::from_iter([Type::String, Type::Null]));
    let column = ObjectBuilder::new()
        .property("key", string())
        .property("label", string())
        .property("unit", nullable_string())
        .required("key")
        .required("label");
    let cell = OneOfBuilder::new()
        .item(string())
        .item(ObjectBuilder::new().schema_type(Type::Number))
        .item(ObjectBuilder::new().schema_type(Type::Null));
    let report = ObjectBuilder::new()
        .description(Some(
            "A report: its window, columns (key, label, unit) and rows (one object per row, \
             keyed by column), a summary, and `next_cursor` while a call search has more",
        ))
        .property("report", string())
        .property("title", string())
        .property(
            "from",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .property(
            "to",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .property("tz", string())
        .property("bucket", enumeration(["minute", "hour", "day"]))
        .property("source", string())
        .property("summary", ObjectBuilder::new().schema_type(Type::Object))
        .property("columns", ArrayBuilder::new().items(column))
        .property(
            "rows",
            ArrayBuilder::new().items(
                ObjectBuilder::new()
                    .schema_type(Type::Object)
                    .additional_properties(Some(Schema::OneOf(cell.build()))),
            ),
        )
        .property("next_cursor", nullable_string())
        .required("report")
        .required("title")
        .required("from")
        .required("to")
        .required("tz")
        .required("columns")
        .required("rows");
    let entry = ObjectBuilder::new()
        .property("report", string())
        .property("permission", string())
        .required("report")
        .required("permission");
    let list = ObjectBuilder::new()
        .property("reports", ArrayBuilder::new().items(entry))
        .required("reports");
    let run = ObjectBuilder::new()
        .property("run_id", string())
        .property(
            "scheduled_for",
            string().format(Some(SchemaFormat::KnownFormat(KnownFormat::DateTime))),
        )
        .required("run_id")
        .required("scheduled_for");
    use utoipa::PartialSchema;
    vec![
        ("Report".into(), report.into()),
        ("ReportList".into(), list.into()),
        ("RunStarted".into(), run.into()),
        (
            "CallDetail".into(),
            crate::queries::calls::CallDetail::schema(),
        ),
    ]
}
