//! The binary: parse the arguments (`cli`), turn them into each command's
//! options (`options`), make one call into the library, map the outcome to
//! an exit code (see `exit.rs`), print errors with their whole chain.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Parser;

use svgauto::base::Base;
use svgauto::cli::OffsiteCommand;
use svgauto::cli::{self, Cli, Command};
use svgauto::commands::{hold, import, offsite, restore, save, schedule, status, verify};
use svgauto::exit::{Exit, Line, Output};
use svgauto::options::{Format, RunRequest, ScheduleOptions};
use svgauto::progress::{Bar, Hidden, Progress};
use svgauto::run;
use svgauto::{clock, notify};

/// `println!`, `print!`, `eprintln!` that never panic: once the work is
/// done, a closed output (`svgauto run | head -1`, a scheduler that stopped
/// reading) must not turn the exit code into a crash (101). What could not
/// be printed is lost; the report files hold it all.
macro_rules! say {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stdout(), $($t)*); }};
}
macro_rules! say_raw {
    ($($t:tt)*) => {{ let _ = write!(std::io::stdout(), $($t)*); }};
}
macro_rules! warn {
    ($($t:tt)*) => {{ let _ = writeln!(std::io::stderr(), $($t)*); }};
}

fn main() -> ExitCode {
    let args = match cli::translate_legacy(std::env::args_os().collect()) {
        Ok(a) => a,
        Err(e) => return fail(e.into()),
    };
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                Exit::Fatal.code() as u8
            } else {
                0
            });
        }
    };
    match dispatch(cli.command) {
        Ok(exit) => ExitCode::from(exit.code() as u8),
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    warn!("svgauto : erreur : {e:#}");
    ExitCode::from(Exit::Fatal.code() as u8)
}

/// One call per command.
fn dispatch(command: Command) -> anyhow::Result<Exit> {
    Ok(match command {
        Command::Run(a) => run_command(a.into())?,
        Command::Restore { base, to, files } => print(restore::restore_command(
            base.as_deref(),
            to.as_deref(),
            &files,
            clock::from_env()?.as_ref(),
        )?),
        Command::Import { base } => {
            print(import::import_command(&base, clock::from_env()?.as_ref())?)
        }
        Command::Verify { paths } => print(verify::verify_command(&paths)?),
        Command::MailTest { base, settings } => {
            let b = Base::open(&base, settings.file.as_deref())?;
            print(notify::mail_test(&b.effective)?)
        }
        Command::Hold { base, dossier } => {
            let _held = hold::hold(&base, &dossier)?;
            say!("Verrou pris sur le dossier {dossier}");
            std::io::stdout().flush()?;
            loop {
                std::thread::park();
            }
        }
        Command::Config { base, settings } => {
            let b = Base::open(&base, settings.file.as_deref())?;
            say_raw!("{}", b.effective.render());
            Exit::Ok
        }
        Command::Save {
            base,
            user,
            dossier,
            event,
            settings,
        } => print(save::save_command(
            &base,
            settings.file.as_deref(),
            &user,
            &dossier,
            event.into(),
            clock::from_env()?.as_ref(),
        )?),
        Command::Status {
            base,
            json,
            stale_days,
            textfile,
            mail_if_attention,
            html,
            settings,
        } => {
            let mut out = status::status_command(
                &base,
                settings.file.as_deref(),
                stale_days,
                Format::json_if(json),
                clock::from_env()?.as_ref(),
            )?;
            if mail_if_attention {
                let (said, attention) = status::mail_if_attention(
                    &base,
                    settings.file.as_deref(),
                    stale_days,
                    clock::from_env()?.as_ref(),
                )?;
                // Something needs attention (the run stopped, say, with
                // every dossier saved): the task shows it too.
                if attention {
                    out.exit = svgauto::exit::Exit::DossierErrors;
                }
                out.lines.extend(said);
            }
            if let Some(file) = html {
                out.lines.extend(
                    status::write_html(
                        &base,
                        settings.file.as_deref(),
                        stale_days,
                        &file,
                        clock::from_env()?.as_ref(),
                    )
                    .err()
                    .map(svgauto::exit::Line::Stderr),
                );
            }
            if let Some(file) = textfile {
                out.lines.extend(
                    status::write_textfile(&base, settings.file.as_deref(), &file)
                        .err()
                        .map(svgauto::exit::Line::Stderr),
                );
            }
            print(out)
        }
        Command::Schedule(a) => {
            let o: ScheduleOptions = a.into();
            let entry = schedule::schedule_command(&o)?;
            match &o.output {
                Some(path) => {
                    entry.write_to(path)?;
                    say!("Tâche planifiée écrite dans {}", path.display());
                }
                // As gzip does not write compressed data to a terminal: the
                // bytes would not show (and a Windows console refuses them).
                None if entry.utf16 && std::io::stdout().is_terminal() => anyhow::bail!(
                    "la définition de tâche est en UTF-16, comme l'attend schtasks : \
                     l'écrire dans un fichier avec --output svgauto-tache.xml"
                ),
                None => {
                    let _ = std::io::stdout().write_all(&entry.bytes);
                }
            }
            Exit::Ok
        }
        Command::Offsite(c) => offsite_command(c)?,
        Command::Completions { shell } => {
            let _ = std::io::stdout().write_all(&cli::completions(shell));
            Exit::Ok
        }
        Command::Man { dir: Some(dir) } => {
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("création de {}", dir.display()))?;
            cli::write_man_pages(&dir)
                .with_context(|| format!("écriture des pages de manuel dans {}", dir.display()))?;
            say!("Pages de manuel écrites dans {}", dir.display());
            Exit::Ok
        }
        Command::Man { dir: None } => {
            let page = cli::man_page().context("écriture de la page de manuel")?;
            let _ = std::io::stdout().write_all(&page);
            Exit::Ok
        }
    })
}

/// The flag a first Ctrl-C sets (saying `then`, what happens next); a
/// second one ends the process: the user insists.
fn on_ctrl_c(then: &'static str) -> anyhow::Result<Arc<AtomicBool>> {
    let interrupted = Arc::new(AtomicBool::new(false));
    let flag = interrupted.clone();
    ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(Exit::Interrupted.code());
        }
        warn!("svgauto : interruption demandée ; {then}");
    })
    .context("installation du gestionnaire de Ctrl-C")?;
    Ok(interrupted)
}

/// `svgauto run`: Ctrl-C asks the run to stop cleanly (a second one ends
/// the process), a progress bar on a terminal, or the plan of a dry run.
fn run_command(request: RunRequest) -> anyhow::Result<Exit> {
    let clock = clock::from_env()?;
    let interrupted = on_ctrl_c("fin propre des sauvegardes en cours…")?;
    let progress: Box<dyn Progress> = if request.progress && std::io::stderr().is_terminal() {
        Box::new(Bar::new())
    } else {
        Box::new(Hidden)
    };
    let opts = request.options;
    if let Some(format) = request.dry_run {
        let plan = run::dry_run(&opts, clock.as_ref())?;
        match format {
            Format::Json => say!("{}", serde_json::to_string_pretty(&plan)?),
            Format::Text => say_raw!("{}", plan.render()),
        }
        return Ok(Exit::Ok);
    }
    let out = run::run(&opts, clock.as_ref(), &interrupted, progress)?;
    for l in &out.lines {
        say!("{l}");
    }
    for w in &out.warnings {
        warn!("svgauto : {w}");
    }
    Ok(out.exit)
}

/// `svgauto offsite …`; Ctrl-C stops a push at its next part.
fn offsite_command(c: OffsiteCommand) -> anyhow::Result<Exit> {
    let clock = clock::from_env()?;
    Ok(match c {
        OffsiteCommand::Push {
            base,
            max_duration,
            json,
            settings,
        } => {
            let interrupted = on_ctrl_c("l'envoi reprendra à la prochaine partie…")?;
            print(offsite::push_command(
                &base,
                settings.file.as_deref(),
                max_duration,
                json,
                clock.as_ref(),
                &interrupted,
            )?)
        }
        OffsiteCommand::Status {
            base: Some(base),
            json,
            settings,
            ..
        } => print(offsite::status_base_command(
            &base,
            settings.file.as_deref(),
            json,
        )?),
        OffsiteCommand::Status {
            url,
            stale_days,
            json,
            settings,
            ..
        } => print(offsite::status_url_command(
            url.as_deref().unwrap_or_default(),
            settings.file.as_deref(),
            stale_days,
            json,
            clock.now(),
        )?),
        OffsiteCommand::Restore {
            base,
            dossier,
            identity,
            at,
            to,
            settings,
        } => print(offsite::restore_command(
            &base,
            settings.file.as_deref(),
            &dossier,
            identity.as_deref(),
            at.as_deref(),
            to.as_deref(),
            clock.as_ref(),
        )?),
        OffsiteCommand::Verify {
            base,
            sample,
            identity,
            settings,
        } => print(offsite::verify_command(
            &base,
            settings.file.as_deref(),
            sample,
            &identity,
            clock.as_ref(),
        )?),
    })
}

/// Prints what a command said and returns how it ends; then, once, the
/// folders whose file system refused to be flushed (`sys::fs::sync_dir`).
fn print(out: Output) -> Exit {
    for l in out.lines {
        match l {
            Line::Stdout(l) => say!("{l}"),
            Line::Stderr(l) => warn!("svgauto : {l}"),
        }
    }
    for w in svgauto::sys::fs::unflushed_warnings() {
        warn!("svgauto : {w}");
    }
    out.exit
}
