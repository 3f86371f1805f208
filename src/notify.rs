//! The mail on error (DESIGN.md §6 `[smtp]`, `[report]`, §7): after a run
//! with at least one dossier in error, each recipient gets the report and the
//! list of dossiers in error, `smtp.delay_s` seconds apart.
//!
//! lettre's blocking SMTP transport, TLS by rustls (no OpenSSL) with the
//! system's certificate authorities (`SSL_CERT_FILE` / `SSL_CERT_DIR` are
//! honoured). Settings are checked before the run starts, so a night's run
//! never discovers at 3 a.m. that its mail could not have gone. A mail that
//! cannot be sent is reported and changes nothing else: backups, report and
//! exit code stay what the backups made them.

use std::path::Path;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{Message, SmtpTransport, Transport};
use serde::Serialize;
use thiserror::Error;

use crate::config::{self, Effective, Layer};
use crate::exit::{Line, Output};

pub const SUBJECT: &str = "Isacompta: Rapport de la sauvegarde des dossiers modifiés";
pub const BODY: &str = "Des erreurs sont survenues pendant la sauvegarde des dossiers modifiés. Veuillez trouver ci-joint le rapport de traitement ainsi que la liste des dossiers en erreur";
pub const TEST_SUBJECT: &str = "Isacompta: Test de la notification de svgauto";
pub const TEST_BODY: &str = "Ce message de test confirme que svgauto peut envoyer le rapport de la sauvegarde des dossiers modifiés avec ces paramètres.";
/// An unreachable server must not hang a night's run.
const TIMEOUT: Duration = Duration::from_secs(30);

/// Mail settings that cannot work, caught before the run.
#[derive(Debug, Error)]
pub enum MailSettingsError {
    #[error("paramètre {key} : {what}")]
    Bad { key: &'static str, what: String },
}

fn bad(key: &'static str, what: impl Into<String>) -> MailSettingsError {
    MailSettingsError::Bad {
        key,
        what: what.into(),
    }
}

/// What became of the mail to one recipient (for the JSON report).
#[derive(Debug, Clone, Serialize)]
pub struct Sent {
    pub to: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A ready-to-send mailer, built from checked settings.
pub struct Mailer {
    transport: SmtpTransport,
    from: Mailbox,
    to: Vec<Mailbox>,
    delay: Duration,
    /// `server:port (tls)`, for messages.
    pub server: String,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// The mailer the settings describe, `None` if no recipient is set, or
    /// the first thing that cannot work.
    pub fn from_settings(e: &Effective) -> Result<Option<Mailer>, MailSettingsError> {
        let s = &e.settings;
        if s.report.recipients.is_empty() {
            return Ok(None);
        }
        let smtp = &s.smtp;
        if smtp.server.trim().is_empty() {
            return Err(bad(
                "smtp.server",
                "vide, alors que report.recipients demande l'envoi du rapport par mail",
            ));
        }
        let address = smtp.email.parse().map_err(|err| {
            bad(
                "smtp.email",
                format!("adresse d'expéditeur invalide « {} » ({err})", smtp.email),
            )
        })?;
        let name = (!smtp.name.is_empty()).then(|| smtp.name.clone());
        let from = Mailbox::new(name, address);
        let to = s
            .report
            .recipients
            .iter()
            .map(|r| {
                r.parse::<Mailbox>().map_err(|err| {
                    bad(
                        "report.recipients",
                        format!("adresse invalide « {r} » ({err})"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let credentials = if smtp.username.is_empty() {
            None
        } else {
            if smtp.password_env.is_empty() {
                return Err(bad(
                    "smtp.password_env",
                    "vide alors que smtp.username est renseigné : nommer la variable d'environnement qui contient le mot de passe",
                ));
            }
            let password = std::env::var(&smtp.password_env).map_err(|_| {
                bad(
                    "smtp.password_env",
                    format!(
                        "la variable d'environnement {} n'est pas définie",
                        smtp.password_env
                    ),
                )
            })?;
            Some(Credentials::new(smtp.username.clone(), password))
        };
        // The contract's default port is 25; with TLS the usual ports apply
        // unless a port was set explicitly.
        let port_is_default = e
            .sources
            .iter()
            .any(|(k, _, layer)| k == "smtp.port" && *layer == Layer::Default);
        let port = match (smtp.tls, port_is_default) {
            (config::Tls::Starttls, true) => 587,
            (config::Tls::Tls, true) => 465,
            _ => smtp.port,
        };
        let tls = |required: bool| {
            TlsParameters::new(smtp.server.clone())
                .map(|p| {
                    if required {
                        Tls::Required(p)
                    } else {
                        Tls::Wrapper(p)
                    }
                })
                .map_err(|err| bad("smtp.tls", format!("configuration TLS impossible : {err}")))
        };
        let tls = match smtp.tls {
            config::Tls::None => Tls::None,
            config::Tls::Starttls => tls(true)?,
            config::Tls::Tls => tls(false)?,
        };
        let mut builder = SmtpTransport::builder_dangerous(smtp.server.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(TIMEOUT));
        if let Some(c) = credentials {
            builder = builder.credentials(c);
        }
        let tls_name = match smtp.tls {
            config::Tls::None => "sans chiffrement",
            config::Tls::Starttls => "STARTTLS",
            config::Tls::Tls => "TLS",
        };
        Ok(Some(Mailer {
            transport: builder.build(),
            from,
            to,
            delay: Duration::from_secs(smtp.delay_s),
            server: format!("{}:{port} ({tls_name})", smtp.server),
        }))
    }

    /// Sends the run's report and error list to every recipient.
    pub fn send_report(&self, report: &Path, error_list: &Path) -> Vec<Sent> {
        let attachments = [report, error_list].map(|p| {
            let name = p
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            (name, std::fs::read(p))
        });
        self.send_each(|to| {
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(BODY.to_owned()));
            for (name, content) in &attachments {
                let content = content
                    .as_ref()
                    .map_err(|e| format!("pièce jointe {name} illisible : {e}"))?;
                parts = parts.singlepart(Attachment::new(name.clone()).body(
                    content.clone(),
                    ContentType::parse("text/plain; charset=utf-8").expect("valid"),
                ));
            }
            self.message(to, SUBJECT)
                .multipart(parts)
                .map_err(|e| e.to_string())
        })
    }

    /// `status --mail-if-attention`: `subject` and `body` to every
    /// recipient, with `attachments` (file name, text, its MIME type) —
    /// the status that needs attention.
    pub fn send_attention(
        &self,
        subject: &str,
        body: &str,
        attachments: &[(String, String, &str)],
    ) -> Vec<Sent> {
        self.send_each(|to| {
            let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(body.to_owned()));
            for (name, content, mime) in attachments {
                let mime = ContentType::parse(mime).map_err(|e| e.to_string())?;
                parts = parts.singlepart(
                    Attachment::new(name.clone()).body(content.clone().into_bytes(), mime),
                );
            }
            self.message(to, subject)
                .multipart(parts)
                .map_err(|e| e.to_string())
        })
    }

    /// `svgauto mail-test`: a short message to every recipient.
    pub fn send_test(&self) -> Vec<Sent> {
        self.send_each(|to| {
            self.message(to, TEST_SUBJECT)
                .singlepart(SinglePart::plain(TEST_BODY.to_owned()))
                .map_err(|e| e.to_string())
        })
    }

    fn message(&self, to: &Mailbox, subject: &str) -> lettre::message::MessageBuilder {
        Message::builder()
            .message_id(None)
            .from(self.from.clone())
            .to(to.clone())
            .subject(subject)
    }

    fn send_each(&self, build: impl Fn(&Mailbox) -> Result<Message, String>) -> Vec<Sent> {
        let mut out = Vec::with_capacity(self.to.len());
        for (i, to) in self.to.iter().enumerate() {
            if i > 0 {
                std::thread::sleep(self.delay);
            }
            let error =
                build(to).and_then(|m| self.transport.send(&m).map(drop).map_err(|e| describe(&e)));
            out.push(Sent {
                to: to.to_string(),
                error: error
                    .err()
                    .map(|e| format!("envoi par {} impossible : {e}", self.server)),
            });
        }
        out
    }
}

/// `svgauto mail-test`: a test message to every recipient, with the
/// effective settings; says clearly whether each one went.
pub fn mail_test(e: &Effective) -> Result<Output, MailSettingsError> {
    let mailer = Mailer::from_settings(e)?.ok_or_else(|| {
        bad(
            "report.recipients",
            "vide : aucun destinataire à qui envoyer le rapport (ni le message de test)",
        )
    })?;
    let lines = mailer
        .send_test()
        .into_iter()
        .map(|s| match s.error {
            None => Line::Stdout(format!(
                "Message de test envoyé à {} par {}",
                s.to, mailer.server
            )),
            Some(e) => Line::Stderr(format!("message de test à {} non envoyé : {e}", s.to)),
        })
        .collect();
    Ok(Output::from_lines(lines))
}

/// An SMTP error (lettre's message already includes its cause), with a
/// hint for the usual ones.
fn describe(e: &lettre::transport::smtp::Error) -> String {
    let s = e.to_string();
    let hint = if e.status().is_some_and(|c| c.to_string().starts_with("535")) {
        " (authentification refusée : vérifier smtp.username et le mot de passe)"
    } else if e.is_timeout() {
        " (le serveur ne répond pas)"
    } else if e.is_tls() || s.contains("certificate") {
        // rustls shakes hands lazily: an unknown CA surfaces as a network
        // error whose text names the certificate.
        " (échec TLS : certificat du serveur non reconnu, ou serveur sans TLS)"
    } else {
        ""
    };
    format!("{s}{hint}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn effective(text: &str) -> Effective {
        let layer = config::LayerTable::new(
            Layer::Base(PathBuf::from("base.toml")),
            Path::new("base.toml"),
            text.parse().unwrap(),
            &[],
        )
        .unwrap();
        config::merge(&[layer]).unwrap()
    }

    fn err(text: &str) -> String {
        Mailer::from_settings(&effective(text))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn no_recipient_no_mailer() {
        assert!(Mailer::from_settings(&effective("")).unwrap().is_none());
    }

    #[test]
    fn settings_that_cannot_work_are_named() {
        assert!(err("[report]\nrecipients = [\"a@b.fr\"]").contains("smtp.server"));
        assert!(err("[report]\nrecipients = [\"a@b.fr\"]\n[smtp]\nserver = \"s\"\nemail = \"pas une adresse\"").contains("smtp.email"));
        assert!(
            err("[report]\nrecipients = [\"a@\"]\n[smtp]\nserver = \"s\"\nemail = \"x@y.fr\"")
                .contains("report.recipients")
        );
        let e = err(
            "[report]\nrecipients = [\"a@b.fr\"]\n[smtp]\nserver = \"s\"\nemail = \"x@y.fr\"\nusername = \"u\"\npassword_env = \"SVGAUTO_TEST_UNSET_VAR\"",
        );
        assert!(
            e.contains("smtp.password_env") && e.contains("SVGAUTO_TEST_UNSET_VAR"),
            "{e}"
        );
    }

    #[test]
    fn tls_picks_its_usual_port_unless_set() {
        let base = "[report]\nrecipients = [\"a@b.fr\"]\n[smtp]\nserver = \"mail.example\"\nemail = \"x@y.fr\"\n";
        let m = Mailer::from_settings(&effective(&format!("{base}tls = \"starttls\"")))
            .unwrap()
            .unwrap();
        assert_eq!(m.server, "mail.example:587 (STARTTLS)");
        let m = Mailer::from_settings(&effective(&format!("{base}tls = \"tls\"\nport = 2465")))
            .unwrap()
            .unwrap();
        assert_eq!(m.server, "mail.example:2465 (TLS)");
        let m = Mailer::from_settings(&effective(base)).unwrap().unwrap();
        assert_eq!(m.server, "mail.example:25 (sans chiffrement)");
    }
}
