//! The S3 requests off-site copies need, over HTTP with retries: one
//! [`Store`] per bucket. `rusty-s3` signs each request (AWS Signature V4,
//! in the query string, as presigned URLs: every S3-compatible server
//! accepts them) and `ureq` sends it (rustls; no OpenSSL).
//!
//! Responses are read with `roxmltree`, by element name wherever they are,
//! not with `rusty-s3`'s strict parsers: S3-compatible servers differ in
//! their root elements (rclone's answers `InitiateMultipartUpload` where
//! AWS answers `InitiateMultipartUploadResult`).
//!
//! No request carries a flexible checksum header (`x-amz-checksum-*`,
//! `x-amz-sdk-checksum-algorithm`): some S3-compatible providers reject
//! them (the AWS SDKs' CRC32 default of 2025 broke OVHcloud and others).
//! Bodies carry `Content-MD5`, which every S3 checks.
//!
//! A request that fails for a reason that may pass — no connection, a
//! timeout, HTTP 500, 502, 503, 504 or 429 — is retried up to
//! [`ATTEMPTS`] times, waiting 0.5, 1, 2 then 4 s: about 7.5 s before a
//! clear error, so that a push to a server that is down ends in bounded
//! time. Credentials are never in an error message (nor the signed URL).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{self, Read};
use std::time::Duration;

use base64::Engine as _;
use chrono::{DateTime, Utc};
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

/// How many times a request is tried when it fails for a reason that may
/// pass.
pub const ATTEMPTS: u32 = 5;

/// How long a signed URL stays valid: longer than any request takes.
const SIGNED_FOR: Duration = Duration::from_secs(6 * 3600);

/// The metadata header holding an object's SHA-256 (hex).
pub const SHA256_META: &str = "x-amz-meta-sha256";

/// Why a request failed, once retries are spent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Error {
    /// The server refused the credentials or the right (HTTP 403:
    /// `InvalidAccessKeyId`, `SignatureDoesNotMatch`, `AccessDenied`…).
    Denied { code: String, message: String },
    /// The bucket does not exist (`NoSuchBucket`).
    NoBucket,
    /// The object does not exist (`NoSuchKey`, or 404 on a HEAD).
    NoKey,
    /// The multipart upload is unknown to the server (`NoSuchUpload`):
    /// completed, aborted, or forgotten by a restarted server.
    NoUpload,
    /// Any other answer of the server.
    Server {
        status: u16,
        code: String,
        message: String,
    },
    /// No answer: no connection, a timeout, a connection cut.
    Transport(String),
    /// The body to send could not be read from the local file.
    Local(String),
}

impl S3Error {
    /// Whether the whole push should stop: the server cannot be reached or
    /// refuses us, so every next request would fail the same way.
    pub fn is_global(&self) -> bool {
        match self {
            S3Error::Denied { .. } | S3Error::NoBucket | S3Error::Transport(_) => true,
            S3Error::Server { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

impl fmt::Display for S3Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            S3Error::Denied { code, message }
                if matches!(code.as_str(), "RequestTimeTooSkewed" | "RequestExpired") =>
            {
                write!(f, "requête refusée par le serveur S3 ({code}) : {message}")
            }
            S3Error::Denied { code, message } => write!(
                f,
                "accès refusé par le serveur S3 ({code}{}) : vérifier les clés d'accès et leurs droits sur le bucket",
                if message.is_empty() {
                    String::new()
                } else {
                    format!(" : {message}")
                }
            ),
            S3Error::NoBucket => f.write_str("le bucket n'existe pas sur le serveur S3"),
            S3Error::NoKey => f.write_str("l'objet n'existe pas sur le serveur S3"),
            S3Error::NoUpload => {
                f.write_str("l'envoi en plusieurs parties est inconnu du serveur S3")
            }
            S3Error::Server {
                status,
                code,
                message,
            } => {
                write!(f, "le serveur S3 a répondu HTTP {status}")?;
                if !code.is_empty() {
                    write!(f, " {code}")?;
                }
                if !message.is_empty() {
                    write!(f, " : {message}")?;
                }
                if *status >= 500 || *status == 429 {
                    write!(f, " (après {ATTEMPTS} essais)")?;
                }
                Ok(())
            }
            S3Error::Transport(why) => write!(
                f,
                "serveur S3 injoignable : {why} (après {ATTEMPTS} essais)"
            ),
            S3Error::Local(why) => f.write_str(why),
        }
    }
}

/// An object of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    /// Its key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
}

/// A multipart upload the server holds, not completed nor aborted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upload {
    /// The object's key.
    pub key: String,
    /// The server's id of the upload.
    pub upload_id: String,
    /// When it was created (`None` if the server did not say).
    pub initiated: Option<DateTime<Utc>>,
}

/// A part of a multipart upload, as the server lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// Its ETag, quotes included.
    pub etag: String,
    /// Its size in bytes.
    pub size: u64,
}

/// One bucket of an S3-compatible server, with the credentials to use.
pub struct Store {
    agent: ureq::Agent,
    bucket: Bucket,
    credentials: Credentials,
    region: String,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("bucket", &self.bucket.name())
            .field("endpoint", &self.bucket.base_url().as_str())
            .finish_non_exhaustive()
    }
}

/// Gives a request's body from its start, again at each retry.
pub type Opener<'a> = dyn FnMut() -> io::Result<Box<dyn Read + 'a>> + 'a;

/// A request body: bytes in memory, or a reader of a known length.
enum Body<'a, 'b> {
    None,
    Bytes(&'a [u8]),
    Reader(&'a mut Opener<'b>, u64),
}

/// The answer of a request that went through.
struct Answer {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: ureq::Body,
}

impl Answer {
    fn text(&mut self) -> Result<String, S3Error> {
        self.body
            .read_to_string()
            .map_err(|e| S3Error::Transport(describe(&e)))
    }

    fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

impl Store {
    /// A store for `bucket` at `endpoint` (`https://s3.fr-par.scw.cloud`;
    /// empty: AWS in `region`), path-style addressing (every S3-compatible
    /// server accepts it; bucket names with dots need it under TLS).
    /// Errors: the French reason the endpoint is not usable.
    pub fn new(
        endpoint: &str,
        region: &str,
        bucket: &str,
        access_key: &str,
        secret_key: &str,
    ) -> Result<Store, String> {
        let endpoint = if endpoint.is_empty() {
            format!("https://s3.{region}.amazonaws.com")
        } else {
            endpoint.trim_end_matches('/').to_owned()
        };
        let url: url::Url = endpoint
            .parse()
            .map_err(|e| format!("« {endpoint} » n'est pas une adresse : {e}"))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!(
                "« {endpoint} » ne commence pas par https:// ni http://"
            ));
        }
        let bucket = Bucket::new(url, UrlStyle::Path, bucket.to_owned(), region.to_owned())
            .map_err(|e| format!("« {endpoint} » : {e}"))?;
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_per_read(Some(Duration::from_secs(60)))
            .timeout_per_write(Some(Duration::from_secs(60)))
            .user_agent(concat!("svgauto/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        Ok(Store {
            agent,
            bucket,
            credentials: Credentials::new(access_key, secret_key),
            region: region.to_owned(),
        })
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        self.bucket.name()
    }

    /// Sends one signed request, retrying what may pass (see the module).
    /// `headers` must be those the URL was signed with. A 4xx or 5xx
    /// answer is an error, read from its XML body.
    fn send(
        &self,
        method: &str,
        url: &url::Url,
        headers: &[(&str, &str)],
        mut body: Body<'_, '_>,
    ) -> Result<Answer, S3Error> {
        let mut delay = Duration::from_millis(500);
        let mut attempt = 1;
        loop {
            let result = self.send_once(method, url, headers, &mut body);
            let retry = match &result {
                Ok(_) => false,
                Err(S3Error::Transport(_)) => true,
                Err(S3Error::Server { status, .. }) => {
                    matches!(status, 500 | 502 | 503 | 504 | 429)
                }
                Err(_) => false,
            };
            if !retry || attempt >= ATTEMPTS {
                return result;
            }
            std::thread::sleep(delay);
            delay *= 2;
            attempt += 1;
        }
    }

    fn send_once(
        &self,
        method: &str,
        url: &url::Url,
        headers: &[(&str, &str)],
        body: &mut Body<'_, '_>,
    ) -> Result<Answer, S3Error> {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(url.as_str());
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let sent = match body {
            Body::None => {
                let request = builder
                    .body(())
                    .map_err(|e| S3Error::Local(e.to_string()))?;
                self.agent.run(request)
            }
            Body::Bytes(b) => {
                let request = builder
                    .body(*b)
                    .map_err(|e| S3Error::Local(e.to_string()))?;
                self.agent.run(request)
            }
            Body::Reader(open, len) => {
                let mut reader = open().map_err(|e| S3Error::Local(e.to_string()))?;
                let request = builder
                    .header("content-length", len.to_string())
                    .body(ureq::SendBody::from_reader(&mut reader))
                    .map_err(|e| S3Error::Local(e.to_string()))?;
                self.agent.run(request)
            }
        };
        let response = sent.map_err(|e| match e {
            ureq::Error::Io(io) if io.kind() != io::ErrorKind::Other => {
                S3Error::Transport(describe_io(&io))
            }
            e => S3Error::Transport(describe(&e)),
        })?;
        let (parts, body) = response.into_parts();
        let mut answer = Answer {
            status: parts.status.as_u16(),
            headers: parts.headers,
            body,
        };
        if answer.status < 300 {
            return Ok(answer);
        }
        let text = if method == "HEAD" {
            String::new()
        } else {
            answer.text().unwrap_or_default()
        };
        Err(error_of(answer.status, &text))
    }

    fn signed<'a, A: S3Action<'a>>(&self, action: A) -> url::Url {
        action.sign(SIGNED_FOR)
    }

    /// Checks that the credentials are accepted and the bucket exists, by
    /// listing at most one key under `prefix`.
    pub fn probe(&self, prefix: &str) -> Result<(), S3Error> {
        let mut a = self.bucket.list_objects_v2(Some(&self.credentials));
        a.with_prefix(prefix);
        a.with_max_keys(1);
        let url = self.signed(a);
        self.send("GET", &url, &[], Body::None).map(drop)
    }

    /// Every object under `prefix` (all pages).
    pub fn list(&self, prefix: &str) -> Result<Vec<Object>, S3Error> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut a = self.bucket.list_objects_v2(Some(&self.credentials));
            a.with_prefix(prefix);
            if let Some(t) = &token {
                a.with_continuation_token(t.clone());
            }
            let url = self.signed(a);
            let text = self.send("GET", &url, &[], Body::None)?.text()?;
            let doc = parse(&text)?;
            for c in doc.descendants().filter(|n| n.has_tag_name("Contents")) {
                let key = child_text(c, "Key");
                let size = child_text(c, "Size").parse().unwrap_or(0);
                out.push(Object { key, size });
            }
            let truncated = find_text(&doc, "IsTruncated") == "true";
            let next = find_text(&doc, "NextContinuationToken");
            if !truncated || next.is_empty() {
                return Ok(out);
            }
            token = Some(next);
        }
    }

    /// The size of object `key` and its SHA-256 metadata, if it has one.
    pub fn head(&self, key: &str) -> Result<(u64, Option<String>), S3Error> {
        let url = self.signed(self.bucket.head_object(Some(&self.credentials), key));
        let answer = self
            .send("HEAD", &url, &[], Body::None)
            .map_err(|e| match e {
                S3Error::Server { status: 404, .. } => S3Error::NoKey,
                e => e,
            })?;
        let size = answer
            .header("content-length")
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok((size, answer.header(SHA256_META)))
    }

    /// Writes object `key` into `out`; returns its size. A cut download
    /// is an error (the caller starts over).
    pub fn get(&self, key: &str, out: &mut dyn io::Write) -> Result<u64, S3Error> {
        let url = self.signed(self.bucket.get_object(Some(&self.credentials), key));
        let mut answer = self.send("GET", &url, &[], Body::None)?;
        let expected = answer
            .header("content-length")
            .and_then(|s| s.parse::<u64>().ok());
        let mut reader = answer.body.as_reader();
        let n = io::copy(&mut reader, out).map_err(|e| {
            if e.kind() == io::ErrorKind::Other && e.get_ref().is_some() {
                S3Error::Transport(describe_io(&e))
            } else {
                S3Error::Local(e.to_string())
            }
        })?;
        if let Some(len) = expected
            && len != n
        {
            return Err(S3Error::Transport(format!(
                "téléchargement coupé : {n} octets reçus sur {len}"
            )));
        }
        Ok(n)
    }

    /// Puts a whole object in one request: `open` gives its bytes (again
    /// at each retry), `len` long, whose MD5 is `md5` and SHA-256 `sha256`
    /// (hex, stored in the metadata).
    pub fn put(
        &self,
        key: &str,
        open: &mut Opener<'_>,
        len: u64,
        md5: &[u8; 16],
        sha256: &str,
    ) -> Result<(), S3Error> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5);
        let mut a = self.bucket.put_object(Some(&self.credentials), key);
        a.headers_mut().insert("content-md5", md5.clone());
        a.headers_mut().insert(SHA256_META, sha256.to_owned());
        let url = self.signed(a);
        let headers = [("content-md5", md5.as_str()), (SHA256_META, sha256)];
        self.send("PUT", &url, &headers, Body::Reader(open, len))
            .map(drop)
    }

    /// Creates a multipart upload of `key`, whose SHA-256 (hex) goes into
    /// its metadata; returns the upload's id.
    pub fn create_multipart(&self, key: &str, sha256: &str) -> Result<String, S3Error> {
        let mut a = self
            .bucket
            .create_multipart_upload(Some(&self.credentials), key);
        a.headers_mut().insert(SHA256_META, sha256.to_owned());
        let url = self.signed(a);
        let text = self
            .send("POST", &url, &[(SHA256_META, sha256)], Body::None)?
            .text()?;
        let id = find_text(&parse(&text)?, "UploadId");
        if id.is_empty() {
            return Err(S3Error::Server {
                status: 200,
                code: String::new(),
                message: "réponse sans UploadId".into(),
            });
        }
        Ok(id)
    }

    /// Sends part `number` (1-based) of upload `upload_id`; returns its
    /// ETag.
    pub fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        number: u16,
        open: &mut Opener<'_>,
        len: u64,
        md5: &[u8; 16],
    ) -> Result<String, S3Error> {
        let md5 = base64::engine::general_purpose::STANDARD.encode(md5);
        let mut a = self
            .bucket
            .upload_part(Some(&self.credentials), key, number, upload_id);
        a.headers_mut().insert("content-md5", md5.clone());
        let url = self.signed(a);
        let answer = self
            .send(
                "PUT",
                &url,
                &[("content-md5", md5.as_str())],
                Body::Reader(open, len),
            )
            .map_err(no_upload)?;
        answer.header("etag").ok_or_else(|| S3Error::Server {
            status: answer.status,
            code: String::new(),
            message: "réponse sans ETag".into(),
        })
    }

    /// The parts the server holds for upload `upload_id`, by number.
    pub fn list_parts(&self, key: &str, upload_id: &str) -> Result<BTreeMap<u32, Part>, S3Error> {
        let mut out = BTreeMap::new();
        let mut marker: Option<String> = None;
        loop {
            let mut a = self
                .bucket
                .list_parts(Some(&self.credentials), key, upload_id);
            if let Some(m) = &marker {
                a.query_mut().insert("part-number-marker", m.clone());
            }
            let url = self.signed(a);
            let text = self
                .send("GET", &url, &[], Body::None)
                .map_err(no_upload)?
                .text()?;
            let doc = parse(&text)?;
            for p in doc.descendants().filter(|n| n.has_tag_name("Part")) {
                let Ok(n) = child_text(p, "PartNumber").parse::<u32>() else {
                    continue;
                };
                let size = child_text(p, "Size").parse().unwrap_or(0);
                out.insert(
                    n,
                    Part {
                        etag: child_text(p, "ETag"),
                        size,
                    },
                );
            }
            let next = find_text(&doc, "NextPartNumberMarker");
            if find_text(&doc, "IsTruncated") != "true" || next.is_empty() {
                return Ok(out);
            }
            marker = Some(next);
        }
    }

    /// Completes upload `upload_id` with `etags`, part 1 first: the object
    /// appears, whole.
    pub fn complete(&self, key: &str, upload_id: &str, etags: &[String]) -> Result<(), S3Error> {
        let a = self.bucket.complete_multipart_upload(
            Some(&self.credentials),
            key,
            upload_id,
            etags.iter().map(String::as_str),
        );
        let url = self.signed(a.clone());
        let body = a.body();
        let mut answer = self
            .send("POST", &url, &[], Body::Bytes(body.as_bytes()))
            .map_err(no_upload)?;
        // A completion can fail with HTTP 200 and an <Error> body.
        let text = answer.text()?;
        if let Ok(doc) = roxmltree::Document::parse(&text)
            && doc.root_element().has_tag_name("Error")
        {
            return Err(error_of(500, &text));
        }
        Ok(())
    }

    /// Aborts upload `upload_id`: the server drops its parts.
    pub fn abort(&self, key: &str, upload_id: &str) -> Result<(), S3Error> {
        let a = self
            .bucket
            .abort_multipart_upload(Some(&self.credentials), key, upload_id);
        let url = self.signed(a);
        self.send("DELETE", &url, &[], Body::None)
            .map(drop)
            .map_err(no_upload)
    }

    /// The multipart uploads under `prefix` not completed nor aborted.
    ///
    /// Signed here with `rusty_s3::signing::sign`: the crate has no
    /// `ListMultipartUploads` action.
    pub fn list_uploads(&self, prefix: &str) -> Result<Vec<Upload>, S3Error> {
        let mut out = Vec::new();
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut query: Vec<(&str, &str)> = vec![("uploads", ""), ("prefix", prefix)];
            if let Some((k, u)) = &markers {
                query.push(("key-marker", k));
                query.push(("upload-id-marker", u));
            }
            // `sign` merges sorted iterators: the canonical query of
            // Signature V4 is in name order.
            query.sort();
            let url = rusty_s3::signing::sign(
                &jiff::Timestamp::now(),
                rusty_s3::Method::Get,
                self.bucket.base_url().clone(),
                self.credentials.key(),
                self.credentials.secret(),
                self.credentials.token(),
                &self.region,
                SIGNED_FOR.as_secs(),
                query.into_iter(),
                std::iter::empty(),
            );
            let text = match self.send("GET", &url, &[], Body::None) {
                Ok(mut a) => a.text()?,
                // rclone's server answers NoSuchUpload when there is none.
                Err(S3Error::NoUpload) => return Ok(out),
                Err(e) => return Err(e),
            };
            let doc = parse(&text)?;
            for u in doc.descendants().filter(|n| n.has_tag_name("Upload")) {
                let initiated = DateTime::parse_from_rfc3339(&child_text(u, "Initiated"))
                    .ok()
                    .map(|t| t.with_timezone(&Utc));
                out.push(Upload {
                    key: child_text(u, "Key"),
                    upload_id: child_text(u, "UploadId"),
                    initiated,
                });
            }
            let (k, u) = (
                find_text(&doc, "NextKeyMarker"),
                find_text(&doc, "NextUploadIdMarker"),
            );
            if find_text(&doc, "IsTruncated") != "true" || (k.is_empty() && u.is_empty()) {
                return Ok(out);
            }
            markers = Some((k, u));
        }
    }

    /// Deletes object `key` (deleting one that is not there is no error,
    /// as in S3).
    pub fn delete(&self, key: &str) -> Result<(), S3Error> {
        let url = self.signed(self.bucket.delete_object(Some(&self.credentials), key));
        match self.send("DELETE", &url, &[], Body::None) {
            Ok(_) | Err(S3Error::NoKey) => Ok(()),
            Err(S3Error::Server { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

fn no_upload(e: S3Error) -> S3Error {
    match e {
        S3Error::Server { status: 404, .. } => S3Error::NoUpload,
        e => e,
    }
}

fn parse(text: &str) -> Result<roxmltree::Document<'_>, S3Error> {
    roxmltree::Document::parse(text).map_err(|e| S3Error::Server {
        status: 200,
        code: String::new(),
        message: format!("réponse XML illisible : {e}"),
    })
}

/// The text of the first element named `name` anywhere in `doc`.
fn find_text(doc: &roxmltree::Document<'_>, name: &str) -> String {
    doc.descendants()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The text of `node`'s child named `name`.
fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> String {
    node.children()
        .find(|n| n.has_tag_name(name))
        .and_then(|n| n.text())
        .unwrap_or("")
        .trim()
        .to_owned()
}

/// The error an answer of HTTP `status` with body `text` stands for.
fn error_of(status: u16, text: &str) -> S3Error {
    let (code, message) = match roxmltree::Document::parse(text) {
        Ok(doc) => (find_text(&doc, "Code"), find_text(&doc, "Message")),
        Err(_) => (String::new(), String::new()),
    };
    match (status, code.as_str()) {
        (_, "RequestTimeTooSkewed" | "RequestExpired") => S3Error::Denied {
            code,
            message: "l'horloge de ce serveur est trop loin de celle du service S3 : la mettre à l'heure (synchronisation NTP)".into(),
        },
        (_, "NoSuchBucket") => S3Error::NoBucket,
        (_, "NoSuchKey") => S3Error::NoKey,
        (_, "NoSuchUpload") => S3Error::NoUpload,
        (403, _)
        | (
            _,
            "InvalidAccessKeyId"
            | "SignatureDoesNotMatch"
            | "AccessDenied"
            | "InvalidToken"
            | "ExpiredToken",
        ) => S3Error::Denied { code, message },
        _ => S3Error::Server {
            status,
            code,
            message: message.chars().take(300).collect(),
        },
    }
}

/// A transport error in French, without the URL (which carries the
/// signature and the access key's id).
fn describe(e: &ureq::Error) -> String {
    match e {
        ureq::Error::Io(io) => describe_io(io),
        ureq::Error::Timeout(_) => "délai dépassé".into(),
        ureq::Error::HostNotFound => "nom du serveur introuvable (DNS)".into(),
        ureq::Error::ConnectionFailed => "connexion impossible".into(),
        ureq::Error::Tls(t) => format!("échec TLS : {t}"),
        ureq::Error::Rustls(t) => format!("échec TLS : {t}"),
        ureq::Error::Protocol(p) => format!("réponse HTTP invalide : {p}"),
        other => {
            // Other errors may quote the URL: keep only what comes before it.
            let text = other.to_string();
            text.split("http").next().unwrap_or("").trim().to_owned()
        }
    }
}

fn describe_io(e: &io::Error) -> String {
    use io::ErrorKind as K;
    match e.kind() {
        K::ConnectionRefused => "connexion refusée".into(),
        K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
            "connexion coupée par le serveur".into()
        }
        K::TimedOut | K::WouldBlock => "délai dépassé".into(),
        // The resolver's failure comes as an `io::Error` of kind Other or
        // Uncategorized, its text from getaddrinfo.
        _ if e.to_string().contains("lookup") => {
            "nom du serveur introuvable (DNS) : vérifier offsite.endpoint".into()
        }
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_bodies_are_typed_by_their_code() {
        let body = |code: &str| {
            format!("<?xml version=\"1.0\"?><Error><Code>{code}</Code><Message>m</Message></Error>")
        };
        assert_eq!(error_of(404, &body("NoSuchBucket")), S3Error::NoBucket);
        assert_eq!(error_of(404, &body("NoSuchUpload")), S3Error::NoUpload);
        assert!(matches!(
            error_of(403, &body("SignatureDoesNotMatch")),
            S3Error::Denied { .. }
        ));
        assert!(matches!(error_of(403, ""), S3Error::Denied { .. }));
        let e = error_of(503, &body("SlowDown"));
        assert!(e.is_global());
        assert_eq!(
            e.to_string(),
            format!("le serveur S3 a répondu HTTP 503 SlowDown : m (après {ATTEMPTS} essais)")
        );
        assert!(!error_of(400, &body("EntityTooSmall")).is_global());
    }
}
