//! Files written whole or not at all: a temporary name in the same folder, then a rename; and
//! the clean-up of the temporary files a killed run left behind. Used by every output (reports,
//! the workbook, saved directory snapshots, `sync`).

use std::fs::{self, File};
use std::io::BufWriter;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// Removes `.NAME.tmp-PID`, `.users.tmp-PID` and `.users.old-PID` entries whose process is
/// gone (a run killed before its rename). Entries of a live process are left alone.
pub fn remove_stale_temps(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if !is_stale_temp(&entry.file_name().to_string_lossy()) {
            continue;
        }
        let path = entry.path();
        let _ = if path.is_dir() {
            fs::remove_dir_all(&path)
        } else {
            fs::remove_file(&path)
        };
    }
}

/// Whether `name` is a temporary name of [`write_atomic`] or of `users/` (`.NAME.tmp-PID`,
/// `.NAME.old-PID`) whose process is gone. Without `/proc` nothing counts as stale.
pub fn is_stale_temp(name: &str) -> bool {
    let pid = name
        .strip_prefix('.')
        .and_then(|n| n.rsplit_once(".tmp-").or_else(|| n.rsplit_once(".old-")))
        .and_then(|(_, pid)| pid.parse::<u32>().ok());
    let Some(pid) = pid else {
        return false;
    };
    let alive = pid == std::process::id() || Path::new(&format!("/proc/{pid}")).exists();
    !alive && Path::new("/proc/self").exists()
}

/// The temporary name of `path` for this process: `.NAME.tmp-PID` beside it.
pub fn temp_name(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

/// Writes `path` through a temporary file in the same directory, then renames it into place.
pub fn write_atomic(
    path: &Path,
    body: impl FnOnce(&mut BufWriter<File>) -> Result<()>,
) -> Result<()> {
    let tmp = temp_name(path);
    let result = (|| -> Result<()> {
        let mut file = BufWriter::new(File::create(&tmp)?);
        body(&mut file)?;
        let file = file.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        fs::rename(&tmp, path)?;
        Ok(())
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.with_context(|| format!("cannot write {}", path.display()))
}
