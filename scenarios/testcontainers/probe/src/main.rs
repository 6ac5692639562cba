//! tc-probe: what a team's integration test does inside a job. Starts a busybox HTTP
//! server with testcontainers-rs through DOCKER_HOST (tcp+TLS), waits for it by log line,
//! fetches the nonce from its mapped port at the host testcontainers reports, removes it.
//!
//! Usage: tc-probe IMAGE:TAG NONCE. Prints `E2E-MARK key=value` lines; exits non-zero
//! with the error on failure.

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use testcontainers::core::{IntoContainerPort, WaitFor};
use testcontainers::runners::AsyncRunner;
use testcontainers::{GenericImage, ImageExt};

fn mark(key: &str, value: impl std::fmt::Display) {
    println!("E2E-MARK {key}={value}");
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tc-probe: {e}");
            std::process::ExitCode::from(1)
        }
    }
}

async fn run() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(image), Some(nonce)) = (args.next(), args.next()) else {
        return Err("usage: tc-probe IMAGE:TAG NONCE".into());
    };
    let (name, tag) = image.rsplit_once(':').ok_or("IMAGE needs a :TAG")?;
    let script = format!(
        "mkdir -p /www && echo {nonce} > /www/index.html && busybox httpd -p 8080 -h /www && echo server-ready && exec sleep 600"
    );
    let container = GenericImage::new(name, tag)
        .with_exposed_port(8080.tcp())
        .with_wait_for(WaitFor::message_on_stdout("server-ready"))
        .with_entrypoint("sh")
        .with_cmd(["-c", script.as_str()])
        .with_startup_timeout(Duration::from_secs(60))
        .start()
        .await?;
    let host = container.get_host().await?.to_string();
    let port = container.get_host_port_ipv4(8080).await?;
    mark("tc_host", &host);
    let body = http_get(&host, port, Duration::from_secs(20))?;
    mark("tc_answer", body.trim());
    let id = container.id().to_owned();
    container.rm().await?;
    mark("tc_removed", &id[..12]);
    Ok(())
}

/// GET / with a deadline: the server is up (its log said so), the proxy may lag a moment.
fn http_get(host: &str, port: u16, deadline: Duration) -> Result<String, Box<dyn std::error::Error>> {
    let start = Instant::now();
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = std::net::TcpStream::connect((host, port))?;
            s.set_read_timeout(Some(Duration::from_secs(5)))?;
            s.write_all(format!("GET /index.html HTTP/1.0\r\nHost: {host}\r\n\r\n").as_bytes())?;
            let mut text = String::new();
            s.read_to_string(&mut text)?;
            Ok(text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()).unwrap_or_default())
        })();
        match attempt {
            Ok(body) if !body.is_empty() => return Ok(body),
            Ok(_) | Err(_) if start.elapsed() < deadline => std::thread::sleep(Duration::from_millis(200)),
            Ok(_) => return Err(format!("{host}:{port} answered with an empty body").into()),
            Err(e) => return Err(format!("{host}:{port}: {e}").into()),
        }
    }
}
