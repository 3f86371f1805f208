//! The mail on error (DESIGN.md §6 `[smtp]` `[report]`, §7) and
//! `svgauto mail-test`, against a real SMTP server on 127.0.0.1
//! (`smtp.rs`): what each recipient receives, when, over which channel, and
//! what a mail that cannot go changes (nothing but a message and the JSON
//! report's `mail` entries).
//!
//! A run here has two dossiers: `A`, saved, and `OCCUPE`, held by another
//! process so that it fails.

use std::fs;

use crate::harness::*;
use crate::smtp::{Certs, Mode, Received, Server, unused_port};

const SUBJECT: &str = "Isacompta: Rapport de la sauvegarde des dossiers modifiés";
const BODY: &str = "Des erreurs sont survenues pendant la sauvegarde des dossiers modifiés. Veuillez trouver ci-joint le rapport de traitement ainsi que la liste des dossiers en erreur";
const TEST_SUBJECT: &str = "Isacompta: Test de la notification de svgauto";
const ERRORS_ISA: &str = "Svgauto-DossiersEnErreur.isa";
const SENDER_NAME: &str = "Cabinet Exemple";
const SENDER: &str = "svgauto@cabinet.fr";
const TO_1: &str = "expert@cabinet.fr";
const TO_2: &str = "assistante@cabinet.fr";
const PASSWORD_ENV: &str = "SVGAUTO_TEST_SMTP_PASSWORD";
const NOW: &str = "2026-11-28T21:00:00";

/// A base of two dossiers (`A`, `OCCUPE`) whose report goes to
/// `recipients` through 127.0.0.1:`port`, in clear, without delay.
fn mail_base(port: u16, recipients: &[&str]) -> Base {
    let list: Vec<String> = recipients.iter().map(|r| format!("\"{r}\"")).collect();
    let base = Base::new()
        .collaborator("COMPT", "*")
        .setting("report", "recipients", &format!("[{}]", list.join(", ")))
        .setting("smtp", "name", &format!("\"{SENDER_NAME}\""))
        .setting("smtp", "email", &format!("\"{SENDER}\""))
        .setting("smtp", "server", "\"127.0.0.1\"")
        .setting("smtp", "port", &port.to_string())
        .setting("smtp", "delay_s", "0");
    base.dossier("A")
        .file("compta/ecritures.dat", text_bytes(7, 20_000));
    base.dossier("OCCUPE")
        .file("compta/ecritures.dat", text_bytes(8, 10_000));
    base
}

/// A command of svgauto with none of the variables these tests set
/// inherited from the environment, then `env` set.
fn command(base: &Base, args: &[&str], env: &[(&str, &str)]) -> assert_cmd::Command {
    let mut c = base.command(args);
    c.env_remove("SSL_CERT_FILE")
        .env_remove("SSL_CERT_DIR")
        .env_remove(PASSWORD_ENV);
    for (k, v) in env {
        c.env(k, v);
    }
    c
}

/// `svgauto run --user COMPT --threads 1` with `OCCUPE` held: exit 1.
fn run_with_error(base: &Base, env: &[(&str, &str)]) -> Out {
    let _held = base.hold("OCCUPE");
    Out::of(&mut command(
        base,
        &base.run_args(&["--user", "COMPT", "--threads", "1"]),
        env,
    ))
}

/// `svgauto mail-test --base <base>`.
fn mail_test(base: &Base, env: &[(&str, &str)]) -> Out {
    Out::of(&mut command(
        base,
        &["mail-test", "--base", base.root().to_str().unwrap()],
        env,
    ))
}

/// The backups and the report are what the dossiers made them, whatever
/// became of the mail: `A` saved, `OCCUPE` in error, exit code 1.
#[track_caller]
fn assert_run_intact(base: &Base, out: &Out) {
    out.code(1);
    assert_eq!(base.archived(), set(&["A"]), "archives in sauve/\n{out}");
    let report = base.report();
    report.assert_lines_unordered(&[saved_line("A"), in_use_line("OCCUPE")]);
    report.assert_summary(1, 1, 2);
    assert_eq!(base.errors_isa(), ["OCCUPE"], "{ERRORS_ISA}");
    let json = base.report_json();
    json.assert_outcomes(&[("A", "saved"), ("OCCUPE", "error")]);
    json.assert_summary(1, 1, 2);
    assert_eq!(
        json.value["exit_code"],
        1,
        "{}: exit_code\n{:#}",
        json.path.display(),
        json.value
    );
}

/// The JSON report's `mail` entries: (to, error).
fn mail_entries(base: &Base) -> Vec<(String, Option<String>)> {
    let json = base.report_json();
    json.value["mail"]
        .as_array()
        .unwrap_or_else(|| panic!("{}: no `mail` array\n{:#}", json.path.display(), json.value))
        .iter()
        .map(|m| {
            (
                m["to"].as_str().unwrap_or_default().to_owned(),
                m.get("error").map(|e| {
                    e.as_str()
                        .unwrap_or_else(|| panic!("`error` is not a string: {m}"))
                        .to_owned()
                }),
            )
        })
        .collect()
}

/// Asserts the JSON report says every recipient got its mail.
#[track_caller]
fn assert_mail_sent(base: &Base, recipients: &[&str]) {
    let got = mail_entries(base);
    let want: Vec<(String, Option<String>)> =
        recipients.iter().map(|r| ((*r).to_owned(), None)).collect();
    assert_eq!(got, want, "JSON report `mail` entries");
}

/// Asserts the run's stderr has one `mail … non envoyé` line per recipient,
/// each containing `why`, and that the JSON report carries the same errors.
#[track_caller]
fn assert_mail_failed(base: &Base, out: &Out, recipients: &[&str], why: &str) {
    for to in recipients {
        let prefix = format!("svgauto : mail au destinataire {to} non envoyé : ");
        let line = out
            .stderr
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("stderr should have a line `{prefix}…`\n{out}"));
        assert!(
            line.contains(why),
            "the failure should say {why:?}: {line}\n{out}"
        );
    }
    let got = mail_entries(base);
    assert_eq!(
        got.iter().map(|(to, _)| to.as_str()).collect::<Vec<_>>(),
        recipients,
        "JSON report `mail` recipients"
    );
    for (to, error) in &got {
        let error = error
            .as_deref()
            .unwrap_or_else(|| panic!("JSON `mail` entry of {to} has no `error`: {got:?}"));
        assert!(
            error.contains(why),
            "JSON `mail` error of {to} should say {why:?}: {error}"
        );
    }
}

/// The message of the error mail for `to`: subject, body, sender and
/// recipient exactly as the contract says.
#[track_caller]
fn assert_error_mail(m: &Received, to: &str) {
    let show = m.eml.display();
    assert_eq!(m.subject.as_deref(), Some(SUBJECT), "subject of {show}");
    assert_eq!(m.body.as_deref(), Some(BODY), "body of {show}");
    assert_eq!(
        m.body_content_type.as_deref(),
        Some("text/plain"),
        "body of {show}"
    );
    assert_eq!(
        m.from,
        [crate::smtp::Addr {
            name: SENDER_NAME.into(),
            addr: SENDER.into()
        }],
        "From of {show}"
    );
    assert_eq!(m.mail_from, SENDER, "envelope sender of {show}");
    assert_eq!(m.rcpt_tos, [to], "envelope recipients of {show}");
    assert_eq!(
        m.to.iter().map(|a| a.addr.as_str()).collect::<Vec<_>>(),
        [to],
        "To of {show}"
    );
}

/// The message as a person reads it, for the snapshot.
fn render(m: &Received) -> String {
    let mut s = format!(
        "From: {}\nTo: {}\nSubject: {}\nContent-Type: {}\n",
        m.raw_from.as_deref().unwrap_or("(none)"),
        m.to.iter()
            .map(|a| a.addr.as_str())
            .collect::<Vec<_>>()
            .join(", "),
        m.subject.as_deref().unwrap_or("(none)"),
        m.content_type,
    );
    s.push_str(&format!(
        "--- body ({}; charset={})\n{}\n",
        m.body_content_type.as_deref().unwrap_or("?"),
        m.body_charset.as_deref().unwrap_or("?"),
        m.body.as_deref().unwrap_or("(none)")
    ));
    for a in &m.attachments {
        s.push_str(&format!(
            "--- {} {} ({}; charset={})\n{}",
            a.disposition.as_deref().unwrap_or("?"),
            a.filename.as_deref().unwrap_or("(no name)"),
            a.content_type,
            a.charset.as_deref().unwrap_or("?"),
            String::from_utf8_lossy(&a.bytes()).replace('\r', "\\r")
        ));
    }
    s
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn error_mail_goes_to_each_recipient_with_report_and_error_list() {
    let server = Server::start(Mode::Plain, None, None);
    let base = mail_base(server.port, &[TO_1, TO_2]);
    let out = run_with_error(&base, &[("SVGAUTO_NOW", NOW)]);
    assert_run_intact(&base, &out);
    assert!(
        !out.stderr.contains("non envoyé"),
        "no mail failure expected\n{out}"
    );

    let msgs = server.messages();
    assert_eq!(
        msgs.len(),
        2,
        "one message per recipient, got {msgs:#?}\n{out}"
    );
    let report = base.report();
    let report_name = report.path.file_name().unwrap().to_str().unwrap();
    let report_bytes = fs::read(&report.path).unwrap();
    let isa_bytes = fs::read(base.log_dir().join(ERRORS_ISA)).unwrap();
    for (m, to) in msgs.iter().zip([TO_1, TO_2]) {
        assert_error_mail(m, to);
        assert_eq!(m.tls, None, "a plain server");
        assert_eq!(
            m.attachments.len(),
            2,
            "two attachments: {:?}",
            m.attachments
        );
        let r = m.attachment(report_name);
        assert_eq!(r.content_type, "text/plain");
        assert_eq!(r.charset.as_deref(), Some("utf-8"));
        assert!(
            r.bytes() == report_bytes,
            "the report attachment differs from {}:\n--- attached ---\n{}\n--- on disk ---\n{}",
            report.path.display(),
            String::from_utf8_lossy(&r.bytes()),
            report.text
        );
        let isa = m.attachment(ERRORS_ISA);
        assert!(
            isa.bytes() == isa_bytes,
            "the {ERRORS_ISA} attachment differs from the file on disk: {:?} vs {:?}",
            String::from_utf8_lossy(&isa.bytes()),
            String::from_utf8_lossy(&isa_bytes)
        );
        let codes: Vec<String> = String::from_utf8(isa.bytes())
            .unwrap()
            .lines()
            .map(|l| l.trim().to_owned())
            .filter(|l| !l.is_empty())
            .collect();
        assert_eq!(codes, ["OCCUPE"], "codes of the attached {ERRORS_ISA}");
    }
    assert_mail_sent(&base, &[TO_1, TO_2]);
    insta::assert_snapshot!("error_mail", render(&msgs[0]));
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn no_mail_when_every_dossier_is_saved() {
    let server = Server::start(Mode::Plain, None, None);
    let base = mail_base(server.port, &[TO_1, TO_2]);
    let out = Out::of(&mut command(
        &base,
        &base.run_args(&["--user", "COMPT"]),
        &[],
    ));
    out.code(0);
    assert_eq!(base.archived(), set(&["A", "OCCUPE"]));
    let msgs = server.messages();
    assert!(msgs.is_empty(), "no mail expected, got {msgs:#?}");
    let json = base.report_json();
    assert!(
        json.value.get("mail").is_none_or(|m| m.is_null()),
        "{}: no `mail` entry expected when no mail was due\n{:#}",
        json.path.display(),
        json.value
    );
}

/// `delay_s` apart: measured by the server, on arrival. A behaviour check
/// (the pause happens), not a benchmark.
#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn recipients_are_mailed_delay_s_apart() {
    let server = Server::start(Mode::Plain, None, None);
    let base = mail_base(server.port, &[TO_1, TO_2]);
    base.set("smtp", "delay_s", "1");
    let out = run_with_error(&base, &[]);
    assert_run_intact(&base, &out);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 2, "{msgs:#?}\n{out}");
    assert_eq!(msgs[0].rcpt_tos, [TO_1]);
    assert_eq!(msgs[1].rcpt_tos, [TO_2]);
    let gap = msgs[1].arrived - msgs[0].arrived;
    assert!(
        gap >= 0.9,
        "with delay_s = 1 the second message came {gap:.3} s after the first"
    );
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn starttls_with_a_trusted_test_ca() {
    let certs = Certs::make();
    let server = Server::start(Mode::Starttls, Some(&certs), None);
    let base = mail_base(server.port, &[TO_1]);
    base.set("smtp", "tls", "\"starttls\"");
    let out = run_with_error(&base, &[("SSL_CERT_FILE", certs.ca.to_str().unwrap())]);
    assert_run_intact(&base, &out);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "{msgs:#?}\n{out}\n{}", server.log());
    assert_error_mail(&msgs[0], TO_1);
    assert!(msgs[0].tls.is_some(), "the session should be encrypted");
    assert_mail_sent(&base, &[TO_1]);
}

/// The server's certificate is signed by a CA svgauto does not know: the
/// mail does not go, the message says why, nothing else changes.
#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn starttls_with_an_unknown_ca_fails_clearly() {
    let certs = Certs::make();
    let server = Server::start(Mode::Starttls, Some(&certs), None);
    let base = mail_base(server.port, &[TO_1]);
    base.set("smtp", "tls", "\"starttls\"");
    let out = run_with_error(&base, &[]);
    assert_run_intact(&base, &out);
    assert!(server.messages().is_empty());
    // "certificat" / "certificate": the message says what is wrong.
    assert_mail_failed(&base, &out, &[TO_1], "certificat");
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn implicit_tls_with_a_trusted_test_ca() {
    let certs = Certs::make();
    let server = Server::start(Mode::Tls, Some(&certs), None);
    let base = mail_base(server.port, &[TO_1]);
    base.set("smtp", "tls", "\"tls\"");
    let out = run_with_error(&base, &[("SSL_CERT_FILE", certs.ca.to_str().unwrap())]);
    assert_run_intact(&base, &out);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "{msgs:#?}\n{out}\n{}", server.log());
    assert_error_mail(&msgs[0], TO_1);
    assert!(msgs[0].tls.is_some(), "the session should be encrypted");
    assert_mail_sent(&base, &[TO_1]);
}

/// A server over STARTTLS that requires AUTH as `compta`, and a base that
/// authenticates as `compta` with the password in [`PASSWORD_ENV`].
fn auth_setup() -> (Certs, Server, Base) {
    let certs = Certs::make();
    let server = Server::start(
        Mode::Starttls,
        Some(&certs),
        Some(("compta", "le-bon-mot-de-passe")),
    );
    let base = auth_base(server.port);
    (certs, server, base)
}

fn auth_base(port: u16) -> Base {
    let base = mail_base(port, &[TO_1]);
    base.set("smtp", "tls", "\"starttls\"");
    base.set("smtp", "username", "\"compta\"");
    base.set("smtp", "password_env", &format!("\"{PASSWORD_ENV}\""));
    base
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn auth_accepted() {
    let (certs, server, base) = auth_setup();
    let out = run_with_error(
        &base,
        &[
            ("SSL_CERT_FILE", certs.ca.to_str().unwrap()),
            (PASSWORD_ENV, "le-bon-mot-de-passe"),
        ],
    );
    assert_run_intact(&base, &out);
    let msgs = server.messages();
    assert_eq!(msgs.len(), 1, "{msgs:#?}\n{out}\n{}", server.log());
    assert_error_mail(&msgs[0], TO_1);
    assert!(msgs[0].authenticated, "the session should be authenticated");
    assert_eq!(msgs[0].login.as_deref(), Some("compta"));
    assert_mail_sent(&base, &[TO_1]);
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn auth_refused_is_named_and_changes_nothing_else() {
    let (certs, server, base) = auth_setup();
    let wrong = "pas-le-bon-mot-de-passe";
    let out = run_with_error(
        &base,
        &[
            ("SSL_CERT_FILE", certs.ca.to_str().unwrap()),
            (PASSWORD_ENV, wrong),
        ],
    );
    assert_run_intact(&base, &out);
    assert!(server.messages().is_empty());
    assert_mail_failed(&base, &out, &[TO_1], "authentification refusée");
    // A password is never shown nor written to a report (DESIGN.md §6).
    let json = fs::read_to_string(&base.report_json().path).unwrap();
    for (what, text) in [
        ("stdout", &out.stdout),
        ("stderr", &out.stderr),
        ("the text report", &base.report().text),
        ("the JSON report", &json),
    ] {
        assert!(!text.contains(wrong), "{what} shows the password:\n{text}");
    }
}

#[test]
fn server_down_is_reported_per_recipient() {
    let port = unused_port();
    let base = mail_base(port, &[TO_1, TO_2]);
    let out = run_with_error(&base, &[]);
    assert_run_intact(&base, &out);
    assert_mail_failed(&base, &out, &[TO_1, TO_2], &format!("127.0.0.1:{port}"));
}

/// Mail settings that cannot work stop the run before it starts: exit 2,
/// the key named, no archive and no report written.
#[test]
fn mail_settings_errors_stop_before_the_run() {
    let unset = "SVGAUTO_TEST_UNSET_PASSWORD";
    /// `[section] key = value`
    type Setting<'a> = (&'a str, &'a str, &'a str);
    let cases: [(&str, &[Setting], &[&str]); 5] = [
        (
            "recipients without server",
            &[("smtp", "server", "\"\"")],
            &["smtp.server"],
        ),
        (
            "bad sender address",
            &[("smtp", "email", "\"pas une adresse\"")],
            &["smtp.email"],
        ),
        (
            "empty sender address",
            &[("smtp", "email", "\"\"")],
            &["smtp.email"],
        ),
        (
            "bad recipient address",
            &[(
                "report",
                "recipients",
                "[\"expert@cabinet.fr\", \"assistante@\"]",
            )],
            &["report.recipients", "assistante@"],
        ),
        (
            "password variable not set",
            &[
                ("smtp", "username", "\"compta\""),
                ("smtp", "password_env", &format!("\"{unset}\"")),
            ],
            &["smtp.password_env", unset],
        ),
    ];
    let tmp_of = |base: &Base| {
        base.top()
            .to_str()
            .unwrap()
            .trim_end_matches('/')
            .to_owned()
    };
    let mut shown = String::new();
    for (title, settings, needles) in cases {
        let base = mail_base(unused_port(), &[TO_1]);
        for (section, key, value) in settings {
            base.set(section, key, value);
        }
        let mut cmd = command(&base, &base.run_args(&["--user", "COMPT"]), &[]);
        let out = Out::of(cmd.env_remove(unset));
        assert!(out.code == Some(2), "{title}: expected exit code 2\n{out}");
        for n in needles {
            assert!(
                out.stderr.contains(n),
                "{title}: stderr should name {n:?}\n{out}"
            );
        }
        assert!(
            base.archived().is_empty(),
            "{title}: the run must not start, yet sauve/ holds {:?}",
            list_dir(&base.sauve())
        );
        assert!(
            base.reports().is_empty(),
            "{title}: the run must not start, yet sauve/log/ holds {:?}",
            list_dir(&base.log_dir())
        );
        shown.push_str(&format!(
            "--- {title}\n{}",
            out.stderr.replace(&tmp_of(&base), "[TMP]")
        ));
    }
    insta::assert_snapshot!("mail_settings_errors", shown);
}

#[test]
#[ignore = "needs aiosmtpd: scripts/test"]
fn mail_test_sends_a_test_message() {
    let server = Server::start(Mode::Plain, None, None);
    let base = mail_base(server.port, &[TO_1, TO_2]);
    let out = mail_test(&base, &[]);
    out.code(0);
    let want: Vec<String> = [TO_1, TO_2]
        .iter()
        .map(|to| {
            format!(
                "Message de test envoyé à {to} par 127.0.0.1:{} (sans chiffrement)",
                server.port
            )
        })
        .collect();
    assert_eq!(out.stdout_lines(), want, "stdout\n{out}");
    let msgs = server.messages();
    assert_eq!(msgs.len(), 2, "{msgs:#?}\n{out}");
    for (m, to) in msgs.iter().zip([TO_1, TO_2]) {
        assert_eq!(m.subject.as_deref(), Some(TEST_SUBJECT));
        assert_eq!(m.rcpt_tos, [to]);
        assert_eq!(m.mail_from, SENDER);
        assert!(m.attachments.is_empty(), "{:?}", m.attachments);
    }
    // No run: nothing written in the base.
    assert!(!base.sauve().exists(), "mail-test wrote {:?}", base.sauve());
}

#[test]
fn mail_test_with_server_down_exits_1() {
    let port = unused_port();
    let base = mail_base(port, &[TO_1]);
    let out = mail_test(&base, &[]);
    out.code(1);
    out.stderr_has(&[&format!("svgauto : message de test à {TO_1} non envoyé : ")]);
    assert!(
        out.stderr.contains(&format!("127.0.0.1:{port}")),
        "the failure should name the server\n{out}"
    );
}

#[test]
fn mail_test_without_recipients_exits_2() {
    let base = mail_base(unused_port(), &[]);
    let out = mail_test(&base, &[]);
    out.code(2).stderr_has(&["report.recipients"]);
}

/// With `tls` set and no `port` in the settings, the usual port of the mode
/// (587 for STARTTLS, 465 for TLS); an explicit port is kept. Seen in what
/// `mail-test` says (sent or not: nothing is expected to listen there).
#[test]
fn tls_modes_use_their_usual_port_unless_set() {
    for (tls, port, want) in [
        ("starttls", None, "127.0.0.1:587 (STARTTLS)"),
        ("tls", None, "127.0.0.1:465 (TLS)"),
        ("tls", Some(2465), "127.0.0.1:2465 (TLS)"),
    ] {
        let base = Base::new()
            .setting("report", "recipients", "[\"personne@example.invalid\"]")
            .setting("smtp", "email", &format!("\"{SENDER}\""))
            .setting("smtp", "server", "\"127.0.0.1\"")
            .setting("smtp", "tls", &format!("\"{tls}\""));
        if let Some(p) = port {
            base.set("smtp", "port", &p.to_string());
        }
        let out = mail_test(&base, &[]);
        assert!(
            matches!(out.code, Some(0 | 1)),
            "tls = {tls}, port = {port:?}: expected exit code 0 or 1\n{out}"
        );
        assert!(
            out.stdout.contains(want) || out.stderr.contains(want),
            "tls = {tls}, port = {port:?}: should go through {want}\n{out}"
        );
    }
}
