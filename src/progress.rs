//! Progress bars (indicatif) for long stages, on rank 0 only and only when stderr is a
//! terminal: batch jobs, pipes and logs stay free of bar redraws.
use std::sync::atomic::{AtomicBool, Ordering};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

static ENABLED: AtomicBool = AtomicBool::new(false);

/// Allows bars in this process (the CLI calls it with `rank == 0`).
pub fn enable(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

/// A bar of `len` steps labelled `what`; hidden (a no-op) unless enabled and stderr is a
/// terminal.
pub fn bar(what: &str, len: u64) -> ProgressBar {
    if !ENABLED.load(Ordering::Relaxed) || !std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{msg:>10} [{bar:40}] {pos}/{len} chunks, {elapsed} (eta {eta})",
    ) {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_string());
    pb
}

#[cfg(test)]
mod tests {
    #[test]
    fn disabled_bar_is_hidden() {
        super::enable(false);
        let b = super::bar("grid", 10);
        b.inc(3);
        assert!(b.is_hidden());
        b.finish_and_clear();
    }
}
