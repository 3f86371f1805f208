//! The firm's monitoring (DESIGN §11): here the pings of
//! `[monitoring] ping_url`, a dead man's switch that knows when a night did
//! not run at all; in [`textfile`] the Prometheus metrics file of
//! `[monitoring] textfile`.
//!
//! The conventions are healthchecks.io's (<https://healthchecks.io/docs/http_api/>):
//! `<url>/start` when a run starts, `<url>` when it succeeds, `<url>/fail`
//! when it ends with exit 1 or 2, each a POST whose body is the report's
//! summary. A URL whose query has `status=` is an Uptime Kuma push monitor
//! (<https://github.com/louislam/uptime-kuma/wiki>): its own parameters are
//! set instead, `status=up` or `status=down` and `msg=` the summary's first
//! line, and nothing is sent at the start (Kuma has no start signal).
//!
//! A ping never takes more than [`TIMEOUT`] and never changes a command's
//! outcome: its failure is a warning, in French, said by the caller on
//! stderr and in the JSON report. The URL is never in a message: the
//! token in it is what lets anybody ping the check.

pub mod textfile;

use std::time::Duration;

use crate::config;

/// The longest a ping may take, connection included (DESIGN §11).
pub const TIMEOUT: Duration = Duration::from_secs(10);

/// The most of a body sent (healthchecks.io keeps the first 100 kB).
const MAX_BODY: usize = 10_000;

/// What a ping says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The command starts.
    Start,
    /// It ended with exit 0.
    Success,
    /// It ended with exit 1 or 2.
    Fail,
}

impl Signal {
    /// The signal for an exit code.
    pub fn of_exit(code: i32) -> Signal {
        if code == 0 {
            Signal::Success
        } else {
            Signal::Fail
        }
    }

    fn word(self) -> &'static str {
        match self {
            Signal::Start => "début",
            Signal::Success => "succès",
            Signal::Fail => "échec",
        }
    }
}

/// Which convention the URL follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Healthchecks,
    UptimeKuma,
}

/// Sends the pings of one command.
#[derive(Debug)]
pub struct Pinger {
    url: url::Url,
    style: Style,
    agent: ureq::Agent,
    /// Whether the end (success or failure) was sent: a command says it
    /// once.
    ended: std::sync::atomic::AtomicBool,
}

/// The pinger of `settings`, `None` when `ping_url` is empty. Errors: a URL
/// that cannot be used, as a warning (the command goes on without pings).
pub fn pinger(settings: &config::Monitoring) -> Result<Option<Pinger>, String> {
    let text = settings.ping_url.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let url: url::Url = text.parse().map_err(|e| {
        format!("monitoring.ping_url n'est pas une adresse ({e}) : aucun ping envoyé")
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(
            "monitoring.ping_url ne commence pas par https:// ni http:// : aucun ping envoyé"
                .into(),
        );
    }
    let style = if url.query_pairs().any(|(k, _)| k == "status") {
        Style::UptimeKuma
    } else {
        Style::Healthchecks
    };
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(TIMEOUT))
        .user_agent(concat!("svgauto/", env!("CARGO_PKG_VERSION")))
        .build()
        .into();
    Ok(Some(Pinger {
        url,
        style,
        agent,
        ended: Default::default(),
    }))
}

impl Pinger {
    /// The URL of `signal`, and whether it is sent at all.
    fn url_of(&self, signal: Signal, body: &str) -> Option<url::Url> {
        let mut url = self.url.clone();
        match self.style {
            Style::Healthchecks => {
                let suffix = match signal {
                    Signal::Start => "/start",
                    Signal::Success => "",
                    Signal::Fail => "/fail",
                };
                let path = format!("{}{suffix}", url.path().trim_end_matches('/'));
                url.set_path(&path);
            }
            Style::UptimeKuma => {
                let status = match signal {
                    Signal::Start => return None,
                    Signal::Success => "up",
                    Signal::Fail => "down",
                };
                let msg: String = body
                    .lines()
                    .next()
                    .unwrap_or("")
                    .chars()
                    .take(200)
                    .collect();
                let kept: Vec<(String, String)> = url
                    .query_pairs()
                    .filter(|(k, _)| k != "status" && k != "msg")
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect();
                url.query_pairs_mut()
                    .clear()
                    .extend_pairs(kept)
                    .append_pair("status", status)
                    .append_pair("msg", &msg);
            }
        }
        Some(url)
    }

    /// Sends `signal` with `body` (the summary); the end (success or
    /// failure) only once, whoever sends it first. Errors: the French
    /// warning, without the URL.
    pub fn send(&self, signal: Signal, body: &str) -> Result<(), String> {
        use std::sync::atomic::Ordering;
        if signal != Signal::Start && self.ended.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        let Some(url) = self.url_of(signal, body) else {
            return Ok(());
        };
        let cut: String = body.chars().take(MAX_BODY).collect();
        let answer = match self.style {
            Style::Healthchecks => self.agent.post(url.as_str()).send(cut.as_bytes()),
            Style::UptimeKuma => self.agent.get(url.as_str()).call(),
        };
        let why = match answer {
            Ok(r) if r.status().as_u16() < 300 => return Ok(()),
            Ok(r) => format!("le service a répondu HTTP {}", r.status().as_u16()),
            Err(ureq::Error::Timeout(_)) => format!("pas de réponse en {} s", TIMEOUT.as_secs()),
            Err(ureq::Error::Io(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                "connexion refusée".into()
            }
            Err(ureq::Error::HostNotFound) => "nom du serveur introuvable (DNS)".into(),
            Err(ureq::Error::Io(e)) if e.to_string().contains("lookup") => {
                "nom du serveur introuvable (DNS)".into()
            }
            Err(ureq::Error::Io(e)) => match e.kind() {
                std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
                | std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::BrokenPipe => "connexion coupée par le service".into(),
                _ => format!("erreur réseau : {e}"),
            },
            Err(e) => {
                // Some errors quote the URL: keep what comes before it.
                let text = e.to_string();
                text.split("http").next().unwrap_or("").trim().to_owned()
            }
        };
        Err(format!(
            "ping de supervision ({}) non envoyé : {why} (monitoring.ping_url)",
            signal.word()
        ))
    }
}

/// Pings `signal` if there is a pinger; the warning if it failed.
pub fn ping(pinger: Option<&Pinger>, signal: Signal, body: &str) -> Option<String> {
    pinger.and_then(|p| p.send(signal, body).err())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(url: &str) -> Pinger {
        pinger(&config::Monitoring {
            ping_url: url.into(),
            textfile: String::new(),
        })
        .unwrap()
        .unwrap()
    }

    #[test]
    fn healthchecks_urls_take_a_suffix_kuma_urls_their_parameters() {
        let hc = of("https://hc-ping.com/5f1e0a6c-0000-4000-8000-000000000000/");
        let u = |p: &Pinger, s| {
            p.url_of(s, "3 / 3 dossier(s) traité(s)\nsuite")
                .map(|u| u.to_string())
        };
        assert_eq!(
            u(&hc, Signal::Start).unwrap(),
            "https://hc-ping.com/5f1e0a6c-0000-4000-8000-000000000000/start"
        );
        assert_eq!(
            u(&hc, Signal::Success).unwrap(),
            "https://hc-ping.com/5f1e0a6c-0000-4000-8000-000000000000"
        );
        assert!(
            u(&hc, Signal::Fail)
                .unwrap()
                .ends_with("-000000000000/fail")
        );

        let kuma = of("https://kuma.example/api/push/AbC123?status=up&msg=OK&ping=");
        assert_eq!(u(&kuma, Signal::Start), None);
        let down = u(&kuma, Signal::Fail).unwrap();
        assert!(
            down.starts_with(
                "https://kuma.example/api/push/AbC123?ping=&status=down&msg=3+%2F+3+dossier"
            ),
            "{down}"
        );
        assert!(!down.contains("suite"), "{down}");
    }

    #[test]
    fn unusable_urls_are_refused_with_a_reason() {
        for bad in ["hc-ping.com/x", "ftp://x/y"] {
            let e = pinger(&config::Monitoring {
                ping_url: bad.into(),
                textfile: String::new(),
            })
            .unwrap_err();
            assert!(e.contains("monitoring.ping_url"), "{e}");
        }
        let blank = config::Monitoring {
            ping_url: " ".into(),
            textfile: String::new(),
        };
        assert!(pinger(&blank).unwrap().is_none());
    }
}
