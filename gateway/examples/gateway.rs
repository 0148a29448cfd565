//! A gateway on 127.0.0.1:8080 with one route, `/demo` → `http://127.0.0.1:8000` (prefix
//! stripped), shipping to a collector on 127.0.0.1:8091 and spooling to `./data/spool` while
//! there is none. Stop it with Ctrl-C.
//!
//! Arguments, all optional and in this order, override the three addresses:
//! `cargo run -p gatewatch-gateway --example gateway -- 127.0.0.1:8080 http://127.0.0.1:8000 http://127.0.0.1:8091`
//!
//! Something to proxy to, in another terminal: `python3 -m http.server 8000`. Then:
//!
//! ```text
//! curl -s http://127.0.0.1:8081/metrics | grep gatewatch_gateway_requests_total
//! curl -si -H 'X-Request-Id: hello-1' 'http://127.0.0.1:8080/demo/?x=1'
//! ```

use gatewatch_gateway::{GatewayConfig, RouteConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:8080".into());
    let upstream = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8000".into());
    let collector = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:8091".into());

    let mut config = GatewayConfig::new(listen.parse()?, "example", collector, "./data/spool");
    config
        .routes
        .push(RouteConfig::new("/demo", [upstream]).strip_prefix(true));
    let running = gatewatch_gateway::bind(config, async {
        let _ = tokio::signal::ctrl_c().await;
    })
    .await?;
    let addr = running.local_addr();
    println!("gateway on http://{addr}");
    println!("try: curl -si -H 'X-Request-Id: hello-1' 'http://{addr}/demo/?x=1'");
    running.wait().await?;
    Ok(())
}
