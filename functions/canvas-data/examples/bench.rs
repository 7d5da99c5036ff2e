//! `cargo xtask bench canvas-init`: rows/s of a snapshot load (fake DAP → gzip JSON Lines →
//! COPY → primary key → swap) next to `psql \copy` of the same rows as CSV into the same kind
//! of table. Needs the local PostgreSQL; xtask passes its port and `psql`.

use std::io::Write;
use std::time::{Duration, Instant};

use canvas_data::dap::{Credentials, DapClient, Timing};
use canvas_data::db::{self, DbConfig};
use canvas_data::fake::{self, FakeDap, FakeTable};
use canvas_data::init::{column_defs, init_table, Budget, Limits};
use canvas_data::schema::TableSchema;
use serde_json::json;

const PER_OBJECT: usize = 100_000;

fn env(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_string())
}

fn config(port: u16, dbname: &str) -> DbConfig {
    DbConfig::from_secret_json(
        &json!({"username": "postgres", "password": "", "host": "127.0.0.1", "port": port, "dbname": dbname}).to_string(),
    )
    .expect("a valid config")
}

fn line(id: usize) -> String {
    json!({"key": {"id": id}, "value": {
        "name": format!("Student {id}, section \"{}\"", id % 97),
        "score": id as f64 / 8.0,
        "active": !id.is_multiple_of(3),
        "created_at": format!("2026-{:02}-{:02}T{:02}:15:00Z", id % 12 + 1, id % 28 + 1, id % 24),
        "settings": {"theme": if id.is_multiple_of(2) { "dark" } else { "light" }, "n": id % 1000}
    }})
    .to_string()
}

fn csv_field(out: &mut Vec<u8>, value: &str) {
    if value.contains([',', '"', '\n', '\r']) {
        out.push(b'"');
        out.extend_from_slice(value.replace('"', "\"\"").as_bytes());
        out.push(b'"');
    } else {
        out.extend_from_slice(value.as_bytes());
    }
}

fn rate(rows: usize, d: Duration) -> String {
    format!(
        "{:>8.2?}  {:>10.0} rows/s",
        d,
        rows as f64 / d.as_secs_f64()
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = env("BENCH_PG_PORT", "54329").parse()?;
    let psql = env("BENCH_PSQL", "psql");
    let rows: usize = env("BENCH_ROWS", "1000000").parse()?;
    let dir = std::path::PathBuf::from(env("BENCH_DIR", "target/bench"));
    std::fs::create_dir_all(&dir)?;

    eprintln!("generating {rows} rows…");
    let lines: Vec<String> = (1..=rows).map(line).collect();
    let json_bytes: usize = lines.iter().map(|l| l.len() + 1).sum();
    let schema = fake::table_schema(
        json!({"id": {"type": "integer", "format": "int64"}}),
        json!({
            "name": {"type": "string"},
            "score": {"type": "number"},
            "active": {"type": "boolean"},
            "created_at": {"type": "string", "format": "date-time"},
            "settings": {"type": "object"}
        }),
    );
    let columns = TableSchema::from_dap("people", 1, &schema)?.columns;
    let csv_path = dir.join("people.csv");
    {
        let mut csv = std::io::BufWriter::new(std::fs::File::create(&csv_path)?);
        let mut out = Vec::new();
        for l in &lines {
            let v: serde_json::Value = serde_json::from_str(l)?;
            out.clear();
            out.extend_from_slice(v["key"]["id"].to_string().as_bytes());
            for c in &columns[1..] {
                out.push(b',');
                let value = &v["value"][&c.name];
                match value {
                    serde_json::Value::String(s) => csv_field(&mut out, s),
                    other => csv_field(&mut out, &other.to_string()),
                }
            }
            out.push(b'\n');
            csv.write_all(&out)?;
        }
        csv.flush()?;
    }
    let dap = FakeDap::new();
    dap.set_table(
        "people",
        FakeTable {
            version: 1,
            schema,
            snapshot: fake::objects(&lines, PER_OBJECT),
            at: "2026-11-01T00:00:00Z".into(),
            ..FakeTable::default()
        },
    );
    drop(lines);
    let url = dap.start().await;

    let server = db::connect(&config(port, "postgres")).await?;
    if server
        .client
        .query_opt(
            "SELECT 1 FROM pg_database WHERE datname = 'canvas_bench'",
            &[],
        )
        .await?
        .is_none()
    {
        server
            .client
            .batch_execute("CREATE DATABASE canvas_bench")
            .await?;
    }
    server.close().await;
    let mut bench = db::connect(&config(port, "canvas_bench")).await?;
    bench
        .client
        .batch_execute("DROP SCHEMA IF EXISTS bench CASCADE; CREATE SCHEMA bench")
        .await?;
    canvas_data::db::meta::ensure(&bench.client, "bench").await?;

    let client = DapClient::new(
        &url,
        Credentials {
            client_id: fake::CLIENT_ID.into(),
            client_secret: support::Secret::new(fake::CLIENT_SECRET),
        },
        Timing {
            poll_first: Duration::from_millis(5),
            ..Timing::default()
        },
    );
    let budget = Budget {
        deadline: Instant::now() + Duration::from_secs(3600),
        reserve: Duration::ZERO,
    };
    eprintln!("init-table…");
    let t = Instant::now();
    let report = init_table(
        &client,
        &mut bench.client,
        "bench",
        "people",
        budget,
        Limits::default(),
    )
    .await?;
    let ours = t.elapsed();
    assert_eq!(report.rows as usize, rows, "every row loaded");

    bench
        .client
        .batch_execute(&format!(
            "CREATE TABLE bench.psql_people ({})",
            column_defs(&columns)
        ))
        .await?;
    let names: Vec<String> = columns.iter().map(|c| c.name.clone()).collect();
    eprintln!("psql \\copy…");
    let t = Instant::now();
    let status = std::process::Command::new(&psql)
        .args([
            "-q",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-U",
            "postgres",
            "-d",
            "canvas_bench",
            "-c",
        ])
        .arg(format!(
            "\\copy bench.psql_people ({}) FROM '{}' WITH (FORMAT csv)",
            names.join(", "),
            csv_path.display()
        ))
        .status()?;
    let psql_copy = t.elapsed();
    if !status.success() {
        return Err(format!("psql \\copy failed: {status}").into());
    }
    let t = Instant::now();
    bench
        .client
        .batch_execute("ALTER TABLE bench.psql_people ADD PRIMARY KEY (id)")
        .await?;
    let psql_total = psql_copy + t.elapsed();
    let copied: i64 = bench
        .client
        .query_one("SELECT count(*) FROM bench.psql_people", &[])
        .await?
        .get(0);
    assert_eq!(copied as usize, rows);
    bench.close().await;

    println!(
        "canvas-init: {rows} rows, {} objects, {:.0} MB of JSON Lines",
        report.objects_total,
        json_bytes as f64 / 1e6
    );
    println!(
        "{:<48} {}",
        "init-table (download, gunzip, decode, COPY, key, swap)",
        rate(rows, ours)
    );
    println!(
        "{:<48} {}",
        "psql \\copy of the same rows as CSV",
        rate(rows, psql_copy)
    );
    println!(
        "{:<48} {}",
        "psql \\copy + primary key",
        rate(rows, psql_total)
    );
    Ok(())
}
