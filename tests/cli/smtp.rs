//! A real SMTP server for the mail tests: `smtp_server.py` (aiosmtpd) on
//! 127.0.0.1, plain, STARTTLS or implicit TLS, with or without AUTH, that
//! writes a JSON summary of every message it accepts. Also a test CA and a
//! server certificate signed by it (rcgen), for svgauto to trust through
//! `SSL_CERT_FILE`.
//!
//! The server needs aiosmtpd for `/usr/bin/python3` (Debian/Ubuntu:
//! `apt-get install python3-aiosmtpd`); `SVGAUTO_TEST_PYTHON` names another
//! interpreter. Without it the tests fail, they do not skip.

#![allow(dead_code)] // each test uses a different part of it

use std::fs;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

use serde::Deserialize;

use crate::harness::ready_port;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/smtp_server.py");

/// The interpreter that has aiosmtpd.
fn python() -> String {
    std::env::var("SVGAUTO_TEST_PYTHON").unwrap_or_else(|_| "/usr/bin/python3".to_owned())
}

/// How the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Plain SMTP.
    Plain,
    /// STARTTLS offered, and required before MAIL.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

impl Mode {
    fn arg(self) -> &'static str {
        match self {
            Mode::Plain => "none",
            Mode::Starttls => "starttls",
            Mode::Tls => "tls",
        }
    }
}

/// A test CA and a certificate for `localhost` / `127.0.0.1` it signed, as
/// PEM files in a temp folder of their own.
pub struct Certs {
    _dir: tempfile::TempDir,
    /// The CA's certificate: what `SSL_CERT_FILE` points to.
    pub ca: PathBuf,
    /// The server's certificate.
    pub cert: PathBuf,
    /// The server's private key (PKCS#8).
    pub key: PathBuf,
}

impl Certs {
    /// Makes the CA and the server certificate.
    pub fn make() -> Certs {
        use rcgen::{
            BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
            KeyPair, KeyUsagePurpose,
        };
        let tmp = tempfile::Builder::new()
            .prefix("svgauto-test-certs-")
            .tempdir()
            .unwrap();
        let dir = tmp.path();
        // rustls refuses a leaf that is its own CA: a real CA, then a leaf.
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "svgauto test CA");
        ca.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
        leaf.distinguished_name
            .push(DnType::CommonName, "localhost");
        leaf.use_authority_key_identifier_extension = true;
        leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let cert = leaf.signed_by(&key, &issuer).unwrap();

        let (ca_path, cert_path, key_path) = (
            dir.join("ca.pem"),
            dir.join("server.pem"),
            dir.join("server.key"),
        );
        fs::write(&ca_path, ca_cert.pem()).unwrap();
        fs::write(&cert_path, cert.pem()).unwrap();
        fs::write(&key_path, key.serialize_pem()).unwrap();
        Certs {
            _dir: tmp,
            ca: ca_path,
            cert: cert_path,
            key: key_path,
        }
    }
}

/// A port of 127.0.0.1 where nothing listens (it was free a moment ago).
pub fn unused_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

/// The running server; killed when dropped.
pub struct Server {
    child: Child,
    _tmp: tempfile::TempDir,
    /// Closing it tells the server to stop, should the kill not happen.
    _stdin: ChildStdin,
    pub port: u16,
    /// Where the messages land.
    dir: PathBuf,
    stderr: PathBuf,
}

impl Server {
    /// Starts a server writing into a temp folder of its own. `certs` are
    /// needed for the TLS modes; `auth` makes AUTH with that user and
    /// password required before MAIL.
    pub fn start(mode: Mode, certs: Option<&Certs>, auth: Option<(&str, &str)>) -> Server {
        let tmp = tempfile::Builder::new()
            .prefix("svgauto-test-smtp-")
            .tempdir()
            .unwrap();
        let dir = tmp.path().join("messages");
        let stderr = tmp.path().join("server.stderr");
        let mut cmd = Command::new(python());
        cmd.arg(SCRIPT)
            .arg("--out")
            .arg(&dir)
            .arg("--mode")
            .arg(mode.arg());
        if mode != Mode::Plain {
            let c = certs.expect("a TLS mode needs certificates");
            cmd.arg("--cert").arg(&c.cert).arg("--key").arg(&c.key);
        }
        if let Some((user, password)) = auth {
            cmd.arg("--auth").arg(format!("{user}:{password}"));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(fs::File::create(&stderr).unwrap())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start the test SMTP server ({} {SCRIPT}): {e}",
                    python()
                )
            });
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let port = ready_port(stdout);
        let Some(port) = port else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the test SMTP server did not start ({} {SCRIPT} needs aiosmtpd: apt-get install python3-aiosmtpd, or set SVGAUTO_TEST_PYTHON)\n--- its stderr ---\n{}",
                python(),
                fs::read_to_string(&stderr).unwrap_or_default()
            );
        };
        Server {
            child,
            _tmp: tmp,
            _stdin: stdin,
            port,
            dir,
            stderr,
        }
    }

    /// The messages accepted so far, in the order they arrived. A message
    /// is on disk before the server says `250` to it, so once svgauto has
    /// exited, every message it sent is here.
    pub fn messages(&self) -> Vec<Received> {
        let mut names: Vec<PathBuf> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.file_name().unwrap().to_string_lossy();
                n.starts_with("msg-") && n.ends_with(".json")
            })
            .collect();
        names.sort();
        names
            .iter()
            .map(|p| {
                let text = fs::read_to_string(p).unwrap();
                let mut m: Received = serde_json::from_str(&text)
                    .unwrap_or_else(|e| panic!("{}: {e}\n{text}", p.display()));
                m.eml = p.with_extension("eml");
                m
            })
            .collect()
    }

    /// Where the messages land (`msg-NNN.json`, `msg-NNN.eml`).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the server printed on stderr (for failure messages).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.stderr).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A mailbox of a header: display name and address.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Addr {
    pub name: String,
    pub addr: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Attachment {
    pub filename: Option<String>,
    pub content_type: String,
    pub charset: Option<String>,
    pub disposition: Option<String>,
    hex: String,
}

impl Attachment {
    /// The decoded content.
    pub fn bytes(&self) -> Vec<u8> {
        (0..self.hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&self.hex[i..i + 2], 16).unwrap())
            .collect()
    }
}

/// One message as the server received it, parsed by Python's `email`.
#[derive(Debug, Clone, Deserialize)]
pub struct Received {
    /// Seconds since the epoch, when the server got the message.
    pub arrived: f64,
    /// The envelope.
    pub mail_from: String,
    pub rcpt_tos: Vec<String>,
    /// The TLS version of the session (`TLSv1.3`…), `None` in clear.
    pub tls: Option<String>,
    pub authenticated: bool,
    pub login: Option<String>,
    /// Decoded.
    pub subject: Option<String>,
    /// As sent (encoded words left alone).
    pub raw_subject: Option<String>,
    pub raw_from: Option<String>,
    pub from: Vec<Addr>,
    pub to: Vec<Addr>,
    pub content_type: String,
    /// The plain-text body, decoded.
    pub body: Option<String>,
    pub body_content_type: Option<String>,
    pub body_charset: Option<String>,
    pub attachments: Vec<Attachment>,
    /// The raw message, for a person debugging a failure.
    #[serde(skip)]
    pub eml: PathBuf,
}

impl Received {
    /// The attachment named `name`; panics listing the others.
    #[track_caller]
    pub fn attachment(&self, name: &str) -> &Attachment {
        self.attachments
            .iter()
            .find(|a| a.filename.as_deref() == Some(name))
            .unwrap_or_else(|| {
                panic!(
                    "no attachment {name:?}; attachments: {:?} (raw message: {})",
                    self.attachments
                        .iter()
                        .map(|a| &a.filename)
                        .collect::<Vec<_>>(),
                    self.eml.display()
                )
            })
    }
}
