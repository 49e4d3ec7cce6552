//! `strive-desktop`: the app, or with `--seed-demo` a headless run that fills a demo
//! organization on the server (scripts/run.sh --demo).

fn main() -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("STRIVE_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    if std::env::args().nth(1).as_deref() == Some("--seed-demo") {
        let runtime = tokio::runtime::Runtime::new()?;
        return runtime.block_on(strive_desktop::demo::seed(strive_desktop::settings(
            started,
        )));
    }
    strive_desktop::run(started)
}
