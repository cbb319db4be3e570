//! Trace files: where each runtime's trace goes when it is written.
//!
//! Several runtimes of one process may trace to the same file (the client
//! and server runtimes of `examples/remote_tasks.rs` under `CORIO_TRACE`, a
//! coordinator and its workers): each is a process in the trace, on one
//! time axis, so a call can be followed from one to the other. A runtime's
//! events are only on its own thread until it writes them, so the file is
//! rewritten whole each time one of them does, from every chunk written to
//! that path so far. That table of chunks is the one piece of process-wide
//! state here; like the blocking pool's, it holds no runtime state, only
//! finished text.

use std::fs::OpenOptions;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use super::json::{self, Chunk};

/// Every trace file written by this process, with the chunks it holds.
static FILES: Mutex<Vec<(PathBuf, Vec<Chunk>)>> = Mutex::new(Vec::new());

/// An error naming the trace file and what the OS said.
fn error(path: &Path, error: io::Error) -> io::Error {
    io::Error::new(error.kind(), format!("corio: cannot write the trace file {}: {error}", path.display()))
}

/// Fails early, when the runtime is built, if `path` cannot be written
/// (creating it empty if it does not exist, leaving it alone if it does).
pub(crate) fn check_writable(path: &Path) -> io::Result<()> {
    OpenOptions::new().create(true).append(true).open(path).map(drop).map_err(|e| error(path, e))
}

/// Puts `chunk` (replacing an earlier one of the same runtime) into the
/// file at `path`, rewriting it with every runtime's chunk.
pub(crate) fn write(path: &Path, chunk: Chunk) -> io::Result<()> {
    let mut files = FILES.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let index = match files.iter().position(|(known, _)| known == path) {
        Some(index) => index,
        None => {
            files.push((path.to_owned(), Vec::new()));
            files.len() - 1
        }
    };
    let chunks = &mut files[index].1;
    chunks.retain(|old| old.runtime != chunk.runtime);
    chunks.push(chunk);
    chunks.sort_by_key(|chunk| chunk.runtime);
    let text = json::document(chunks.iter());
    std::fs::write(path, text).map_err(|e| error(path, e))
}
