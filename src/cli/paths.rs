//! Output paths checked before a run starts: a file that cannot be created, or a folder no file
//! can be written into, is a usage error naming the option (exit 2) before a packet is sent,
//! rather than a failure found after the whole run.

use std::fs::File;
use std::path::Path;

use super::UsageError;

/// Creates (or truncates) the file `path` given to `--flag`, to be written at the end of the run.
pub fn create_output_file(flag: &str, path: &Path) -> anyhow::Result<File> {
    File::create(path)
        .map_err(|e| UsageError(format!("--{flag}: cannot create {}: {e}", path.display())).into())
}

/// Creates the folder `dir` given to `--flag` (and its parents) and makes sure a file can be
/// written into it, by creating and removing one.
pub fn prepare_output_dir(flag: &str, dir: &Path) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| -> anyhow::Error {
        UsageError(format!(
            "--{flag}: cannot write into {}: {e}",
            dir.display()
        ))
        .into()
    };
    std::fs::create_dir_all(dir).map_err(fail)?;
    let probe = dir.join(format!(".ringshot-write-check-{}", std::process::id()));
    File::create(&probe).map_err(fail)?;
    std::fs::remove_file(&probe).map_err(fail)
}
