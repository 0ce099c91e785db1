//! `--profile`: `perf record -g -e cpu-clock` on the TX core while a case runs (software events
//! only, which is all a VM like this one offers; the frame-pointer build unwinds the user stack),
//! then `perf script`, folded stacks and an SVG flame graph drawn by inferno. Recording the core
//! rather than one thread also catches the softirq work the sends trigger on it.

use std::io::{BufReader, BufWriter, Cursor};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use super::peers::process::Proc;

/// A running `perf record`.
#[derive(Debug)]
pub struct Recording {
    perf: Proc,
    data: PathBuf,
}

/// Why profiling cannot run here, if it cannot.
pub fn unavailable_reason() -> Option<String> {
    if super::wire::netns::which("perf").is_none() {
        return Some("perf is not installed (Debian package linux-perf)".into());
    }
    None
}

/// Starts `perf record -g -e cpu-clock` on `core` (every core when `None`), writing `data`,
/// for at most `limit`.
pub fn start(core: Option<usize>, data: &Path, limit: Duration) -> Result<Recording, String> {
    if let Some(r) = unavailable_reason() {
        return Err(r);
    }
    let perf = super::wire::netns::which("perf").ok_or("perf is not installed")?;
    let mut args: Vec<String> = ["record", "-q", "-g", "-e", "cpu-clock", "-F", "999"]
        .map(String::from)
        .to_vec();
    match core {
        Some(c) => args.extend(["-C".into(), c.to_string()]),
        None => args.push("-a".into()),
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
    /// Stops the recording and writes `folded` (one stack per line with its count) and `svg`.
    pub fn finish(self, folded: &Path, svg: &Path, title: &str) -> Result<(), String> {
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

/// Folds `perf script` output into stacks and draws the flame graph.
pub fn fold_and_draw(script: &[u8], folded: &Path, svg: &Path, title: &str) -> Result<(), String> {
    use inferno::collapse::Collapse;
    let mut stacks = Vec::new();
    inferno::collapse::perf::Folder::default()
        .collapse(BufReader::new(Cursor::new(script)), &mut stacks)
        .map_err(|e| format!("folding perf script: {e}"))?;
    std::fs::write(folded, &stacks).map_err(|e| format!("{}: {e}", folded.display()))?;
    let text = String::from_utf8_lossy(&stacks);
    if text.trim().is_empty() {
        return Err("perf recorded no samples".into());
    }
    let mut opt = inferno::flamegraph::Options::default();
    opt.title = title.to_string();
    opt.count_name = "samples".into();
    let f = std::fs::File::create(svg).map_err(|e| format!("{}: {e}", svg.display()))?;
    inferno::flamegraph::from_lines(&mut opt, text.lines(), BufWriter::new(f))
        .map_err(|e| format!("flame graph: {e}"))
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
        fold_and_draw(script, &folded, &svg, "test").unwrap();
        let f = std::fs::read_to_string(&folded).unwrap();
        // perf reports cpu-clock samples with their period (ns): two samples of 1,001,001.
        assert_eq!(
            f.trim_end(),
            "ringshot-tx;ringshot::engine::run;udp_sendmsg 2002002"
        );
        let s = std::fs::read_to_string(&svg).unwrap();
        assert!(s.contains("<svg") && s.contains("udp_sendmsg"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
