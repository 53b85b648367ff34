//! The one chunk loop: each chunk of a rank's rows is read once and feeds every gridding
//! target of the pass (the dirty image and the PSF together), after the imaging weights and
//! the channel selection are applied; the next chunk is read while the current one is
//! gridded.
use std::ops::Range;
use std::time::Instant;

use super::context::{Run, Scalar};
use super::error::ImagingError;
use crate::grid::{GridCounts, GridMode, Gridder};
use crate::metrics::{ReadPass, Stage};
use crate::vis::channels::select_channels;
use crate::vis::{row_chunks, VisChunk, Want};
use crate::wstack::WPlaneSel;

/// One gridding target of a pass: a backend and what it grids.
pub struct Target<'g, T: Scalar> {
    /// The dirty image or the PSF.
    pub mode: GridMode,
    /// Where it is gridded.
    pub gridder: &'g mut dyn Gridder<T>,
    /// This rank's counts of the pass so far.
    pub counts: GridCounts,
}

impl<'g, T: Scalar> Target<'g, T> {
    /// A target with zero counts.
    pub fn new(mode: GridMode, gridder: &'g mut dyn Gridder<T>) -> Self {
        Self {
            mode,
            gridder,
            counts: GridCounts::default(),
        }
    }
}

/// What one pass covers.
#[derive(Clone, Debug)]
pub struct PassSpec<'a> {
    /// Rows of the data (this rank's share, or all rows for w-stacking).
    pub rows: Range<usize>,
    /// Channels gridded (all for the MFS image, one group for a cube plane).
    pub channels: Range<usize>,
    /// The w-plane gridded, when w-stacking.
    pub plane: Option<&'a WPlaneSel>,
    /// Which pass this is, for the read counts.
    pub pass: ReadPass,
    /// `None`: reading and gridding times go to their own stages; `Some(stage)`: both go to
    /// `stage` (the cube's passes are timed as one stage, outside the imaging path).
    pub timed_as: Option<Stage>,
}

/// Reads `spec.rows` in chunks of the plan's size and grids each chunk into every target:
/// one read per chunk, whatever the number of targets. A reader thread prepares the next
/// chunk (read or simulated, imaging weights applied, channels selected) while this one grids
/// the current chunk, handing it over through a rendezvous channel, so at most two chunks
/// exist at once. The stage times: the reading stage gets the time this thread waited for a
/// chunk (the reading not hidden behind gridding), [`Stage::ReadIo`] the reader's own time.
pub fn grid_pass<T: Scalar>(
    run: &mut Run,
    spec: &PassSpec,
    targets: &mut [Target<T>],
) -> Result<(), ImagingError> {
    let meta = run.source.meta();
    let nchan = meta.nchan();
    let freq_hz = &meta.freq_hz[spec.channels.clone()];
    let want = if targets.iter().any(|t| t.mode == GridMode::Dirty) {
        Want::All
    } else {
        Want::NoVis
    };
    let (read_stage, grid_stage) = match spec.timed_as {
        Some(stage) => (stage, stage),
        None if run.source.is_simulation() => (Stage::Simulate, Stage::Grid),
        None => (Stage::Read, Stage::Grid),
    };
    let chunk_rows = run.plan.chunk_rows;
    let bar = crate::progress::bar(
        if want == Want::All { "grid" } else { "psf" },
        spec.rows.len().div_ceil(chunk_rows.max(1)) as u64,
    );
    let (source, weights) = (run.source, run.weights);
    let prepare = |r: Range<usize>| -> Result<VisChunk, ImagingError> {
        let mut chunk = source.read(r, want)?;
        if let Some(w) = weights {
            w.apply(&mut chunk, &meta.freq_hz);
        }
        if spec.channels.len() != nchan {
            chunk = select_channels(&chunk, nchan, spec.channels.clone());
        }
        Ok(chunk)
    };
    let chunks = row_chunks(spec.rows.clone(), chunk_rows);
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel::<(Result<VisChunk, ImagingError>, f64)>(0);
        scope.spawn(move || {
            for r in chunks {
                let t = Instant::now();
                let chunk = prepare(r);
                let failed = chunk.is_err();
                // A closed channel means the gridding side stopped (on an error): stop too.
                if tx.send((chunk, t.elapsed().as_secs_f64())).is_err() || failed {
                    break;
                }
            }
        });
        let result = (|| {
            loop {
                let t = Instant::now();
                let Ok((chunk, read_s)) = rx.recv() else {
                    break;
                };
                run.times.add(read_stage, t.elapsed().as_secs_f64());
                if spec.timed_as.is_none() {
                    run.times.add(Stage::ReadIo, read_s);
                }
                let chunk = chunk?;
                bar.inc(1);
                run.times.count_read(spec.pass);
                let t = Instant::now();
                for target in targets.iter_mut() {
                    let c = target
                        .gridder
                        .grid(&chunk, freq_hz, target.mode, spec.plane)?;
                    target.counts.merge(&c);
                }
                run.times.add(grid_stage, t.elapsed().as_secs_f64());
            }
            let t = Instant::now();
            for target in targets.iter_mut() {
                target.gridder.finish()?;
            }
            run.times.add(grid_stage, t.elapsed().as_secs_f64());
            Ok(())
        })();
        // Unblocks the reader if gridding failed; the scope then joins it.
        drop(rx);
        bar.finish_and_clear();
        result
    })
}
