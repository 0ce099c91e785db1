//! `--profile`: `perf record -g -e cpu-clock` of this process on the TX core while a case runs
//! (software events only, which is all a VM like this one offers; the frame-pointer build unwinds
//! the user stack), then `perf script`, folded stacks and an SVG flame graph drawn by inferno.
//! The softirq work the sends raise runs in the TX thread's context, so its samples include it.

use std::io::{BufReader, BufWriter, Cursor};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::peers::process::Proc;

/// What a recording says about the TX thread, from its samples on the core.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ProfileSummary {
    /// Share of this process's samples on the TX core that were the TX thread's.
    pub tx_share: f64,
    /// Share of the TX thread's samples spent in the kernel.
    pub kernel_share: f64,
    /// The TX thread's hottest leaf frames, with their share of its samples.
    pub top_frames: Vec<(String, f64)>,
}

/// The TX thread's name, the first frame of its folded stacks.
pub const TX_THREAD: &str = "ringshot-tx";

/// A running `perf record`.
#[derive(Debug)]
pub struct Recording {
    perf: Proc,
    data: PathBuf,
}

/// Why profiling cannot run here, if it cannot.
pub fn unavailable_reason() -> Option<String> {
    if super::which("perf").is_none() {
        return Some("perf is not installed (Debian package linux-perf)".into());
    }
    None
}

/// Starts `perf record -g -e cpu-clock` of this process on `core` (every core when `None`),
/// writing `data`, for at most `limit` (`-- sleep`) or until [`Recording::finish`].
pub fn start(core: Option<usize>, data: &Path, limit: Duration) -> Result<Recording, String> {
    if let Some(r) = unavailable_reason() {
        return Err(r);
    }
    let perf = super::which("perf").ok_or("perf is not installed")?;
    let mut args: Vec<String> = ["record", "-q", "-g", "-e", "cpu-clock", "-F", "999"]
        .map(String::from)
        .to_vec();
    // This process only (other programs may name a thread ringshot-tx too), on the TX core.
    args.extend(["-p".into(), std::process::id().to_string()]);
    if let Some(c) = core {
        args.extend(["-C".into(), c.to_string()]);
    }
    args.extend([
        "-o".into(),
        data.display().to_string(),
        "--".into(),
        "sleep".into(),
    ]);
    args.push(format!("{}", limit.as_secs_f64().ceil().max(1.0) as u64));
    let p = Proc::spawn(&perf, &args, None).map_err(|e| e.to_string())?;
    // perf needs a moment to open its events before the case starts.
    std::thread::sleep(Duration::from_millis(300));
    Ok(Recording {
        perf: p,
        data: data.to_path_buf(),
    })
}

impl Recording {
    /// Stops the recording and writes `folded` (the TX thread's stacks, kernel frames marked
    /// `_[k]`, each with its sampled time) and `svg`.
    pub fn finish(self, folded: &Path, svg: &Path, title: &str) -> Result<ProfileSummary, String> {
        let fin = self
            .perf
            .interrupt(Duration::from_secs(20))
            .map_err(|e| e.to_string())?;
        if !self.data.exists() {
            return Err(format!("perf record wrote nothing: {}", fin.stderr.trim()));
        }
        let script = Command::new("perf")
            .args(["script", "-i"])
            .arg(&self.data)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("perf script: {e}"))?;
        let _ = std::fs::remove_file(&self.data);
        fold_and_draw(&script.stdout, folded, svg, title)
    }
}

/// Folds `perf script` output into stacks, keeps the TX thread's, draws its flame graph and
/// summarises it.
pub fn fold_and_draw(
    script: &[u8],
    folded: &Path,
    svg: &Path,
    title: &str,
) -> Result<ProfileSummary, String> {
    use inferno::collapse::Collapse;
    let mut stacks = Vec::new();
    let mut fo = inferno::collapse::perf::Options::default();
    fo.annotate_kernel = true;
    inferno::collapse::perf::Folder::from(fo)
        .collapse(BufReader::new(Cursor::new(script)), &mut stacks)
        .map_err(|e| format!("folding perf script: {e}"))?;
    let text = String::from_utf8_lossy(&stacks);
    let (sum, tx) = summarise(&text);
    std::fs::write(folded, tx.join("\n") + "\n")
        .map_err(|e| format!("{}: {e}", folded.display()))?;
    if tx.is_empty() {
        return Err(format!("perf recorded no samples of {TX_THREAD}"));
    }
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = format!(
        "{title} ({:.0} % of the process's samples on the core; {:.0} % of them in the kernel)",
        100.0 * sum.tx_share,
        100.0 * sum.kernel_share
    );
    opt.count_name = "ns".into();
    let f = std::fs::File::create(svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    inferno::flamegraph::from_lines(&mut opt, tx.iter().map(String::as_str), BufWriter::new(f))
        .map_err(|e| format!("flame graph: {e}"))?;
    Ok(sum)
}

/// The summary of folded stacks, and the TX thread's lines.
pub fn summarise(folded: &str) -> (ProfileSummary, Vec<String>) {
    let mut all = 0u64;
    let mut tx_total = 0u64;
    let mut kernel = 0u64;
    let mut leaves: std::collections::BTreeMap<&str, u64> = Default::default();
    let mut tx = Vec::new();
    for line in folded.lines() {
        let Some((stack, n)) = line.rsplit_once(' ') else {
            continue;
        };
        let Ok(n) = n.parse::<u64>() else {
            continue;
        };
        all = all.saturating_add(n);
        if !stack.starts_with(TX_THREAD) {
            continue;
        }
        tx_total = tx_total.saturating_add(n);
        let leaf = stack.rsplit(';').next().unwrap_or(stack);
        if leaf.ends_with("_[k]") {
            kernel = kernel.saturating_add(n);
        }
        *leaves.entry(leaf).or_default() += n;
        tx.push(line.to_string());
    }
    let share = |x: u64, of: u64| if of == 0 { 0.0 } else { x as f64 / of as f64 };
    let mut top: Vec<(String, f64)> = leaves
        .into_iter()
        .map(|(k, v)| (k.to_string(), share(v, tx_total)))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(12);
    let sum = ProfileSummary {
        tx_share: share(tx_total, all),
        kernel_share: share(kernel, tx_total),
        top_frames: top,
    };
    (sum, tx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perf_script_text_folds_into_a_flame_graph() {
        let script = b"ringshot-tx 1234 [000] 100.000001: 1001001 cpu-clock:\n\
\tffffffff81000001 udp_sendmsg+0x1 ([kernel.kallsyms])\n\
\t000055555555a000 ringshot::engine::run+0x10 (/usr/bin/ringshot)\n\
\n\
ringshot-tx 1234 [000] 100.001002: 1001001 cpu-clock:\n\
\tffffffff81000001 udp_sendmsg+0x1 ([kernel.kallsyms])\n\
\t000055555555a000 ringshot::engine::run+0x10 (/usr/bin/ringshot)\n\
\n";
        let dir = std::env::temp_dir().join(format!("ringshot-fold-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (folded, svg) = (dir.join("t.folded"), dir.join("t.svg"));
        let sum = fold_and_draw(script, &folded, &svg, "test").unwrap();
        assert_eq!((sum.tx_share, sum.kernel_share), (1.0, 1.0));
        let f = std::fs::read_to_string(&folded).unwrap();
        // perf reports cpu-clock samples with their period (ns): two samples of 1,001,001.
        assert_eq!(
            f.trim_end(),
            "ringshot-tx;ringshot::engine::run;udp_sendmsg_[k] 2002002"
        );
        let s = std::fs::read_to_string(&svg).unwrap();
        assert!(s.contains("<svg") && s.contains("udp_sendmsg"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn shares_count_only_the_tx_thread_and_its_kernel_leaves() {
        let folded = "ringshot-tx;main;udp_sendmsg_[k] 30\nringshot-tx;main;memcpy 10\nrustc;x 60\nbad line\n";
        let (s, tx) = summarise(folded);
        assert_eq!(tx.len(), 2);
        assert_eq!(s.tx_share, 0.4);
        assert_eq!(s.kernel_share, 0.75);
        assert_eq!(s.top_frames[0], ("udp_sendmsg_[k]".to_string(), 0.75));
    }
}
