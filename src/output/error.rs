//! The errors of the output writers and readers: [`OutputError`], which always names the
//! file, and the typed reasons it wraps for FITS ([`FitsError`]) and PNG ([`PngError`]).
//!
//! A leaf of the output wing: every writer and reader imports its errors from here, so that
//! [`OutputError`] can wrap their reasons without an import cycle.
use std::path::{Path, PathBuf};

/// Errors from writing (or reading back) output files. Every message names the file.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// An I/O operation on `path` failed.
    #[error("{op} failed for {}", path.display())]
    Io {
        /// The file (or directory) the operation was applied to.
        path: PathBuf,
        /// What was being done, e.g. "create temporary file", "rename over destination".
        op: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The caller asked for something that cannot be written (bad keyword, shape mismatch, ...).
    #[error("cannot write {}: {reason}", path.display())]
    Invalid {
        /// The destination file.
        path: PathBuf,
        /// What is wrong with the request.
        reason: String,
    },
    /// An HDF5 operation on `path` failed.
    #[error("{what} failed for {}: {}", path.display(), crate::vis::h5diag::hdf5_cause(path, cause))]
    Hdf5 {
        /// The file.
        path: PathBuf,
        /// What was being done.
        what: String,
        /// The underlying error (reported on one line with its cause).
        cause: hdf5::Error,
    },
    /// A file being read is not in the format expected.
    #[error("malformed file {}: {reason}", path.display())]
    Malformed {
        /// The file being read.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A FITS file cannot be written as asked (see [`FitsError`] for why).
    #[error("cannot write {}: {reason}", path.display())]
    FitsWrite {
        /// The destination file.
        path: PathBuf,
        /// What is wrong with the request.
        reason: FitsError,
    },
    /// A FITS file being read is not one the reader understands.
    #[error("malformed file {}: {reason}", path.display())]
    FitsRead {
        /// The file being read.
        path: PathBuf,
        /// What is wrong with it.
        reason: FitsError,
    },
    /// A PNG quick look cannot be drawn as asked.
    #[error("cannot write {}: {reason}", path.display())]
    Png {
        /// The destination file.
        path: PathBuf,
        /// What went wrong.
        reason: PngError,
    },
}

impl OutputError {
    /// An [`OutputError::Io`] for `op` on `path`.
    pub(crate) fn io(path: &Path, op: &'static str, source: std::io::Error) -> Self {
        OutputError::Io {
            path: path.to_path_buf(),
            op,
            source,
        }
    }
}

/// Why a FITS header or data unit cannot be written, or a FITS file read (FITS Standard 4.0
/// section numbers in the messages).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum FitsError {
    /// A keyword is empty or longer than 8 characters.
    #[error("keyword {0:?} must be 1 to 8 characters long")]
    KeywordLength(String),
    /// A keyword has characters other than `A–Z`, `0–9`, `-`, `_`.
    #[error("keyword {0:?} may only contain upper-case A-Z, 0-9, '-' and '_' (FITS 4.0 §4.1.2.1)")]
    KeywordChars(String),
    /// A keyword the writer emits itself was given as an extra card.
    #[error("keyword {0} is written by the FITS writer itself and cannot be overridden")]
    Reserved(String),
    /// A (non-commentary) keyword was given twice.
    #[error("keyword {0} given twice")]
    Duplicate(String),
    /// Header text outside printable ASCII.
    #[error("value of {key} contains {found:?}; FITS header text must be printable ASCII")]
    NotPrintable {
        /// The card's keyword.
        key: String,
        /// The first offending character.
        found: char,
    },
    /// A string value too long for one card.
    #[error(
        "string value of {key} is {len} characters (quotes doubled); at most 68 fit on a card"
    )]
    StringTooLong {
        /// The card's keyword.
        key: String,
        /// Its length with embedded quotes doubled.
        len: usize,
    },
    /// `COMMENT`/`HISTORY` text too long for one card.
    #[error("{key} text is {len} characters; at most {max} fit on a card")]
    CommentaryTooLong {
        /// `COMMENT` or `HISTORY`.
        key: String,
        /// The text's length.
        len: usize,
        /// The most that fit (72).
        max: usize,
    },
    /// A `COMMENT`/`HISTORY` card with a non-string value.
    #[error("{0} cards take a string value")]
    CommentaryNotString(String),
    /// A real value that is NaN or infinite.
    #[error("value of {key} is {value}; FITS header reals must be finite")]
    NotFinite {
        /// The card's keyword.
        key: String,
        /// The value.
        value: f64,
    },
    /// An axis length that does not fit a FITS integer.
    #[error("{key} = {value} does not fit a FITS integer")]
    TooLarge {
        /// The card's keyword.
        key: String,
        /// The value.
        value: usize,
    },
    /// A zero axis length.
    #[error("image dimensions must be positive, got {nx} x {ny} x {nz}")]
    EmptyShape {
        /// `NAXIS1`.
        nx: usize,
        /// `NAXIS2`.
        ny: usize,
        /// `NAXIS3`.
        nz: usize,
    },
    /// The data do not have `nx · ny · nz` values.
    #[error("data has {len} values but the {} is {}", shape_noun(*nz), shape_text(*nx, *ny, *nz))]
    DataLength {
        /// Number of values given.
        len: usize,
        /// `NAXIS1`.
        nx: usize,
        /// `NAXIS2`.
        ny: usize,
        /// `NAXIS3`.
        nz: usize,
    },
    /// A WCS value that is NaN or infinite.
    #[error("WCS {name} is {value}")]
    WcsNotFinite {
        /// The `SkyWcs` field.
        name: &'static str,
        /// Its value.
        value: f64,
    },
    /// A declination outside [−90°, 90°].
    #[error("declination {0} is outside [-90, 90]")]
    Declination(f64),
    /// A non-positive cell size or frequency.
    #[error("cell size and frequency must be positive")]
    NonPositiveCellOrFrequency,
    /// A non-positive bandwidth (one plane) or zero plane spacing (a cube).
    #[error("CDELT3 = {0} Hz: a bandwidth must be positive and a plane spacing non-zero")]
    SpectralStep(f64),
    /// Reading: a header card that is not ASCII (1-based card number).
    #[error("header card {0} is not ASCII")]
    NotAscii(usize),
    /// Reading: a string value without its closing quote.
    #[error("unterminated string in card {0}")]
    UnterminatedString(String),
    /// Reading: no `END` card.
    #[error("no END card")]
    NoEnd,
    /// Reading: a required keyword is missing.
    #[error("missing {0}")]
    Missing(String),
    /// Reading: a value that does not parse.
    #[error("{key}: {message}")]
    BadValue {
        /// The card's keyword.
        key: String,
        /// The parser's message.
        message: String,
    },
    /// Reading: the file does not start with `SIMPLE = T`.
    #[error("first card is not SIMPLE = T")]
    NotSimple,
    /// Reading: a `BITPIX` other than −32.
    #[error("only BITPIX = -32 is supported")]
    Bitpix,
    /// Reading: `NAXIS` outside 2..=999.
    #[error("NAXIS = {0}; need at least 2")]
    Naxis(i64),
    /// Reading: a negative axis length (`NAXISn`, value).
    #[error("NAXIS{0} = {1}")]
    AxisLength(i64, i64),
    /// Reading: axes beyond the third (or, for a single image, the second) are not 1.
    #[error("axes beyond the {} must have length 1, got {found}", beyond_axis(*image))]
    ExtraAxes {
        /// Whether a single-plane image was asked for.
        image: bool,
        /// The axis lengths found.
        found: String,
    },
    /// Reading: the data size overflows.
    #[error("image size overflows")]
    Overflow,
    /// Reading: the file ends before the data do.
    #[error("file is {len} bytes, but the header and {nx} x {ny} x {nz} data need {need}")]
    Truncated {
        /// The file's length.
        len: usize,
        /// `NAXIS1`.
        nx: usize,
        /// `NAXIS2`.
        ny: usize,
        /// `NAXIS3`.
        nz: usize,
        /// Bytes needed.
        need: usize,
    },
}

fn beyond_axis(image: bool) -> &'static str {
    if image {
        "second"
    } else {
        "third"
    }
}

fn shape_noun(nz: usize) -> &'static str {
    if nz == 1 {
        "image"
    } else {
        "cube"
    }
}

fn shape_text(nx: usize, ny: usize, nz: usize) -> String {
    if nz == 1 {
        format!("{nx} x {ny}")
    } else {
        format!("{nx} x {ny} x {nz}")
    }
}

/// Why a PNG quick look cannot be drawn.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum PngError {
    /// The data do not have `nx · ny` values.
    #[error("data has {len} values but the image is {nx} x {ny}")]
    DataLength {
        /// Number of values given.
        len: usize,
        /// Image width.
        nx: usize,
        /// Image height.
        ny: usize,
    },
    /// The figure cannot hold one screen pixel per image pixel.
    #[error("a {width} x {height} figure is too small for a quick look")]
    TooSmall {
        /// Figure width, pixels.
        width: u32,
        /// Figure height, pixels.
        height: u32,
    },
    /// plotters failed to draw.
    #[error("drawing failed: {0}")]
    Draw(String),
}
