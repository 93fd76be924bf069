//! A reload changes routes, clusters and plugins; the sockets and threads made at the start
//! stay, and the reload says which asked-for changes of those take a restart.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use wasmgate_proxy::config::GatewayConfig;
use wasmgate_proxy::echo::EchoServer;
use wasmgate_proxy::server::Gateway;

/// The status line of a GET through the gateway.
fn status_line(gateway: SocketAddr) -> String {
    let mut stream = TcpStream::connect(gateway).expect("the gateway accepts");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .expect("a timeout");
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: r.test\r\nConnection: close\r\n\r\n")
        .expect("the request goes out");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("an answer");
    answer.lines().next().unwrap_or_default().to_string()
}

#[test]
fn a_reload_says_which_settings_take_a_restart() {
    let echo = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo starts");
    let config = || {
        let mut config = GatewayConfig::single_upstream(&echo.local_addr().to_string(), "r", "c");
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        config.workers = 1;
        config
    };
    let gateway = Gateway::start(config()).expect("the gateway starts");
    assert_eq!(
        gateway.reload(config()).expect("reloads"),
        Vec::<String>::new()
    );

    let mut moved = config();
    moved.listen = SocketAddr::from(([127, 0, 0, 1], 1));
    moved.workers = 3;
    let kept = gateway.reload(moved).expect("reloads the rest");
    assert_eq!(
        kept,
        vec![
            format!(
                "listen: 127.0.0.1:1 takes a restart; still listening on {}",
                gateway.local_addr()
            ),
            "workers: 3 takes a restart; still 1 workers".to_string(),
        ]
    );
    assert_eq!(status_line(gateway.local_addr()), "HTTP/1.1 200 OK");
    gateway.shutdown();
}
