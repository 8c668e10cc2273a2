//! Reading user input and writing output files, the same way for every command.
//!
//! Input is read with a size bound (`replay /dev/zero` must end with a message, not with the
//! machine out of memory). Output is written atomically: a temporary file in the target's
//! directory, then a rename (tempfile's `persist`), so a crash or a full disk never leaves half a
//! file behind. What the target may be is decided before anything is written:
//!
//! - a path that does not exist yet, in a directory that does: created;
//! - a regular file: replaced, keeping its permissions;
//! - a symlink: written through — the file it points to is replaced and the link stays a link
//!   (a dangling link, or one that points at anything but a regular file, is refused);
//! - a directory, FIFO, socket or device: refused, never replaced with a regular file.
//!
//! Every refusal is one line naming the path.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Read at most `max_bytes` of UTF-8 text from `path`; more is refused (`what` names the kind of
/// file in the message, e.g. "replay file").
pub fn read_capped(path: &Path, max_bytes: u64, what: &str) -> Result<String, InputError> {
    let name = path.display();
    let file = std::fs::File::open(path).map_err(|e| InputError(format!("{name}: cannot read: {e}")))?;
    let mut bytes = Vec::new();
    file.take(max_bytes + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| InputError(format!("{name}: cannot read: {e}")))?;
    if bytes.len() as u64 > max_bytes {
        return Err(InputError(format!(
            "{name}: larger than {} MiB, the most tiersim reads as a {what}",
            max_bytes >> 20
        )));
    }
    String::from_utf8(bytes).map_err(|e| {
        InputError(format!("{name}: not UTF-8 text (byte {} is invalid)", e.utf8_error().valid_up_to()))
    })
}

/// The regular file a write to `path` replaces (or creates), following a symlink; refuses what
/// must not be replaced (see the module docs). Commands call it for every output path before
/// they run anything, so that bad output paths are refused with nothing created.
pub fn output_target(path: &Path) -> Result<PathBuf, InputError> {
    let name = path.display();
    let refuse = |why: &str| InputError(format!("{name}: {why}"));
    match std::fs::symlink_metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let parent = parent_dir(path);
            match std::fs::metadata(&parent) {
                Ok(m) if m.is_dir() => Ok(path.to_path_buf()),
                Ok(_) => Err(refuse(&format!("cannot write: {} is not a directory", parent.display()))),
                Err(_) => Err(refuse(&format!("cannot write: directory {} does not exist", parent.display()))),
            }
        }
        Err(e) => Err(refuse(&format!("cannot write: {e}"))),
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::canonicalize(path)
                .map_err(|_| refuse("a symlink to nothing; tiersim writes through symlinks to existing files only"))?;
            match std::fs::metadata(&target) {
                Ok(t) if t.is_file() => Ok(target),
                _ => Err(refuse(&format!(
                    "a symlink to {}, which is not a regular file; tiersim writes regular files only",
                    target.display()
                ))),
            }
        }
        Ok(m) if m.is_file() => Ok(path.to_path_buf()),
        Ok(m) if m.is_dir() => Err(refuse("is a directory; expected a file path")),
        Ok(_) => Err(refuse(
            "not a regular file (a FIFO, socket or device); tiersim writes regular files only and will not replace it",
        )),
    }
}

/// Write `text` to `path` atomically (see the module docs for what `path` may be).
pub fn write_atomically(path: &Path, text: &str) -> Result<(), InputError> {
    let target = output_target(path)?;
    let cannot = |e: std::io::Error| InputError(format!("{}: cannot write: {e}", path.display()));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".tiersim-").suffix(".tmp");
    // A replaced file keeps its permissions; a new one gets the usual 0666 less the umask.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&target).map_or(0o666, |m| m.permissions().mode() & 0o7777);
        builder.permissions(std::fs::Permissions::from_mode(mode));
    }
    let mut tmp = builder.tempfile_in(parent_dir(&target)).map_err(cannot)?;
    tmp.write_all(text.as_bytes()).and_then(|_| tmp.as_file().sync_all()).map_err(cannot)?;
    tmp.persist(&target).map_err(|e| cannot(e.error))?;
    Ok(())
}

fn parent_dir(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_through_symlinks_and_refuses_fifos_directories_and_missing_directories() {
        let dir = std::env::temp_dir().join(format!("tiersim-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let target = dir.join("target.txt");
        std::fs::write(&target, "old").unwrap();
        let link = dir.join("link.txt");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        write_atomically(&link, "new").unwrap();
        assert!(std::fs::symlink_metadata(&link).unwrap().file_type().is_symlink(), "the link stays");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");

        let fifo = dir.join("fifo");
        let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path.
        assert_eq!(unsafe { libc_mkfifo(c.as_ptr(), 0o644) }, 0);
        let e = write_atomically(&fifo, "x").unwrap_err().0;
        assert!(e.contains("not a regular file"), "{e}");
        assert!(!std::fs::metadata(&fifo).unwrap().is_file(), "the FIFO is still a FIFO");

        assert!(write_atomically(&dir, "x").unwrap_err().0.contains("directory"));
        let e = write_atomically(&dir.join("nodir/x.txt"), "x").unwrap_err().0;
        assert!(e.contains("does not exist"), "{e}");
        assert!(!dir.join("nodir").exists());
        let dangling = dir.join("dangling");
        std::os::unix::fs::symlink(dir.join("gone"), &dangling).unwrap();
        assert!(write_atomically(&dangling, "x").unwrap_err().0.contains("symlink to nothing"));
        // Nothing but what was asked for is left in the directory (no temporary files).
        let mut names: Vec<_> =
            std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
        names.sort();
        assert_eq!(names, ["dangling", "fifo", "link.txt", "target.txt"]);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reading_is_bounded() {
        let e = read_capped(Path::new("/dev/zero"), 1 << 20, "replay file").unwrap_err().0;
        assert!(e.contains("larger than 1 MiB"), "{e}");
    }

    extern "C" {
        #[link_name = "mkfifo"]
        fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
    }
}

/// Bad input from a user: a file, an argument, a history. Displayed as one line; the CLI exits 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputError(pub String);

impl std::fmt::Display for InputError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InputError {}
