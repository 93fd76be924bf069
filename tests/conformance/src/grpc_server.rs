//! The grpcio server of `Endpoint::Grpc` (the gateway tests' `python/grpc_server.py`),
//! started when a case calls out to it.

use std::net::SocketAddr;

/// The grpcio server of [`Endpoint::Grpc`], stopped when dropped.
pub(crate) struct GrpcServer {
    child: Option<std::process::Child>,
    pub(crate) address: SocketAddr,
}

impl GrpcServer {
    /// Starts it when a case needs it.
    pub(crate) fn start(needed: bool) -> GrpcServer {
        use std::io::BufRead;
        const SCRIPT: &str =
            include_str!("../../../crates/proxy/tests/gateway/python/grpc_server.py");
        let unused = SocketAddr::from(([127, 0, 0, 1], 9));
        if !needed {
            return GrpcServer {
                child: None,
                address: unused,
            };
        }
        let mut child = std::process::Command::new(wasmgate_test_support::python())
            .arg("-c")
            .arg(SCRIPT)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("the gRPC server starts");
        let mut line = String::new();
        if let Some(stdout) = child.stdout.take() {
            let _ = std::io::BufReader::new(stdout).read_line(&mut line);
        }
        let port: u16 = line
            .trim()
            .parse()
            .expect("the gRPC server prints its port");
        GrpcServer {
            child: Some(child),
            address: SocketAddr::from(([127, 0, 0, 1], port)),
        }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
