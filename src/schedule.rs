//! `svgauto schedule`: the scheduled task running the batch every day, ready
//! to paste — a crontab line, a systemd service + timer, or `schtasks`.

use crate::cli::ScheduleArgs;
use crate::restore::CommandError;

/// `svgauto schedule …`: the text to print.
pub fn schedule_command(args: &ScheduleArgs) -> Result<String, CommandError> {
    let _ = args;
    unimplemented!("schedule")
}
