//! The real server as its own process, so the crash suite can SIGKILL it mid-transaction.
//! Usage: strive-proof-server OWNER_DATABASE_URL 127.0.0.1:PORT DATA_DIR

use strive_server::{Config, Server};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(bind), Some(data)) = (args.next(), args.next(), args.next()) else {
        anyhow::bail!("usage: strive-proof-server OWNER_DATABASE_URL ADDR DATA_DIR");
    };
    let server = Server::build(Config::new(bind.parse()?, data.into()), &url).await?;
    server.run(std::future::pending()).await
}
