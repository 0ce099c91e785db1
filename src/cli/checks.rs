//! Values the library would take but a user would not mean, refused (exit 2, naming the flag)
//! before a run starts: a CPU that is not online, a payload file that is not a regular file.

use std::path::Path;

use super::UsageError;

/// The online CPUs as the kernel lists them (`0-3,6`); `None` where the list is unknown.
fn online_cpus() -> Option<String> {
    let s = std::fs::read_to_string("/sys/devices/system/cpu/online").ok()?;
    Some(s.trim().to_string())
}

/// Whether `cpu` is in a kernel CPU list such as `0-3,6`; `None` when the list does not parse.
fn in_cpu_list(list: &str, cpu: u32) -> Option<bool> {
    let mut found = false;
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<u32>().ok()?, b.parse::<u32>().ok()?),
            None => {
                let n = part.parse::<u32>().ok()?;
                (n, n)
            }
        };
        found |= (lo..=hi).contains(&cpu);
    }
    Some(found)
}

/// `--FLAG N` must name an online CPU (the kernel refuses to pin a thread elsewhere). Where the
/// system does not list its CPUs, anything goes (the kernel then says no at the start).
pub fn online_cpu(flag: &str, cpu: Option<u32>) -> anyhow::Result<()> {
    let (Some(cpu), Some(list)) = (cpu, online_cpus()) else {
        return Ok(());
    };
    match in_cpu_list(&list, cpu) {
        Some(false) => Err(UsageError(format!(
            "--{flag}: CPU {cpu} does not exist or is offline (online CPUs: {list})"
        ))
        .into()),
        _ => Ok(()),
    }
}

/// `--payload-file` must be a regular file: a device (`/dev/zero`), a FIFO or a socket has no
/// length to loop over and may never end, so it is refused by name rather than read.
pub fn regular_file(flag: &str, path: &Path) -> anyhow::Result<()> {
    let meta = std::fs::metadata(path)
        .map_err(|e| UsageError(format!("--{flag}: {}: {e}", path.display())))?;
    if meta.is_file() {
        return Ok(());
    }
    Err(UsageError(format!(
        "--{flag}: {} is not a regular file ({}); devices, FIFOs and sockets are not read: \
         copy the bytes into a file first",
        path.display(),
        kind(&meta.file_type())
    ))
    .into())
}

fn kind(t: &std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if t.is_char_device() {
            return "a character device";
        }
        if t.is_block_device() {
            return "a block device";
        }
        if t.is_fifo() {
            return "a FIFO";
        }
        if t.is_socket() {
            return "a socket";
        }
    }
    if t.is_dir() {
        "a directory"
    } else {
        "not a plain file"
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_lists_as_the_kernel_writes_them() {
        assert_eq!(in_cpu_list("0-3,6", 2), Some(true));
        assert_eq!(in_cpu_list("0-3,6", 6), Some(true));
        assert_eq!(in_cpu_list("0-3,6", 5), Some(false));
        assert_eq!(in_cpu_list("0", 0), Some(true));
        assert_eq!(in_cpu_list("0", 1), Some(false));
        assert_eq!(in_cpu_list("x", 1), None);
    }

    #[test]
    fn a_directory_is_not_a_payload_file() {
        let e = regular_file("payload-file", Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap_err();
        assert!(e.to_string().contains("a directory"), "{e}");
        let cargo_toml = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
        regular_file("payload-file", Path::new(cargo_toml)).unwrap();
    }
}
