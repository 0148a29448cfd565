//! WebSocket (and other HTTP/1.1 upgrades) through the gateway: the upgrade request is an
//! ordinary call up to the upstream's `101`, then the two connections are spliced. A
//! WebSocket echo upstream (hand-written: the handshake and unfragmented frames) echoes N
//! messages through the gateway; the tunnel makes one record with status 101 and the bytes
//! each way; an upgrade to an API that refuses the client gets the refusal, not a tunnel;
//! an upstream that does not switch answers as a normal call; `h2c` is never upgraded;
//! garbage after the upgrade and an idle tunnel do not hurt the gateway.

use crate::helpers::*;
use base64::Engine as _;
use bytes::Bytes;
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

const WS_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// SHA-1 (FIPS 180-4), for `Sec-WebSocket-Accept` in test code: no crate for one hash.
fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x67452301, 0xEFCDAB89, 0x98BADCFE, 0x10325476, 0xC3D2E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64) * 8;
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A827999),
                20..=39 => (b ^ c ^ d, 0x6ED9EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1BBCDC),
                _ => (b ^ c ^ d, 0xCA62C1D6),
            };
            let t = a
                .rotate_left(5)
                .wrapping_add(f)
                .wrapping_add(e)
                .wrapping_add(k)
                .wrapping_add(*wi);
            (e, d, c, b, a) = (d, c, b.rotate_left(30), a, t);
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[4 * i..4 * i + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// `Sec-WebSocket-Accept` for a key (RFC 6455 §4.2.2).
fn accept_of(key: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(sha1(format!("{key}{WS_GUID}").as_bytes()))
}

/// One WebSocket frame: FIN, `opcode`, masked with `mask` when given (clients mask).
fn ws_frame(opcode: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut f = vec![0x80 | opcode];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n if n < 126 => f.push(m | n as u8),
        n => {
            f.push(m | 126);
            f.extend_from_slice(&(n as u16).to_be_bytes());
        }
    }
    match mask {
        Some(k) => {
            f.extend_from_slice(&k);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ k[i % 4]));
        }
        None => f.extend_from_slice(payload),
    }
    f
}

/// Reads one frame: (opcode, unmasked payload, bytes on the wire); `None` at EOF or on a
/// frame this small reader does not take (64-bit lengths).
async fn read_ws<R: AsyncRead + Unpin>(r: &mut R) -> Option<(u8, Vec<u8>, usize)> {
    let mut head = [0u8; 2];
    r.read_exact(&mut head).await.ok()?;
    let masked = head[1] & 0x80 != 0;
    let mut len = (head[1] & 0x7f) as usize;
    let mut wire = 2;
    if len == 126 {
        let mut l = [0u8; 2];
        r.read_exact(&mut l).await.ok()?;
        len = u16::from_be_bytes(l) as usize;
        wire += 2;
    } else if len == 127 {
        return None;
    }
    let mut key = [0u8; 4];
    if masked {
        r.read_exact(&mut key).await.ok()?;
        wire += 4;
    }
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload).await.ok()?;
    if masked {
        for (i, b) in payload.iter_mut().enumerate() {
            *b ^= key[i % 4];
        }
    }
    Some((head[0] & 0x0f, payload, wire + len))
}

/// A WebSocket echo server behind hyper's upgrade: text and binary frames come back as they
/// went, a close is answered with a close, then the connection ends. `/plain` answers 200
/// without switching; anything else that asks for an upgrade gets 426.
async fn ws_upstream() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let svc = hyper::service::service_fn(
                    |mut req: hyper::Request<hyper::body::Incoming>| async move {
                        let header = |n: &str| {
                            req.headers()
                                .get(n)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string()
                        };
                        let wants_ws = header("upgrade").eq_ignore_ascii_case("websocket")
                            && header("connection")
                                .to_ascii_lowercase()
                                .contains("upgrade");
                        let mut resp = hyper::Response::new(http_body_util::Full::new(
                            Bytes::from(format!("upgrade={}", header("upgrade"))),
                        ));
                        if req.uri().path() == "/plain" || !wants_ws {
                            return Ok::<_, std::convert::Infallible>(resp);
                        }
                        let accept = accept_of(&header("sec-websocket-key"));
                        let on = hyper::upgrade::on(&mut req);
                        tokio::spawn(async move {
                            if let Ok(up) = on.await {
                                echo(TokioIo::new(up)).await;
                            }
                        });
                        *resp.status_mut() = hyper::StatusCode::SWITCHING_PROTOCOLS;
                        *resp.body_mut() = http_body_util::Full::new(Bytes::new());
                        let h = resp.headers_mut();
                        h.insert("connection", "Upgrade".parse().unwrap());
                        h.insert("upgrade", "websocket".parse().unwrap());
                        h.insert("sec-websocket-accept", accept.parse().unwrap());
                        Ok(resp)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), svc)
                    .with_upgrades()
                    .await;
            });
        }
    });
    addr
}

/// The echo loop of [`ws_upstream`]; garbage (a frame it cannot read) ends it.
async fn echo<S: AsyncRead + AsyncWrite + Unpin>(mut s: S) {
    while let Some((opcode, payload, _)) = read_ws(&mut s).await {
        let _ = s.write_all(&ws_frame(opcode, &payload, None)).await;
        if opcode == 0x8 {
            break;
        }
    }
}

/// Sends an upgrade request for `path` with `headers` and reads the response head.
async fn upgrade(gw: SocketAddr, path: &str, extra: &str) -> (TcpStream, String, String) {
    let key = "dGhlIHNhbXBsZSBub25jZQ==";
    let mut s = TcpStream::connect(gw).await.unwrap();
    let req = format!(
        "GET {path} HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    );
    s.write_all(req.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    let mut b = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut b).await.unwrap(),
            1,
            "closed in the head: {head:?}"
        );
        head.push(b[0]);
    }
    (
        s,
        String::from_utf8_lossy(&head).into_owned(),
        accept_of(key),
    )
}

fn site(name: &str, up: SocketAddr, extra: &str) -> Site {
    Site::new(
        name,
        &gatewatch_migrations::testing::clickhouse_url(),
        &format!(
            "[security]\npepper = \"{}\"\n\n[[routes]]\nprefix = \"/ws\"\nupstreams = [\"http://{up}\"]\nstrip_prefix = true\n{extra}",
            "e2e-upgrade-pepper-0123456789abcdef"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_through_the_gateway_makes_one_record_with_101_and_bytes_each_way() {
    let up = ws_upstream().await;
    let site = site("gateway_upgrade_echo", up, "");
    site.tune("gateway", "upgrade_idle_timeout_ms = 1000");
    let store = site.migrate().await;
    put_entity(
        &store,
        gatewatch_model::EntityKind::Api,
        "locked",
        &serde_json::json!({"name": "locked", "prefix": "/locked",
            "upstreams": [format!("http://{up}")], "strip_prefix": true, "auth": ["api_key"]}),
    )
    .await;
    let _col = site.start("collector").await;
    let _gw = site.start("gateway").await;

    // N messages echoed through one tunnel; the bytes each way are counted on the wire.
    let (mut s, head, accept) = upgrade(site.gateway, "/ws/echo", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let lower = head.to_ascii_lowercase();
    assert!(lower.contains("upgrade: websocket"), "{head}");
    assert!(lower.contains("connection: upgrade"), "{head}");
    assert!(head.contains(&accept), "{head}");
    assert!(lower.contains("x-request-id:"), "{head}");
    let n = 50;
    let (mut up_bytes, mut down_bytes) = (0u64, 0u64);
    for i in 0..n {
        let text = format!("message {i} {}", "x".repeat(i * 7));
        let f = ws_frame(0x1, text.as_bytes(), Some([1, 2, 3, (i % 256) as u8]));
        up_bytes += f.len() as u64;
        s.write_all(&f).await.unwrap();
        let (op, payload, wire) = read_ws(&mut s).await.unwrap();
        down_bytes += wire as u64;
        assert_eq!((op, payload), (0x1, text.into_bytes()));
    }
    let close = ws_frame(0x8, &[0x03, 0xe8], Some([9, 9, 9, 9]));
    up_bytes += close.len() as u64;
    s.write_all(&close).await.unwrap();
    let (op, _, wire) = read_ws(&mut s).await.unwrap();
    down_bytes += wire as u64;
    assert_eq!(op, 0x8);
    // The upstream closes after its close frame: the tunnel ends, the client sees EOF.
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut rest)).await;
    assert!(rest.is_empty(), "{rest:?}");
    drop(s);
    eventually(
        &store,
        &format!(
            "SELECT count() FROM api_calls WHERE path = '/ws/echo' AND status = 101 \
             AND outcome = 'ok' AND http_version = 'HTTP/1.1' \
             AND request_bytes = {up_bytes} AND response_bytes = {down_bytes} AND error = ''"
        ),
        1,
        30,
    )
    .await;

    // An upgrade to an API that refuses the client: the refusal, no tunnel.
    let (mut s, head, _) = upgrade(site.gateway, "/locked/echo", "").await;
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    let mut body = [0u8; 64];
    let got = s.read(&mut body).await.unwrap();
    assert!(String::from_utf8_lossy(&body[..got]).contains("auth_required"));
    drop(s);

    // The upstream does not switch: its answer is a normal call (and the Upgrade went up).
    let (mut s, head, _) = upgrade(site.gateway, "/ws/plain", "").await;
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let mut body = [0u8; 64];
    let got = s.read(&mut body).await.unwrap();
    assert_eq!(&body[..got], b"upgrade=websocket");
    drop(s);

    // h2c is never upgraded: the call goes up without its Upgrade.
    let mut s = TcpStream::connect(site.gateway).await.unwrap();
    s.write_all(b"GET /ws/plain HTTP/1.1\r\nHost: gw\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n")
        .await
        .unwrap();
    let mut buf = vec![0u8; 1024];
    let got = s.read(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf[..got]);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("upgrade="), "{text}");
    drop(s);

    // Garbage after the upgrade: the upstream gives up, the tunnel ends, the gateway serves.
    let (mut s, head, _) = upgrade(site.gateway, "/ws/garbage", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.write_all(&[0xff; 4096]).await.unwrap();
    let _ = tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut Vec::new())).await;
    drop(s);

    // A tunnel left idle is closed after upgrade_idle_timeout_ms, and recorded so.
    let (mut s, head, _) = upgrade(site.gateway, "/ws/idle", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let got = tokio::time::timeout(Duration::from_secs(20), s.read(&mut [0u8; 16])).await;
    assert!(matches!(got, Ok(Ok(0)) | Ok(Err(_))), "{got:?}");

    let (mut s, head, _) = upgrade(site.gateway, "/ws/after", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s.write_all(&ws_frame(0x8, &[], Some([0; 4])))
        .await
        .unwrap();
    assert_eq!(read_ws(&mut s).await.unwrap().0, 0x8);
    drop(s);

    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE path = '/ws/idle' AND status = 101 \
         AND error LIKE '%upgrade_idle_timeout%' AND overhead_us < upstream_latency_us \
         AND upstream_latency_us <= latency_us",
        1,
        30,
    )
    .await;
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE status = 101",
        4,
        30,
    )
    .await;
    eventually(&store, "SELECT count() FROM api_calls", 7, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tunnels_past_max_connections_are_refused_busy_and_a_closed_one_frees_its_place() {
    let up = ws_upstream().await;
    let site = site("gateway_upgrade_cap", up, "");
    site.tune("gateway", "max_connections = 2");
    let store = site.migrate().await;
    let _col = site.start("collector").await;
    let _gw = site.start("gateway").await;

    // Two tunnels open: their client connections left the listener's count, the tunnels
    // hold places of their own.
    let (mut a, head, _) = upgrade(site.gateway, "/ws/a", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    let (b, head, _) = upgrade(site.gateway, "/ws/b", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    // The two upgraded client connections have left the listener (no race with its cap).
    let mut open = u64::MAX;
    for _ in 0..100 {
        open = gauge(&site, "connections_open").await;
        if open == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(open, 0);
    assert_eq!(gauge(&site, "tunnels_open").await, 2);
    let (mut c, head, _) = upgrade(site.gateway, "/ws/c", "").await;
    assert!(head.starts_with("HTTP/1.1 503"), "{head}");
    let mut body = [0u8; 256];
    let got = c.read(&mut body).await.unwrap();
    assert!(String::from_utf8_lossy(&body[..got]).contains("refused_busy"));
    drop(c);
    // A closes: its place comes back once its record is made.
    a.write_all(&ws_frame(0x8, &[], Some([0; 4])))
        .await
        .unwrap();
    assert_eq!(read_ws(&mut a).await.unwrap().0, 0x8);
    drop(a);
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE path = '/ws/a' AND status = 101",
        1,
        30,
    )
    .await;
    let (mut d, head, _) = upgrade(site.gateway, "/ws/d", "").await;
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    d.write_all(&ws_frame(0x8, &[], Some([0; 4])))
        .await
        .unwrap();
    assert_eq!(read_ws(&mut d).await.unwrap().0, 0x8);
    drop((b, d));
    eventually(
        &store,
        "SELECT count() FROM api_calls WHERE path = '/ws/c' AND status = 503 \
         AND outcome = 'refused_busy'",
        1,
        30,
    )
    .await;
    eventually(&store, "SELECT count() FROM api_calls", 4, 30).await;
}

/// The gauge `gatewatch_gateway_<name>` from the admin port's `/metrics`.
async fn gauge(site: &Site, name: &str) -> u64 {
    let mut s = TcpStream::connect(site.gateway_admin).await.unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).await.unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("gatewatch_gateway_{name} ")))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(u64::MAX)
}
