//! A real OCI registry for the image tests: Debian's `docker-registry` (the CNCF
//! distribution registry, installed by `scripts/lib.sh`) on a free 127.0.0.1 port with a
//! generated config and storage, plain or with htpasswd auth behind TLS with the test's CA.
//! Killed when dropped.

use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::free_port;
use crate::pki::Pki;

/// A running registry.
pub struct Registry {
    child: Child,
    /// Where it listens.
    pub address: SocketAddr,
    /// Its CA file, when it serves TLS.
    pub ca_file: Option<PathBuf>,
}

/// The credentials of a registry with auth.
pub struct Login<'a> {
    /// The user.
    pub user: &'a str,
    /// The password.
    pub password: &'a str,
}

impl Registry {
    /// A registry without auth, over plain HTTP.
    pub fn plain(dir: &Path) -> Registry {
        Registry::start(dir, None)
    }

    /// A registry that wants `login` (htpasswd, bcrypt), over TLS with a certificate for
    /// 127.0.0.1 that `pki` signed.
    pub fn with_auth(dir: &Path, pki: &Pki, login: Login<'_>) -> Registry {
        Registry::start(dir, Some((pki, login)))
    }

    fn start(dir: &Path, secured: Option<(&Pki, Login<'_>)>) -> Registry {
        std::fs::create_dir_all(dir.join("data")).expect("registry storage");
        let address = SocketAddr::from(([127, 0, 0, 1], free_port()));
        let mut config = format!(
            "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: {address}\n",
            dir.join("data").display()
        );
        let mut ca_file = None;
        if let Some((pki, login)) = secured {
            let issued = pki.server("registry", &["127.0.0.1", "localhost"]);
            config += &format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                issued.cert.display(),
                issued.key.display()
            );
            let hash = bcrypt::hash(login.password, 4).expect("a bcrypt hash");
            let htpasswd = dir.join("htpasswd");
            std::fs::write(&htpasswd, format!("{}:{hash}\n", login.user)).expect("htpasswd");
            config += &format!(
                "auth:\n  htpasswd:\n    realm: wasmgate-test\n    path: {}\n",
                htpasswd.display()
            );
            ca_file = Some(pki.ca_file.clone());
        }
        let config_file = dir.join("config.yml");
        std::fs::write(&config_file, config).expect("registry config");
        let child = Command::new(binary())
            .arg("serve")
            .arg(&config_file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "docker-registry does not start ({e}): run scripts/test.sh, which installs it"
                )
            });
        let started = Instant::now();
        while TcpStream::connect(address).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "the registry did not listen on {address}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Registry {
            child,
            address,
            ca_file,
        }
    }

    /// `host:port`, as image references name it.
    pub fn host(&self) -> String {
        self.address.to_string()
    }
}

/// The registry binary: `docker-registry` on the PATH or in `/usr/bin`.
fn binary() -> PathBuf {
    let installed = Path::new("/usr/bin/docker-registry");
    if installed.is_file() {
        installed.to_path_buf()
    } else {
        PathBuf::from("docker-registry")
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
