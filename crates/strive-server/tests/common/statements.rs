//! Counting the SQL statements a request makes (the no-N+1 tests).

use super::TestApp;

/// Counts the SQL statements this test's database runs between [`start`](Self::start) and
/// [`stop`](Self::stop).
///
/// With `pg_stat_statements` in `shared_preload_libraries`, it sums `calls` for this database
/// (leaving out the statistics queries themselves). The harness's private cluster does not
/// preload it today, so otherwise it turns on `log_statement = 'all'` for the service role in
/// this database only and counts the `statement:`/`execute` lines the server log gains (the
/// cluster's log is `server.log` in its data directory, readable by the superuser).
pub enum StatementCounter {
    Stats,
    Log { offset: i64 },
}

impl StatementCounter {
    pub async fn new(app: &TestApp) -> Self {
        let preloaded = app
            .scalar_text("SELECT current_setting('shared_preload_libraries')")
            .await
            .unwrap_or_default()
            .contains("pg_stat_statements");
        if preloaded {
            app.sql("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
                .await;
            return StatementCounter::Stats;
        }
        // Only the service's sessions in this database log their statements; sessions pick the
        // setting up when they start, so end the ones the pool already holds.
        app.sql(&format!(
            "ALTER ROLE strive_app IN DATABASE {} SET log_statement = 'all';
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity
              WHERE datname = current_database() AND usename = 'strive_app';",
            app.db_name
        ))
        .await;
        StatementCounter::Log { offset: 0 }
    }

    pub async fn start(&mut self, app: &TestApp) {
        match self {
            StatementCounter::Stats => {
                app.sql(
                    "SELECT pg_stat_statements_reset(0, (SELECT oid FROM pg_database \
                     WHERE datname = current_database()), 0)",
                )
                .await
            }
            StatementCounter::Log { offset } => {
                *offset = app
                    .scalar_i64("SELECT size FROM pg_stat_file('server.log')")
                    .await;
            }
        }
    }

    /// How many statements ran since `start`, and which (for failure messages).
    pub async fn stop(&self, app: &TestApp) -> (i64, String) {
        match self {
            StatementCounter::Stats => {
                let filter =
                    "dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
                              AND query NOT ILIKE '%pg_stat_statements%'";
                let n = app.scalar_i64(
                    &format!(
                        "SELECT coalesce(sum(calls), 0)::bigint FROM pg_stat_statements WHERE {filter}"
                    ),
                )
                .await;
                let detail = app
                    .scalar_text(&format!(
                        "SELECT coalesce(string_agg(calls || ' x ' || left(regexp_replace(query, '\\s+', ' ', 'g'), 140),
                                                    E'\\n' ORDER BY calls DESC, query), '')
                           FROM pg_stat_statements WHERE {filter}"
                    ))
                    .await
                    .unwrap_or_default();
                (n, detail)
            }
            StatementCounter::Log { offset } => {
                let size = app
                    .scalar_i64("SELECT size FROM pg_stat_file('server.log')")
                    .await;
                let log = app
                    .scalar_text(&format!(
                        "SELECT pg_read_file('server.log', {offset}, {})",
                        size - offset
                    ))
                    .await
                    .unwrap_or_default();
                let lines: Vec<&str> = log
                    .lines()
                    .filter(|l| l.contains("LOG:  statement: ") || l.contains("LOG:  execute "))
                    .collect();
                let detail = lines
                    .iter()
                    .map(|l| l.chars().take(160).collect::<String>())
                    .collect::<Vec<_>>()
                    .join("\n");
                (lines.len() as i64, detail)
            }
        }
    }
}

/// How many of the statements [`StatementCounter::stop`] described contain `needle`.
pub fn matching(detail: &str, needle: &str) -> i64 {
    detail
        .lines()
        .filter(|l| l.contains(needle))
        .map(|l| {
            // "calls x query" from pg_stat_statements; one line per run from the log.
            l.split_once(" x ")
                .and_then(|(calls, _)| calls.trim().parse().ok())
                .unwrap_or(1)
        })
        .sum()
}
