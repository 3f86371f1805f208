//! The pings of `[monitoring] ping_url` (DESIGN §11, issue 16 point 1),
//! received by a real HTTP server on 127.0.0.1 (`ping_server.py`, Debian's
//! python3): healthchecks.io's `/start`, success and `/fail`, Uptime
//! Kuma's push parameters, and services that refuse or never answer — a
//! ping never changes the outcome and says why it failed, on stderr and
//! in the JSON report.

use std::fs;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness::*;

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/cli/ping_server.py");

/// The check's id in the URL, as healthchecks.io gives one.
const CHECK: &str = "5f1e0a6c-7d2b-4c1e-9a0f-2b8c3d4e5f60";

/// A monitoring endpoint: requests are recorded, one JSON line each.
struct PingServer {
    child: Child,
    port: u16,
    log: PathBuf,
    _dir: tempfile::TempDir,
}

impl PingServer {
    fn start(args: &[&str]) -> PingServer {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("requests.jsonl");
        let mut child = Command::new("/usr/bin/python3")
            .arg(SCRIPT)
            .arg(&log)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 runs the ping server");
        let port = ready_port(child.stdout.take().unwrap()).expect("the ping server started");
        PingServer {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Every request received so far: (method, path, query, body).
    fn requests(&self) -> Vec<(String, String, String, String)> {
        let text = fs::read_to_string(&self.log).unwrap_or_default();
        text.lines()
            .map(|l| {
                let v: Value = serde_json::from_str(l).unwrap();
                let s = |k: &str| v[k].as_str().unwrap().to_owned();
                (s("method"), s("path"), s("query"), s("body"))
            })
            .collect()
    }
}

impl Drop for PingServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn pinged_base(url: &str) -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(1, 20_000));
    base.dossier("PRESSE")
        .file("compta/ecritures.dat", text_bytes(2, 20_000));
    base.set("monitoring", "ping_url", &format!("\"{url}\""));
    base
}

#[test]
#[ignore = "needs python3 (the ping server)"]
fn a_run_pings_start_then_success_with_its_summary() {
    let server = PingServer::start(&[]);
    let base = pinged_base(&server.url(&format!("/{CHECK}")));
    base.run(&["--user", "COMPT"]).code(0);
    let got = server.requests();
    let paths: Vec<(&str, &str)> = got
        .iter()
        .map(|(m, p, _, _)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            ("POST", format!("/{CHECK}/start").as_str()),
            ("POST", format!("/{CHECK}").as_str())
        ],
        "{got:?}"
    );
    assert!(got[1].3.contains("2 / 2 dossier(s) traité(s)"), "{got:?}");
    assert!(got[1].3.contains("Rapport : "), "{got:?}");
    assert_eq!(base.report_json().value["warnings"], serde_json::json!([]));
}

#[test]
#[ignore = "needs python3 (the ping server)"]
fn a_run_with_a_dossier_in_error_pings_fail() {
    let server = PingServer::start(&[]);
    let base = pinged_base(&server.url(&format!("/{CHECK}/")));
    let _held = base.hold("PRESSE");
    base.run(&["--user", "COMPT"]).code(1);
    let got = server.requests();
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got[0].1, format!("/{CHECK}/start"));
    assert_eq!(got[1].1, format!("/{CHECK}/fail"));
    assert!(
        got[1].3.contains("1 / 2 dossier(s) en erreur(s)"),
        "{got:?}"
    );
}

#[test]
#[ignore = "needs python3 (the ping server)"]
fn uptime_kuma_push_urls_get_their_status_and_message() {
    let server = PingServer::start(&[]);
    let base = pinged_base(&server.url("/api/push/AbC123?status=up&msg=OK&ping="));
    base.run(&["--user", "COMPT"]).code(0);
    let got = server.requests();
    assert_eq!(got.len(), 1, "no start signal for Kuma: {got:?}");
    let (method, path, query, _) = &got[0];
    assert_eq!(
        (method.as_str(), path.as_str()),
        ("GET", "/api/push/AbC123")
    );
    assert!(query.contains("status=up"), "{query}");
    assert!(query.contains("msg=2+%2F+2+dossier"), "{query}");
}

/// A service that accepts and never answers, then one that is not there:
/// the run ends as it would without pings (exit 0, archives made), each
/// ping gives up after its 10 s, and the failures are said on stderr and
/// in the JSON report, without the URL.
#[test]
#[ignore = "needs python3 (the ping server)"]
fn pings_that_fail_change_nothing_but_are_said() {
    let hanging = PingServer::start(&["--hang"]);
    let base = pinged_base(&hanging.url(&format!("/{CHECK}")));
    let start = Instant::now();
    let out = base.run(&["--user", "COMPT"]);
    out.code(0);
    // A guard against a hang, not a measure: two pings of at most 10 s.
    assert!(
        start.elapsed() < Duration::from_secs(60),
        "{:?}",
        start.elapsed()
    );
    assert!(base.archive("821516").is_file() && base.archive("PRESSE").is_file());
    for what in ["début", "succès"] {
        let line = format!("ping de supervision ({what}) non envoyé : pas de réponse en 10 s");
        assert!(out.stderr.contains(&line), "{line}\n{out}");
    }
    assert!(!out.stderr.contains(CHECK), "the URL leaked: {out}");
    let warnings = base.report_json().value["warnings"].to_string();
    assert!(
        warnings.contains("ping de supervision (succès) non envoyé"),
        "{warnings}"
    );
    drop(hanging);

    // Nobody listens there any more: refused at once.
    let out = base.run(&["--user", "COMPT", "--all"]);
    out.code(0);
    assert!(
        out.stderr
            .contains("ping de supervision (début) non envoyé : connexion refusée"),
        "{out}"
    );
    // A service answering 404 (a check deleted): said with its status.
    let gone = PingServer::start(&["--status", "404"]);
    base.set(
        "monitoring",
        "ping_url",
        &format!("\"{}\"", gone.url(&format!("/{CHECK}"))),
    );
    let out = base.run(&["--user", "COMPT", "--all"]);
    out.code(0);
    assert!(
        out.stderr.contains("le service a répondu HTTP 404"),
        "{out}"
    );
}

/// `import`, scheduled on its own, pings too (an empty `maj/`: success).
#[test]
#[ignore = "needs python3 (the ping server)"]
fn import_pings_on_its_own() {
    let server = PingServer::start(&[]);
    let base = pinged_base(&server.url(&format!("/{CHECK}")));
    base.svgauto(&["import", "--base", base.root().to_str().unwrap()])
        .code(0);
    let paths: Vec<String> = server.requests().into_iter().map(|r| r.1).collect();
    assert_eq!(paths, [format!("/{CHECK}/start"), format!("/{CHECK}")]);
}

/// `promtool check metrics` on `file` (Debian's prometheus package):
/// its verdict and what it said.
fn promtool(file: &std::path::Path) -> (bool, String) {
    let out = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(fs::File::open(file).unwrap())
        .output()
        .expect("promtool runs (scripts/test installs Debian's prometheus)");
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), said)
}

/// The value of the sample `name` (labels included, as written).
fn sample(text: &str, name: &str) -> Option<String> {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ').map(str::to_owned))
}

/// After each run the textfile holds the metrics DESIGN §11 names, valid
/// for Prometheus (promtool), rewritten whole (no temporary left); `status
/// --textfile` writes the same from the catalog, for a cron job.
#[test]
#[ignore = "needs promtool (Debian's prometheus; scripts/test installs it)"]
fn the_textfile_holds_the_runs_metrics_and_promtool_takes_it() {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(3, 20_000));
    base.dossier("PRESSE")
        .file("compta/ecritures.dat", text_bytes(4, 20_000));
    base.set("monitoring", "textfile", "\"metrics/svgauto.prom\"");
    fs::create_dir_all(base.root().join("metrics")).unwrap();
    let file = base.root().join("metrics").join("svgauto.prom");

    base.run(&["--user", "COMPT"]).code(0);
    let text = fs::read_to_string(&file).unwrap();
    let (ok, said) = promtool(&file);
    assert!(ok, "promtool: {said}\n{text}");
    assert_eq!(
        sample(&text, "svgauto_last_run_exit_code").as_deref(),
        Some("0"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "svgauto_dossiers{state=\"ok\"}").as_deref(),
        Some("2"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "svgauto_last_run_dossiers{outcome=\"saved\"}").as_deref(),
        Some("2")
    );
    let json = base.report_json().value;
    let finished =
        chrono::DateTime::parse_from_rfc3339(json["finished_at"].as_str().unwrap()).unwrap();
    assert_eq!(
        sample(&text, "svgauto_last_run_timestamp_seconds"),
        Some(finished.timestamp().to_string())
    );
    for name in [
        "svgauto_last_run_duration_seconds",
        "svgauto_last_run_read_bytes",
        "svgauto_last_run_written_bytes",
    ] {
        assert!(sample(&text, name).is_some(), "{name}\n{text}");
    }
    let written: u64 = sample(&text, "svgauto_last_run_written_bytes")
        .unwrap()
        .parse()
        .unwrap();
    let archives = fs::metadata(base.archive("821516")).unwrap().len()
        + fs::metadata(base.archive("PRESSE")).unwrap().len();
    assert_eq!(written, archives);
    assert!(
        sample(
            &text,
            "svgauto_dossier_last_backup_timestamp_seconds{code=\"PRESSE\"}"
        )
        .is_some(),
        "{text}"
    );
    assert!(
        !base
            .root()
            .join("metrics")
            .join("svgauto.prom.tmp")
            .exists()
    );

    // A night with a dossier in error: the file says it.
    let _held = base.hold("PRESSE");
    base.write("PRESSE", "compta/ecritures.dat", text_bytes(5, 21_000));
    base.run(&["--user", "COMPT"]).code(1);
    drop(_held);
    let text = fs::read_to_string(&file).unwrap();
    assert!(promtool(&file).0, "{text}");
    assert_eq!(
        sample(&text, "svgauto_last_run_exit_code").as_deref(),
        Some("1"),
        "{text}"
    );
    assert_eq!(
        sample(&text, "svgauto_dossiers{state=\"error\"}").as_deref(),
        Some("1"),
        "{text}"
    );

    // Between runs, from a cron job.
    let other = base.scratch("cron.prom");
    base.svgauto(&[
        "status",
        "--base",
        base.root().to_str().unwrap(),
        "--textfile",
        other.to_str().unwrap(),
    ]);
    let from_status = fs::read_to_string(&other).unwrap();
    let (ok, said) = promtool(&other);
    assert!(ok, "promtool: {said}\n{from_status}");
    for name in [
        "svgauto_last_run_exit_code",
        "svgauto_last_run_timestamp_seconds",
        "svgauto_dossiers{state=\"error\"}",
        "svgauto_dossier_last_backup_timestamp_seconds{code=\"821516\"}",
    ] {
        assert_eq!(
            sample(&from_status, name),
            sample(&text, name),
            "{name}\n{from_status}"
        );
    }
}

/// A base mailing `expert@cabinet.fr` through `smtp`.
fn mailing_base(smtp: &crate::smtp::Server) -> Base {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(6, 20_000));
    base.dossier("PRESSE")
        .file("compta/ecritures.dat", text_bytes(7, 20_000));
    base.set("report", "recipients", "[\"expert@cabinet.fr\"]");
    base.set("smtp", "email", "\"svgauto@cabinet.fr\"");
    base.set("smtp", "server", "\"127.0.0.1\"");
    base.set("smtp", "port", &smtp.port.to_string());
    base.set("smtp", "delay_s", "0");
    base
}

fn mail_if_attention(base: &Base) -> Out {
    base.svgauto(&[
        "status",
        "--base",
        base.root().to_str().unwrap(),
        "--mail-if-attention",
    ])
}

/// The daily check of `status --mail-if-attention`: silent when all is
/// well; a mail saying what when a dossier failed; and the case the run's
/// own mail can never tell — the run no longer runs.
#[test]
#[ignore = "needs aiosmtpd (the SMTP server)"]
fn mail_if_attention_mails_what_needs_attention_and_only_then() {
    use crate::smtp::{Mode, Server as SmtpServer};
    let smtp = SmtpServer::start(Mode::Plain, None, None);
    let base = mailing_base(&smtp);

    // All well: no mail.
    base.run(&["--user", "COMPT"]).code(0);
    let out = mail_if_attention(&base);
    out.code(0);
    assert!(out.stdout.contains("Rien à signaler"), "{out}");
    assert_eq!(smtp.messages().len(), 0);

    // PRESSE in error at the last run.
    base.write("PRESSE", "compta/ecritures.dat", text_bytes(8, 21_000));
    let held = base.hold("PRESSE");
    base.run(&["--user", "COMPT"]).code(1);
    drop(held);
    let before = smtp.messages().len(); // the run's own mail on error
    let out = mail_if_attention(&base);
    out.code(1);
    let mails = smtp.messages();
    assert_eq!(mails.len(), before + 1, "{out}");
    let m = &mails[before];
    let subject = m.subject.clone().unwrap_or_default();
    assert!(
        subject.starts_with("svgauto : sauvegardes de "),
        "{subject}"
    );
    assert!(subject.contains("le dernier traitement"), "{subject}");
    let body = m.body.clone().unwrap_or_default();
    assert!(
        body.contains("1 dossier(s) en erreur au dernier traitement"),
        "{body}"
    );
    let state = String::from_utf8(m.attachment("svgauto-etat.txt").bytes()).unwrap();
    assert!(state.contains("PRESSE"), "{state}");
    assert!(
        out.stdout
            .contains("Mail d'alerte envoyé à expert@cabinet.fr"),
        "{out}"
    );
}

#[test]
#[ignore = "needs aiosmtpd (the SMTP server)"]
fn mail_if_attention_says_when_the_run_stopped_running() {
    use crate::smtp::{Mode, Server as SmtpServer};
    let smtp = SmtpServer::start(Mode::Plain, None, None);
    let base = mailing_base(&smtp);
    // The last run ended three days ago; nothing since.
    let three_days_ago = (chrono::Local::now() - chrono::Duration::days(3))
        .format("%Y-%m-%dT%H:%M:%S")
        .to_string();
    Out::of(
        base.command(&base.run_args(&["--user", "COMPT"]))
            .env("SVGAUTO_NOW", &three_days_ago),
    )
    .code(0);
    let out = mail_if_attention(&base);
    out.code(1);
    let mails = smtp.messages();
    assert_eq!(mails.len(), 1, "{out}");
    let subject = mails[0].subject.clone().unwrap_or_default();
    assert!(
        subject.contains("aucun traitement terminé depuis le"),
        "{subject}"
    );

    // Without mail settings the check cannot warn: it says so, exit 1.
    let quiet = Base::new().collaborator("COMPT", "*");
    quiet.dossier("X1").file("a.dat", text_bytes(9, 1_000));
    let out = mail_if_attention(&quiet);
    out.code(1);
    assert!(out.stderr.contains("mail d'alerte impossible"), "{out}");
}

/// `status --html`: one self-contained page (no script, no external file)
/// with the verdict first, the dossier in error before the others, a
/// chart bar per run; rendered by headless Chromium (Debian's `chromium`)
/// into a PNG, as a person would open it.
#[test]
#[ignore = "needs chromium (scripts/test installs it)"]
fn the_status_page_is_self_contained_and_chromium_renders_it() {
    let base = Base::new().collaborator("COMPT", "*");
    base.dossier("821516")
        .file("compta/ecritures.dat", text_bytes(10, 20_000));
    base.dossier("PRESSE")
        .file("compta/ecritures.dat", text_bytes(11, 20_000));
    for i in 0..3 {
        base.write(
            "821516",
            "compta/ecritures.dat",
            text_bytes(12 + i, 20_000 + 5_000 * i as usize),
        );
        base.run(&["--user", "COMPT"]).code(0);
    }
    base.write("PRESSE", "compta/ecritures.dat", text_bytes(20, 25_000));
    let held = base.hold("PRESSE");
    base.run(&["--user", "COMPT"]).code(1);
    drop(held);

    let page = base.scratch("etat.html");
    base.svgauto(&[
        "status",
        "--base",
        base.root().to_str().unwrap(),
        "--html",
        page.to_str().unwrap(),
    ])
    .code(1);
    let html = fs::read_to_string(&page).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    let verdict = html
        .find("class=\"verdict bad\"")
        .expect("a verdict in red first");
    assert!(html[verdict..].contains("le dernier traitement"), "{html}");
    for outside in [
        "<script", "src=", "href=", "url(", "@import", "http://", "https://",
    ] {
        assert!(
            !html.contains(outside),
            "the page refers outside itself ({outside})"
        );
    }
    // Four runs: four bars in each of the three charts.
    assert_eq!(html.matches("<figure>").count(), 3, "{html}");
    assert_eq!(html.matches("<rect ").count(), 3 * 4, "{html}");
    // The dossier in error heads the table, marked.
    let table = &html[html.find("<table>").unwrap()..];
    assert!(
        table.find("<tr class=\"att\"><td>PRESSE").unwrap() < table.find("<td>821516").unwrap(),
        "{table}"
    );
    assert!(
        table.contains("<svg class=\"spark\""),
        "no size sparkline: {table}"
    );

    let png = base.scratch("etat.png");
    // Chromium renders what svgauto wrote, whatever the date: it runs
    // without scripts/test's faketime (preloaded), which slows it tenfold.
    let out = Command::new("chromium")
        .env_remove("LD_PRELOAD")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            "--window-size=1100,1200",
            &format!("--screenshot={}", png.display()),
            &format!("file://{}", page.display()),
        ])
        .stdin(Stdio::null())
        .output()
        .expect("chromium runs (scripts/test installs Debian's chromium)");
    let bytes = fs::read(&png).unwrap_or_else(|e| {
        panic!(
            "no screenshot ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    // A PNG of the window's size, not an empty page: the charts and the
    // table make it weigh.
    assert_eq!(&bytes[1..4], b"PNG");
    let (w, h) = (
        u32::from_be_bytes(bytes[16..20].try_into().unwrap()),
        u32::from_be_bytes(bytes[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1100, 1200));
    assert!(
        bytes.len() > 30_000,
        "a nearly blank screenshot: {} bytes",
        bytes.len()
    );
}
