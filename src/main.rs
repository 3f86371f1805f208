//! The binary: parse the arguments, call the library, map the outcome to an
//! exit code (see `exit.rs`), print errors with their whole chain.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::Context;
use clap::Parser;

use svgauto::base::{Base, LOCK_FILE, valid_code};
use svgauto::cli::{self, Cli, Command};
use svgauto::commands::verify;
use svgauto::commands::{save as event, schedule, status};
use svgauto::exit::Exit;
use svgauto::exit::Said;
use svgauto::progress::{Bar, Hidden, Progress};
use svgauto::run::{self as pipeline, RunOptions};
use svgauto::sys::lock;
use svgauto::{clock, commands, notify};

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
        Err(e) => return fail(anyhow::anyhow!(e)),
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
    match dispatch(cli) {
        Ok(exit) => ExitCode::from(exit.code() as u8),
        Err(e) => fail(e),
    }
}

fn fail(e: anyhow::Error) -> ExitCode {
    warn!("svgauto : erreur : {e:#}");
    ExitCode::from(Exit::Fatal.code() as u8)
}

fn dispatch(cli: Cli) -> anyhow::Result<Exit> {
    match cli.command {
        Command::Run(a) => {
            let clock = clock()?;
            let interrupted = Arc::new(AtomicBool::new(false));
            let flag = interrupted.clone();
            ctrlc::set_handler(move || {
                if flag.swap(true, Ordering::SeqCst) {
                    // Second Ctrl-C: the user insists.
                    std::process::exit(Exit::Interrupted.code());
                }
                warn!("svgauto : interruption demandée ; fin propre des sauvegardes en cours…");
            })
            .context("installation du gestionnaire de Ctrl-C")?;
            let progress: Box<dyn Progress> = if !a.no_progress && std::io::stderr().is_terminal() {
                Box::new(Bar::new())
            } else {
                Box::new(Hidden)
            };
            let opts = RunOptions {
                base: a.base,
                workstation: a.settings.file,
                user: a.user,
                force_all: a.all,
                threads: a.threads.map(usize::from),
                verify: a.verify,
                max_duration: a.max_duration,
            };
            if a.dry_run {
                let plan = pipeline::dry_run(&opts, clock.as_ref())?;
                if a.json {
                    say!("{}", serde_json::to_string_pretty(&plan)?);
                } else {
                    say_raw!("{}", plan.render());
                }
                return Ok(Exit::Ok);
            }
            let out = pipeline::run(&opts, clock.as_ref(), &interrupted, progress)?;
            for l in &out.lines {
                say!("{l}");
            }
            for w in &out.warnings {
                warn!("svgauto : {w}");
            }
            Ok(out.exit)
        }
        Command::Restore { base, to, files } => {
            let clock = clock()?;
            Ok(print(commands::restore::restore_command(
                base.as_deref(),
                to.as_deref(),
                &files,
                clock.as_ref(),
            )?))
        }
        Command::Import { base } => {
            let clock = clock()?;
            Ok(print(commands::import::import_command(
                &base,
                clock.as_ref(),
            )?))
        }
        Command::Verify { paths } => Ok(print(
            verify::verify_command(&paths).map_err(anyhow::Error::msg)?,
        )),
        Command::MailTest { base, settings } => {
            let b = Base::open(&base, settings.file.as_deref())?;
            Ok(print(notify::mail_test(&b.effective)?))
        }
        Command::Hold { base, dossier } => {
            if !valid_code(&dossier) {
                anyhow::bail!("code de dossier invalide : {dossier}");
            }
            let dir = base.join("dossiers").join(&dossier);
            if !dir.is_dir() {
                anyhow::bail!("dossier introuvable : {}", dir.display());
            }
            let path = dir.join(LOCK_FILE);
            let _held =
                lock::exclusive(&path).with_context(|| format!("verrou {}", path.display()))?;
            say!("Verrou pris sur le dossier {dossier}");
            std::io::stdout().flush()?;
            loop {
                std::thread::park();
            }
        }
        Command::Config { base, settings } => {
            let b = Base::open(&base, settings.file.as_deref())?;
            say_raw!("{}", b.effective.render());
            Ok(Exit::Ok)
        }
        Command::Save {
            base,
            user,
            dossier,
            event,
            settings,
        } => {
            let clock = clock()?;
            Ok(print(event::save_command(
                &base,
                settings.file.as_deref(),
                &user,
                &dossier,
                event,
                clock.as_ref(),
            )?))
        }
        Command::Status {
            base,
            json,
            stale_days,
            settings,
        } => {
            let clock = clock()?;
            Ok(print(status::status_command(
                &base,
                settings.file.as_deref(),
                stale_days,
                json,
                clock.as_ref(),
            )?))
        }
        Command::Schedule(a) => {
            say_raw!("{}", schedule::schedule_command(&a)?);
            Ok(Exit::Ok)
        }
        Command::Completions { shell } => {
            let mut cmd = <Cli as clap::CommandFactory>::command();
            let mut text = Vec::new();
            clap_complete::generate(shell, &mut cmd, "svgauto", &mut text);
            let _ = std::io::stdout().write_all(&text);
            Ok(Exit::Ok)
        }
        Command::Man { dir } => {
            let cmd = <Cli as clap::CommandFactory>::command();
            match dir {
                Some(dir) => {
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("création de {}", dir.display()))?;
                    clap_mangen::generate_to(cmd, &dir).with_context(|| {
                        format!("écriture des pages de manuel dans {}", dir.display())
                    })?;
                    say!("Pages de manuel écrites dans {}", dir.display());
                }
                None => {
                    let mut page = Vec::new();
                    clap_mangen::Man::new(cmd)
                        .render(&mut page)
                        .context("écriture de la page de manuel")?;
                    let _ = std::io::stdout().write_all(&page);
                }
            }
            Ok(Exit::Ok)
        }
    }
}

/// The clock (`SVGAUTO_NOW` pins it, for tests).
fn clock() -> anyhow::Result<Box<dyn clock::Clock>> {
    clock::from_env().map_err(anyhow::Error::msg)
}

/// Prints what a command said and returns how it ends; then, once, the
/// folders whose file system refused to be flushed (`sys::fs::sync_dir`).
fn print(said: Said) -> Exit {
    for l in said.lines {
        match l {
            Ok(l) => say!("{l}"),
            Err(l) => warn!("svgauto : {l}"),
        }
    }
    for w in svgauto::sys::fs::unflushed_warnings() {
        warn!("svgauto : {w}");
    }
    said.exit
}
