//! Rendering a migration file for one server or for a cluster.
//!
//! A file is SQL with placeholders; each statement is one of three shapes, and its table's
//! layout ([`gatewatch_store::layout`]) decides what it becomes on a cluster:
//!
//! | statement | one server | cluster, sharded table `t` | cluster, table on every server |
//! | --- | --- | --- | --- |
//! | `CREATE TABLE IF NOT EXISTS {db}.t{on_cluster} … ENGINE = {engine:E} …` | as written, engine `E` | `t_local` ON CLUSTER, engine `ReplicatedE` on the shard's path; then `t` ON CLUSTER `AS t_local`, engine `Distributed` | `t` ON CLUSTER, engine `ReplicatedE` on the path every server shares |
//! | `CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v{on_cluster} TO {db}.{local:r} AS SELECT … FROM {db}.{local:t} …` | as written, `{local:x}` is `x` | ON CLUSTER, `{local:x}` is `x_local`: each shard's view reads that shard's rows and writes its rollup | — |
//! | `ALTER TABLE {db}.t{on_cluster} …` | as written | the same change ON CLUSTER on `t_local`; at the end of the file `t` is dropped and made again `AS t_local` ON CLUSTER (18.16 refuses `ALTER … ON CLUSTER` of a Distributed table) | on this server only: replication carries an `ALTER` of a replicated table to every replica, and running it on each would race |
//!
//! Other placeholders: `{db}` (the quoted database), `{outcome_enum}` (the `Enum8` of
//! [`gatewatch_model::Outcome`]). On one server the result is exactly the text as written with
//! the placeholders filled in (`tests/expected/single_server.sql` holds it).

use gatewatch_model::Outcome;
use gatewatch_store::layout::{self, Layout};
use gatewatch_store::sql::{quote_identifier, quote_string};

/// A statement of a migration file that cannot be rendered (a bug in a file of ours, caught by
/// the unit tests that render every file for a cluster).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot render `{head}`: {why}")]
pub struct RenderError {
    pub head: String,
    pub why: String,
}

/// Where the statements go: a database on one server or on a cluster.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    pub database: &'a str,
    pub cluster: Option<&'a str>,
}

/// The statements of one migration file, rendered for `target`.
pub fn render_file(sql_text: &str, target: Target<'_>) -> Result<Vec<String>, RenderError> {
    let mut out = Vec::new();
    let mut altered: Vec<String> = Vec::new();
    for stmt in split(sql_text) {
        let (stmts, alters) = render_statement(&stmt, target)?;
        out.extend(stmts);
        if let Some(t) = alters {
            if !altered.contains(&t) {
                altered.push(t);
            }
        }
    }
    // 18.16 refuses `ALTER … ON CLUSTER` of a table that is not replicated on a cluster whose
    // shards are (`internal_replication`): "Table api_calls isn't replicated, but shard #1 is
    // replicated according to its cluster definition". So a Distributed table whose shards'
    // tables changed is made again from them, once per file: it holds no rows, only the
    // structure it forwards (and the files of asynchronous inserts not yet sent: see
    // docs/cluster.md, "Changing the schema"). Both statements are safe to run again after a
    // crash between them.
    if let Some(cluster) = target.cluster {
        for t in altered {
            let db = quote_identifier(target.database);
            out.push(format!(
                "DROP TABLE IF EXISTS {db}.{t}{}",
                gatewatch_store::on_cluster_clause(Some(cluster))
            ));
            out.push(distributed(target, cluster, &t));
        }
    }
    Ok(out)
}

/// Every file at once, for a database on a cluster where nothing is applied yet: the sharded
/// tables are created with the columns later files add (`ADD COLUMN` appends, so the table is the
/// same) and the types later files set (`MODIFY COLUMN`), and their `Distributed` tables at the
/// end. A fresh cluster so runs no `ALTER … ON CLUSTER` of a replicated table: 18.16's DDL
/// worker can race on those and stop (docs/cluster.md), and a new site, or a test's database,
/// is where most migrations run. Sites that migrated before get each file's own statements.
pub fn render_fresh(files: &[&str], target: Target<'_>) -> Result<Vec<String>, RenderError> {
    let Some(cluster) = target.cluster else {
        let mut out = Vec::new();
        for f in files {
            out.extend(render_file(f, target)?);
        }
        return Ok(out);
    };
    let mut out: Vec<String> = Vec::new();
    // Where each sharded table's `_local` CREATE is in `out`, in creation order.
    let mut created: Vec<(String, usize)> = Vec::new();
    for f in files {
        for stmt in split(f) {
            let stmt = stmt.replace("{outcome_enum}", &Outcome::clickhouse_enum());
            let err = |why: String| RenderError {
                head: stmt.lines().next().unwrap_or_default().to_string(),
                why,
            };
            let sharded_alter = match head(&stmt) {
                Some((Kind::Alter, t)) if layout::is_sharded(t) => Some(t.to_string()),
                _ => None,
            };
            let Some(table) = sharded_alter else {
                let (stmts, _) = render_statement(&stmt, target)?;
                if let Some((Kind::CreateTable, t)) = head(&stmt) {
                    if layout::is_sharded(t) {
                        // [the shard's table, the Distributed one]: the latter comes last.
                        created.push((t.to_string(), out.len()));
                        out.extend(stmts.into_iter().take(1));
                        continue;
                    }
                }
                out.extend(stmts);
                continue;
            };
            let at = created
                .iter()
                .find(|(t, _)| *t == table)
                .map(|(_, at)| *at)
                .ok_or_else(|| err(format!("{table} is altered before it is created")))?;
            let command = stmt
                .split_once(&format!("{{db}}.{table}{ON_CLUSTER} "))
                .map(|(_, c)| c.trim())
                .unwrap_or_default();
            if let Some(column) = command.strip_prefix("ADD COLUMN ") {
                out[at] = add_column(&out[at], column).map_err(err)?;
            } else if let Some(column) = command.strip_prefix("MODIFY COLUMN ") {
                out[at] = modify_column(&out[at], column).map_err(err)?;
            } else {
                return Err(err(format!(
                    "cannot fold `{command}` into CREATE TABLE {table}"
                )));
            }
        }
    }
    for (t, _) in &created {
        out.push(distributed(target, cluster, t));
    }
    Ok(out)
}

/// The column list of a `CREATE TABLE` of ours ends at a line `)` before `ENGINE`.
const COLUMNS_END: &str = "\n)\nENGINE = ";

/// `create` with `column` (`name Type …`) appended to its column list.
fn add_column(create: &str, column: &str) -> Result<String, String> {
    let at = create
        .find(COLUMNS_END)
        .ok_or("the CREATE TABLE has no `)` line before ENGINE")?;
    let name = column.split_whitespace().next().unwrap_or_default();
    if column_line(create, name).is_some() {
        return Err(format!("column {name} is there already"));
    }
    Ok(format!("{},\n    {column}{}", &create[..at], &create[at..]))
}

/// `create` with column `name`'s line replaced by `column` (`name Type …`).
fn modify_column(create: &str, column: &str) -> Result<String, String> {
    let name = column.split_whitespace().next().unwrap_or_default();
    let (start, end) = column_line(create, name).ok_or(format!("no column {name}"))?;
    Ok(format!(
        "{}    {column}{}",
        &create[..start],
        &create[end..]
    ))
}

/// The byte range of column `name`'s definition in `create`: from the start of its line to its
/// `,` (or the end of the line).
fn column_line(create: &str, name: &str) -> Option<(usize, usize)> {
    let start = create.find(&format!("\n    {name} "))? + 1;
    let line_end = create[start..]
        .find('\n')
        .map_or(create.len(), |e| start + e);
    let end = if create[..line_end].ends_with(',') {
        line_end - 1
    } else {
        line_end
    };
    Some((start, end))
}

/// `CREATE TABLE … AS t_local ENGINE = Distributed(…)` of sharded `table`.
fn distributed(target: Target<'_>, cluster: &str, table: &str) -> String {
    let db = quote_identifier(target.database);
    let local_t = layout::local_name(table);
    let key = match layout::of(table) {
        Some(Layout::Sharded { key: Some(k) }) => format!(", {k}"),
        _ => String::new(),
    };
    format!(
        "CREATE TABLE IF NOT EXISTS {db}.{table}{} AS {db}.{local_t} \
         ENGINE = Distributed({}, {db}, {}{key})",
        gatewatch_store::on_cluster_clause(Some(cluster)),
        quote_identifier(cluster),
        quote_identifier(&local_t),
    )
}

/// Splits a file at `;` ending a line, dropping `--` comment lines. The files are ours, so no
/// statement has a `;` inside a string.
pub(crate) fn split(sql_text: &str) -> Vec<String> {
    let without_comments: String = sql_text
        .lines()
        .filter(|l| !l.trim_start().starts_with("--"))
        .collect::<Vec<_>>()
        .join("\n");
    without_comments
        .split(";\n")
        .map(|s| s.trim().trim_end_matches(';').trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

const CREATE_TABLE: &str = "CREATE TABLE IF NOT EXISTS {db}.";
const CREATE_VIEW: &str = "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.";
const ALTER_TABLE: &str = "ALTER TABLE {db}.";
const ON_CLUSTER: &str = "{on_cluster}";

/// The statements of `stmt`, and the sharded table it alters (whose Distributed table the file
/// makes again at its end).
fn render_statement(
    stmt: &str,
    target: Target<'_>,
) -> Result<(Vec<String>, Option<String>), RenderError> {
    let stmt = stmt.replace("{outcome_enum}", &Outcome::clickhouse_enum());
    let db = quote_identifier(target.database);
    let Some(cluster) = target.cluster else {
        // One server: the text as written.
        let single = fill(&stmt, &db, "", |e| Ok(e.to_string()), |t| Ok(t.to_string()))?;
        return Ok((vec![single], None));
    };
    let on_cluster = gatewatch_store::on_cluster_clause(Some(cluster));
    let err = |why: &str| RenderError {
        head: stmt.lines().next().unwrap_or_default().to_string(),
        why: why.to_string(),
    };
    let (kind, table) = head(&stmt).ok_or_else(|| {
        err("not one of CREATE TABLE, CREATE MATERIALIZED VIEW, ALTER TABLE of {db}.name{on_cluster}")
    })?;
    let local = |t: &str| -> Result<String, String> {
        if layout::is_sharded(t) {
            Ok(layout::local_name(t))
        } else {
            Err(format!("{{local:{t}}} names a table that is not sharded"))
        }
    };
    let no_engine =
        |_: &str| -> Result<String, String> { Err("{engine:…} outside CREATE TABLE".into()) };
    match kind {
        Kind::View => Ok((
            vec![fill(&stmt, &db, &on_cluster, no_engine, local).map_err(|e| err(&e.why))?],
            None,
        )),
        Kind::CreateTable | Kind::Alter => {
            let layout = layout::of(table)
                .ok_or_else(|| err(&format!("table {table} has no layout in store::layout")))?;
            let head_text = format!("{{db}}.{table}{ON_CLUSTER}");
            match (kind, layout) {
                (Kind::CreateTable, Layout::Sharded { .. }) => {
                    let local_t = layout::local_name(table);
                    let path = layout::zookeeper_path(target.database, table).unwrap_or_default();
                    let renamed =
                        stmt.replacen(&head_text, &format!("{{db}}.{local_t}{ON_CLUSTER}"), 1);
                    let shard = fill(&renamed, &db, &on_cluster, |e| replicated(e, &path), local)
                        .map_err(|e| err(&e.why))?;
                    Ok((vec![shard, distributed(target, cluster, table)], None))
                }
                (Kind::CreateTable, Layout::Everywhere) => {
                    let path = layout::zookeeper_path(target.database, table).unwrap_or_default();
                    let all = fill(&stmt, &db, &on_cluster, |e| replicated(e, &path), local)
                        .map_err(|e| err(&e.why))?;
                    Ok((vec![all], None))
                }
                (_, Layout::Sharded { .. }) => {
                    let local_t = layout::local_name(table);
                    let renamed =
                        stmt.replacen(&head_text, &format!("{{db}}.{local_t}{ON_CLUSTER}"), 1);
                    let shards = fill(&renamed, &db, &on_cluster, no_engine, local)
                        .map_err(|e| err(&e.why))?;
                    Ok((vec![shards], Some(table.to_string())))
                }
                (_, Layout::Everywhere) => {
                    let one = fill(&stmt, &db, "", no_engine, local).map_err(|e| err(&e.why))?;
                    Ok((vec![one], None))
                }
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    CreateTable,
    View,
    Alter,
}

/// The kind of `stmt` and the table it names: `{db}.name{on_cluster}` right after the verb.
fn head(stmt: &str) -> Option<(Kind, &str)> {
    let (kind, rest) = [
        (Kind::CreateTable, CREATE_TABLE),
        (Kind::View, CREATE_VIEW),
        (Kind::Alter, ALTER_TABLE),
    ]
    .into_iter()
    .find_map(|(k, verb)| stmt.strip_prefix(verb).map(|r| (k, r)))?;
    let end = rest.find(ON_CLUSTER)?;
    let name = &rest[..end];
    let plain = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then_some((kind, name))
}

/// Fills `{db}`, `{on_cluster}`, `{engine:…}` (through `engine`) and `{local:…}` (through
/// `local`) in `stmt`; any other `{…}` is an error.
fn fill(
    stmt: &str,
    db: &str,
    on_cluster: &str,
    engine: impl Fn(&str) -> Result<String, String>,
    local: impl Fn(&str) -> Result<String, String>,
) -> Result<String, RenderError> {
    let err = |why: String| RenderError {
        head: stmt.lines().next().unwrap_or_default().to_string(),
        why,
    };
    let mut out = String::with_capacity(stmt.len() + 64);
    let mut rest = stmt;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let close = rest[open..]
            .find('}')
            .map(|c| open + c)
            .ok_or_else(|| err("unclosed {".into()))?;
        // Engines have parentheses, `{engine:ReplacingMergeTree(ts_us)}`: the placeholder ends
        // at the first `}`, which no engine argument of ours contains.
        let inner = &rest[open + 1..close];
        match inner.split_once(':') {
            None if inner == "db" => out.push_str(db),
            None if inner == "on_cluster" => out.push_str(on_cluster),
            Some(("engine", e)) => out.push_str(&engine(e).map_err(err)?),
            Some(("local", t)) => out.push_str(&local(t).map_err(err)?),
            _ => return Err(err(format!("unknown placeholder {{{inner}}}"))),
        }
        rest = &rest[close + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// `MergeTree` → `ReplicatedMergeTree('path', '{replica}')`, `ReplacingMergeTree(v)` →
/// `ReplicatedReplacingMergeTree('path', '{replica}', v)`: the replicated engine of the same
/// family, its ZooKeeper path first and the server's `{replica}` macro second.
fn replicated(engine: &str, path: &str) -> Result<String, String> {
    let (name, args) = match engine.split_once('(') {
        Some((n, a)) => (
            n,
            a.strip_suffix(')')
                .ok_or_else(|| format!("engine {engine} lacks its closing parenthesis"))?,
        ),
        None => (engine, ""),
    };
    if !name.ends_with("MergeTree") || name.starts_with("Replicated") {
        return Err(format!("engine {engine} is not a plain …MergeTree"));
    }
    let args = if args.trim().is_empty() {
        String::new()
    } else {
        format!(", {args}")
    };
    Ok(format!(
        "Replicated{name}({}, '{{replica}}'{args})",
        quote_string(path)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cluster(sql: &str) -> Result<Vec<String>, RenderError> {
        render_file(
            sql,
            Target {
                database: "gw",
                cluster: Some("c"),
            },
        )
    }

    #[test]
    fn engines_become_replicated() {
        assert_eq!(
            replicated("MergeTree", "/p").unwrap(),
            "ReplicatedMergeTree('/p', '{replica}')"
        );
        assert_eq!(
            replicated("ReplacingMergeTree(ts_us)", "/p").unwrap(),
            "ReplicatedReplacingMergeTree('/p', '{replica}', ts_us)"
        );
        assert!(replicated("Log", "/p").is_err());
        assert!(replicated("ReplicatedMergeTree", "/p").is_err());
        assert!(replicated("MergeTree(x", "/p").is_err());
    }

    #[test]
    fn a_sharded_table_is_local_tables_and_a_distributed_one() {
        let out = cluster(
            "CREATE TABLE IF NOT EXISTS {db}.api_calls{on_cluster}\n(call_id UUID)\nENGINE = {engine:MergeTree}\nORDER BY call_id;\n",
        )
        .unwrap();
        assert_eq!(
            out,
            [
                "CREATE TABLE IF NOT EXISTS `gw`.api_calls_local ON CLUSTER `c`\n(call_id UUID)\nENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/gw/api_calls_local', '{replica}')\nORDER BY call_id",
                "CREATE TABLE IF NOT EXISTS `gw`.api_calls ON CLUSTER `c` AS `gw`.api_calls_local ENGINE = Distributed(`c`, `gw`, `api_calls_local`, sipHash64(toString(call_id)))",
            ]
        );
        let alter = cluster(
            "ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN x String;\nALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN y String;\n",
        )
        .unwrap();
        assert_eq!(
            alter,
            [
                "ALTER TABLE `gw`.api_calls_local ON CLUSTER `c` ADD COLUMN x String",
                "ALTER TABLE `gw`.api_calls_local ON CLUSTER `c` ADD COLUMN y String",
                "DROP TABLE IF EXISTS `gw`.api_calls ON CLUSTER `c`",
                "CREATE TABLE IF NOT EXISTS `gw`.api_calls ON CLUSTER `c` AS `gw`.api_calls_local ENGINE = Distributed(`c`, `gw`, `api_calls_local`, sipHash64(toString(call_id)))",
            ]
        );
    }

    #[test]
    fn a_small_table_is_one_replicated_shard() {
        let out = cluster(
            "CREATE TABLE IF NOT EXISTS {db}.alert_state{on_cluster} (ts_us Int64) ENGINE = {engine:ReplacingMergeTree(ts_us)} ORDER BY ts_us",
        )
        .unwrap();
        assert_eq!(
            out,
            ["CREATE TABLE IF NOT EXISTS `gw`.alert_state ON CLUSTER `c` (ts_us Int64) ENGINE = ReplicatedReplacingMergeTree('/clickhouse/tables/all/gw/alert_state', '{replica}', ts_us) ORDER BY ts_us"]
        );
        let alter =
            cluster("ALTER TABLE {db}.node_metrics{on_cluster} ADD COLUMN x UInt8;").unwrap();
        assert_eq!(alter, ["ALTER TABLE `gw`.node_metrics ADD COLUMN x UInt8"]);
    }

    #[test]
    fn views_read_and_write_the_shards_tables() {
        let out = cluster(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.api_calls_1m_mv{on_cluster}\nTO {db}.{local:api_calls_1m}\nAS SELECT 1 FROM {db}.{local:api_calls}",
        )
        .unwrap();
        assert_eq!(
            out,
            ["CREATE MATERIALIZED VIEW IF NOT EXISTS `gw`.api_calls_1m_mv ON CLUSTER `c`\nTO `gw`.api_calls_1m_local\nAS SELECT 1 FROM `gw`.api_calls_local"]
        );
    }

    #[test]
    fn a_fresh_cluster_gets_its_columns_at_creation() {
        let files = [
            "CREATE TABLE IF NOT EXISTS {db}.api_calls{on_cluster}\n(\n    call_id UUID,\n    outcome Enum8('a' = 1)\n)\nENGINE = {engine:MergeTree}\nORDER BY call_id;\n\nCREATE TABLE IF NOT EXISTS {db}.config_log{on_cluster}\n(\n    id String\n)\nENGINE = {engine:MergeTree}\nORDER BY id;\n",
            "ALTER TABLE {db}.api_calls{on_cluster} MODIFY COLUMN outcome Enum8('a' = 1, 'b' = 2);\nALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN x String;\nALTER TABLE {db}.config_log{on_cluster} ADD COLUMN y String;\n",
            "ALTER TABLE {db}.api_calls{on_cluster} ADD COLUMN z Array(String);\n",
        ];
        let out = render_fresh(
            &files,
            Target {
                database: "gw",
                cluster: Some("c"),
            },
        )
        .unwrap();
        assert_eq!(out.len(), 4, "{out:#?}");
        assert_eq!(
            out[0],
            "CREATE TABLE IF NOT EXISTS `gw`.api_calls_local ON CLUSTER `c`\n(\n    call_id UUID,\n    outcome Enum8('a' = 1, 'b' = 2),\n    x String,\n    z Array(String)\n)\nENGINE = ReplicatedMergeTree('/clickhouse/tables/{shard}/gw/api_calls_local', '{replica}')\nORDER BY call_id"
        );
        assert!(out[1].starts_with("CREATE TABLE IF NOT EXISTS `gw`.config_log ON CLUSTER"));
        // A table on every server is altered as any time: on one server, no race.
        assert_eq!(out[2], "ALTER TABLE `gw`.config_log ADD COLUMN y String");
        assert!(out[3].contains("ENGINE = Distributed("), "{}", out[3]);
        let bad = render_fresh(
            &[
                files[0],
                "ALTER TABLE {db}.api_calls{on_cluster} DROP COLUMN x;\n",
            ],
            Target {
                database: "gw",
                cluster: Some("c"),
            },
        );
        assert!(bad.is_err());
    }

    #[test]
    fn mistakes_in_a_file_are_refused() {
        for bad in [
            "CREATE TABLE IF NOT EXISTS {db}.unknown_table{on_cluster} (x UInt8) ENGINE = {engine:MergeTree} ORDER BY x",
            "CREATE TABLE {db}.api_calls (x UInt8) ENGINE = MergeTree ORDER BY x",
            "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.v{on_cluster} TO {db}.{local:config_log} AS SELECT 1",
            "ALTER TABLE {db}.api_calls{on_cluster} ENGINE = {engine:MergeTree}",
            "CREATE TABLE IF NOT EXISTS {db}.config_log{on_cluster} (x UInt8) ENGINE = {engine:Log} ORDER BY x",
            "CREATE TABLE IF NOT EXISTS {db}.config_log{on_cluster} (x UInt8) ENGINE = {nope} ORDER BY x",
            "CREATE TABLE IF NOT EXISTS {db}.config_log{on_cluster} (x UInt8) ENGINE = {engine:MergeTree ORDER BY x",
            "DROP TABLE {db}.api_calls{on_cluster}",
        ] {
            assert!(cluster(bad).is_err(), "{bad}");
        }
    }
}
