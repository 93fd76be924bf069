//! A reload changes routes, clusters and plugins; the sockets and threads made at the start
//! stay, and the reload says which asked-for changes of those take a restart.

mod common;

use std::net::SocketAddr;

use wasmgate_proxy::EchoServer;
use wasmgate_proxy::Gateway;

#[test]
fn a_reload_says_which_settings_take_a_restart() {
    let echo = EchoServer::start(SocketAddr::from(([127, 0, 0, 1], 0))).expect("echo starts");
    let config = || common::one_upstream(&echo.local_addr().to_string(), 1);
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
    let answer = common::get(gateway.local_addr(), "/", &[]);
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    gateway.shutdown();
}
