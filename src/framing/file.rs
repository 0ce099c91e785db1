//! [`FileSource`]: a pull-mode source that streams a file's bytes, as a radio's
//! "transmit samples from file" tool does.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::engine::PacketSource;

/// Bytes read from the file per system call.
const READ_AHEAD: usize = 1 << 20;

/// Streams a file in packets of `app_len` bytes (the last one of a pass may be shorter), once or
/// looped, for at most `count` packets or `duration`. Reads go through a 1 MiB buffer: no system
/// call per packet.
///
/// ```
/// use ringshot::framing::FileSource;
/// use ringshot::PacketSource;
/// # fn main() -> std::io::Result<()> {
/// let path = std::env::temp_dir().join(format!("ringshot-doc-{}.bin", std::process::id()));
/// std::fs::write(&path, b"0123456789")?;
/// // Packets of 4 bytes, the file once: 4 + 4 + 2 bytes, then the stream is over.
/// let mut src = FileSource::open(&path, 4, false, None, None)?;
/// let mut buf = [0u8; 4];
/// assert_eq!(src.fill(0, &mut buf), Some(4));
/// assert_eq!(src.fill(1, &mut buf), Some(4));
/// assert_eq!((src.fill(2, &mut buf), &buf[..2]), (Some(2), &b"89"[..]));
/// assert_eq!(src.fill(3, &mut buf), None);
/// assert_eq!(src.read_error(), None);
/// // Looped: the file again from the top, here for at most 5 packets.
/// let mut looped = FileSource::open(&path, 4, true, Some(5), None)?;
/// assert_eq!((0..10).filter_map(|s| looped.fill(s, &mut buf)).count(), 5);
/// std::fs::remove_file(&path)?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct FileSource {
    file: BufReader<File>,
    app_len: usize,
    looped: bool,
    count: Option<u64>,
    duration: Option<Duration>,
    deadline: Option<Instant>,
    sent: u64,
    /// The first read error, if one ended the stream.
    error: Option<io::ErrorKind>,
}

impl FileSource {
    /// Opens `path`. An empty file is refused ([`io::ErrorKind::InvalidInput`]): looping it
    /// would send nothing forever.
    pub fn open(
        path: &Path,
        app_len: usize,
        looped: bool,
        count: Option<u64>,
        duration: Option<Duration>,
    ) -> io::Result<FileSource> {
        let file = File::open(path)?;
        if file.metadata()?.len() == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the file is empty",
            ));
        }
        if app_len == 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "packets have no room for file bytes",
            ));
        }
        Ok(FileSource {
            file: BufReader::with_capacity(READ_AHEAD, file),
            app_len,
            looped,
            count,
            duration,
            deadline: None,
            sent: 0,
            error: None,
        })
    }

    /// Whether a read error ended the stream early.
    pub fn read_error(&self) -> Option<io::ErrorKind> {
        self.error
    }

    /// Fills `buf` from the file; at the end of a looped file, starts again from the top.
    fn read_packet(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut n = 0;
        let mut rewound = false;
        while n < buf.len() {
            match self.file.read(&mut buf[n..]) {
                Ok(0) if self.looped && !rewound => {
                    self.file.seek(SeekFrom::Start(0))?;
                    rewound = true;
                }
                Ok(0) => break,
                Ok(k) => {
                    n += k;
                    rewound = false;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(n)
    }
}

impl PacketSource for FileSource {
    fn fill(&mut self, _seq: u64, buf: &mut [u8]) -> Option<usize> {
        if self.count.is_some_and(|c| self.sent >= c) {
            return None;
        }
        if let Some(d) = self.duration {
            if self.sent.is_multiple_of(64) {
                let now = Instant::now();
                if now >= *self.deadline.get_or_insert(now + d) {
                    return None;
                }
            }
        }
        let want = self.app_len.min(buf.len());
        match self.read_packet(&mut buf[..want]) {
            Ok(0) => None,
            Ok(n) => {
                self.sent += 1;
                Some(n)
            }
            Err(e) => {
                log::warn!("reading the payload file: {e}");
                self.error = Some(e.kind());
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn file_of(bytes: &[u8]) -> (tempdir::Dir, std::path::PathBuf) {
        let dir = tempdir::Dir::new();
        let path = dir.0.join("payload.bin");
        File::create(&path).unwrap().write_all(bytes).unwrap();
        (dir, path)
    }

    /// A directory removed when dropped (no crate needed for this much).
    mod tempdir {
        pub struct Dir(pub std::path::PathBuf);
        impl Dir {
            pub fn new() -> Dir {
                use std::sync::atomic::{AtomicU32, Ordering};
                static N: AtomicU32 = AtomicU32::new(0);
                let p = std::env::temp_dir().join(format!(
                    "ringshot-filesource-{}-{}",
                    std::process::id(),
                    N.fetch_add(1, Ordering::Relaxed)
                ));
                std::fs::create_dir_all(&p).unwrap();
                Dir(p)
            }
        }
        impl Drop for Dir {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
    }

    fn drain(s: &mut FileSource, limit: usize) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64];
        while out.len() < limit {
            match s.fill(0, &mut buf) {
                Some(n) => out.push(buf[..n].to_vec()),
                None => break,
            }
        }
        out
    }

    #[test]
    fn once_then_looped() {
        let (_d, path) = file_of(b"abcdefghij");
        let mut once = FileSource::open(&path, 4, false, None, None).unwrap();
        assert_eq!(drain(&mut once, 10), [&b"abcd"[..], b"efgh", b"ij"]);
        let mut looped = FileSource::open(&path, 4, true, Some(4), None).unwrap();
        assert_eq!(
            drain(&mut looped, 10),
            [&b"abcd"[..], b"efgh", b"ijab", b"cdef"]
        );
    }

    #[test]
    fn refuses_empty_and_missing() {
        let (_d, path) = file_of(b"");
        let e = FileSource::open(&path, 4, true, None, None).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        let missing = path.with_file_name("nope");
        assert!(FileSource::open(&missing, 4, false, None, None).is_err());
    }
}
