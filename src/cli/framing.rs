//! The data-format flags of `send` and `recv` (`--format` and what goes with it), kept in one
//! block of their own.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

use super::UsageError;
use ringshot::engine::{PacketSource, PatternSource};
use ringshot::framing::{
    whole_packet_heap, FileSource, Format, Framing, IntegerTime, Spead, DEFAULT_HEAP_SIZE,
    DEFAULT_ITEM_ID, DEFAULT_SAMPLE_BYTES,
};
use ringshot::pacing::Rate;
use ringshot::recv::spead::SpeadConfig;
use ringshot::wire::spead::Flavour;
use ringshot::wire::vrt::{ClassId, Tsi};

/// `send`'s data-format flags.
#[derive(Debug, Args)]
pub struct SendFraming {
    /// Data packet format: ringshot, raw, usrp2, vrt, chdr or spead.
    ///
    /// ringshot's header, none (raw), a device's own (usrp2, vrt, chdr), or SPEAD heaps.
    #[arg(long, default_value = "ringshot", value_name = "FORMAT")]
    pub format: Format,
    /// Timestamp every packet with its sample count.
    ///
    /// sample-count: VRT TSF = 1 for vrt/usrp2, the timestamp word for chdr, starting at 0 and
    /// advancing by the samples in each packet.
    #[arg(long, value_name = "sample-count", value_parser = parse_tsf)]
    pub tsf: Option<bool>,
    /// VRT / USRP2: an integer-seconds timestamp in every packet.
    ///
    /// VITA-49 TSI 1, 2, 3, from the stream's start second: utc = the wall clock's UNIX seconds, gps = the wall clock as GPS
    /// seconds (since 1980-01-06, 18 leap seconds ahead of UTC), other = 0; --start-time sets
    /// it. It advances as the samples sent pass whole seconds at the sample rate.
    #[arg(long, value_name = "utc|gps|other", value_parser = parse_tsi)]
    pub tsi: Option<Tsi>,
    /// With --tsi: the integer second of the first sample.
    #[arg(long, value_name = "SECS", requires = "tsi")]
    pub start_time: Option<u32>,
    /// Samples per second for timestamps (25Msps, 500ksps, 1e6).
    ///
    /// With --tsi the second advances at it, and the TSF counts samples within the second [default: --rate when in sps].
    #[arg(long, value_name = "RATE", value_parser = parse_sample_rate)]
    pub sample_rate: Option<f64>,
    /// Samples per packet: each packet carries exactly this many samples [default: as many as
    /// fit].
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub samples_per_packet: Option<u64>,
    /// Bytes per sample (4 for sc16).
    ///
    /// At least 1 and at most a datagram; usrp2, vrt and chdr packets must hold one sample.
    #[arg(long, default_value_t = DEFAULT_SAMPLE_BYTES, value_name = "BYTES",
          value_parser = parse_sample_bytes)]
    pub sample_bytes: usize,
    /// CHDR destination endpoint id.
    #[arg(long, default_value_t = 0, value_name = "EPID")]
    pub dst_epid: u16,
    /// Stream this file's bytes instead of the check pattern.
    #[arg(long, value_name = "PATH")]
    pub payload_file: Option<PathBuf>,
    /// With --payload-file: start again from the top at the end of the file.
    #[arg(long = "loop", requires = "payload_file")]
    pub looped: bool,
    /// VRT / USRP2: a class id in every packet, OUI:INFO:PACKET in hex (e.g. 0012A2:0001:0002).
    #[arg(long, value_name = "OUI:INFO:PACKET", value_parser = parse_class_id)]
    pub class_id: Option<ClassId>,
    /// VRT / USRP2: end every packet with this trailer word (hex or decimal).
    #[arg(long, value_name = "WORD", value_parser = parse_u32)]
    pub trailer: Option<u32>,
    /// SPEAD: bytes of data per heap [default: whole packets' data within 65536 bytes].
    ///
    /// The default is the most whole packets' data that fits in 65536 bytes, 65504 at 1472-byte
    /// packets, so no heap ends in a short packet that would end a GSO run.
    #[arg(long, value_name = "BYTES")]
    pub heap_size: Option<u64>,
    /// SPEAD: send exactly this many data heaps, then the stop heap.
    #[arg(long, value_name = "N", conflicts_with_all = ["count", "duration"],
          value_parser = clap::value_parser!(u64).range(1..))]
    pub heaps: Option<u64>,
    /// SPEAD: heap address width.
    #[arg(long, default_value = "64-40", value_name = "64-40|64-48")]
    pub flavour: Flavour,
    /// SPEAD: heap cnt of the first heap (several senders into one receiver: their indices).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub heap_cnt_start: u64,
    /// SPEAD: heap cnt step between heaps (several senders: their number).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub heap_cnt_step: u64,
}

/// `--sample-bytes`: at least 1, and no larger than the largest UDP datagram.
fn parse_sample_bytes(s: &str) -> Result<usize, String> {
    let max = ringshot::config::MAX_UDP_PAYLOAD;
    match s.trim().parse::<u64>() {
        Ok(n) if (1..=max as u64).contains(&n) => Ok(n as usize),
        Ok(n) => Err(format!(
            "{n} bytes is not a sample size (1 to {max}, the largest datagram)"
        )),
        Err(_) => Err(format!("'{s}' is not a byte count from 1 to {max}")),
    }
}

fn parse_u32(s: &str) -> Result<u32, String> {
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16),
        None => s.parse(),
    }
    .map_err(|_| format!("'{s}' is not a 32-bit number"))
}

fn parse_class_id(s: &str) -> Result<ClassId, String> {
    let parts: Vec<&str> = s.split(':').collect();
    let bad = || format!("'{s}' is not OUI:INFO:PACKET in hex (e.g. 0012A2:0001:0002)");
    let [oui, info, packet] = parts[..] else {
        return Err(bad());
    };
    let oui = u32::from_str_radix(oui, 16).map_err(|_| bad())?;
    if oui > 0x00FF_FFFF {
        return Err(bad());
    }
    Ok(ClassId {
        oui,
        info_class: u16::from_str_radix(info, 16).map_err(|_| bad())?,
        packet_class: u16::from_str_radix(packet, 16).map_err(|_| bad())?,
    })
}

fn parse_tsi(s: &str) -> Result<Tsi, String> {
    match s {
        "utc" => Ok(Tsi::Utc),
        "gps" => Ok(Tsi::Gps),
        "other" => Ok(Tsi::Other),
        _ => Err(format!("'{s}' is not utc, gps or other")),
    }
}

/// `--sample-rate`: `25Msps`, `500ksps`, or a plain number of samples per second.
fn parse_sample_rate(s: &str) -> Result<f64, String> {
    let plain = s.trim().parse::<f64>().ok();
    let sps = match plain {
        Some(v) => v,
        None => match parse_rate(s)? {
            RateArg::Samples(v) => v,
            RateArg::Packets(_) => return Err(format!("'{s}' is not in samples per second")),
        },
    };
    if !(sps.is_finite() && sps >= 1.0 && sps.fract() == 0.0 && sps <= u64::MAX as f64) {
        return Err(format!("'{s}' is not a whole number of samples per second"));
    }
    Ok(sps)
}

/// Seconds from the UNIX epoch to the GPS epoch (1980-01-06T00:00:00Z).
const GPS_EPOCH_UNIX: u64 = 315_964_800;
/// Leap seconds GPS time is ahead of UTC (since 2017-01-01).
const GPS_LEAP_SECONDS: u64 = 18;

fn parse_tsf(s: &str) -> Result<bool, String> {
    match s {
        "sample-count" => Ok(true),
        "none" => Ok(false),
        _ => Err(format!("'{s}' is not sample-count or none")),
    }
}

/// `--rate`: packets or bits per second, or samples per second (`25Msps`) for SDR streams.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum RateArg {
    Packets(Rate),
    /// Samples per second, converted with the samples each packet carries.
    Samples(f64),
}

/// Parses `--rate`: `68870pps`, `850Mbps`, or `25Msps`, `500ksps`, `1e6sps`.
pub fn parse_rate(s: &str) -> Result<RateArg, String> {
    let t = s.trim();
    let scaled = [("Gsps", 1e9), ("Msps", 1e6), ("ksps", 1e3), ("sps", 1.0)]
        .into_iter()
        .find_map(|(unit, k)| t.strip_suffix(unit).map(|n| (n, k)));
    match scaled {
        Some((num, k)) => {
            let v: f64 = num
                .replace('_', "")
                .parse()
                .map_err(|_| format!("'{s}' does not start with a number"))?;
            if !(v * k).is_finite() || v * k <= 0.0 {
                return Err(format!("'{s}' is not a positive sample rate"));
            }
            Ok(RateArg::Samples(v * k))
        }
        None => super::units::rate(t).map(RateArg::Packets),
    }
}

impl SendFraming {
    /// The framing these flags choose, with the TSI's start second from `--start-time` (or 0:
    /// [`timed`](Self::timed) reads the clock).
    pub fn framing(&self) -> Framing {
        Framing {
            tsi: self.tsi.map(|kind| IntegerTime {
                kind,
                start: self.start_time.unwrap_or(0),
            }),
            sample_rate: self.sample_rate.map_or(0, |r| r as u64),
            format: self.format,
            sample_count_ts: self.tsf.unwrap_or(false),
            sample_bytes: self.sample_bytes,
            dst_epid: self.dst_epid,
            class_id: self.class_id,
            trailer: self.trailer,
            spead: Spead {
                flavour: self.flavour,
                heap_size: self.heap_size.unwrap_or(DEFAULT_HEAP_SIZE),
                first_heap_cnt: self.heap_cnt_start,
                heap_cnt_step: self.heap_cnt_step,
                item_id: DEFAULT_ITEM_ID,
            },
        }
    }

    /// The framing to send: [`framing`](Self::framing) with the sample rate (`--sample-rate`, or
    /// `--rate` in samples per second) and the TSI's start second read from the wall clock when
    /// `--start-time` is not given.
    pub fn timed(&self, rate: Option<RateArg>, app_len: usize) -> anyhow::Result<Framing> {
        let mut f = self.framing();
        f.spead.heap_size = self.heap_size_for(app_len);
        // Only an integer timestamp needs the sample rate; pacing takes any rate.
        if let (true, 0, Some(RateArg::Samples(sps))) = (f.tsi.is_some(), f.sample_rate, rate) {
            if sps.fract() != 0.0 || sps > u64::MAX as f64 {
                return Err(UsageError(format!(
                    "--rate: timestamps need a whole number of samples per second, not {sps}"
                ))
                .into());
            }
            f.sample_rate = sps as u64;
        }
        if let (Some(t), None) = (f.tsi.as_mut(), self.start_time) {
            let unix = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs());
            let secs = match t.kind {
                Tsi::Utc => unix,
                Tsi::Gps => (unix + GPS_LEAP_SECONDS).saturating_sub(GPS_EPOCH_UNIX),
                Tsi::Other => 0,
            };
            t.start = u32::try_from(secs).map_err(|_| {
                UsageError(format!(
                    "--tsi: {secs} seconds do not fit the 32-bit integer timestamp"
                ))
            })?;
        }
        Ok(f)
    }

    /// SPEAD's heap size: `--heap-size`, or the most whole packets of `app_len` data bytes
    /// within [`DEFAULT_HEAP_SIZE`] (at least one packet).
    pub fn heap_size_for(&self, app_len: usize) -> u64 {
        self.heap_size
            .unwrap_or_else(|| whole_packet_heap(DEFAULT_HEAP_SIZE, app_len as u64))
    }

    /// Whether the format carries samples (usrp2, vrt, chdr): its packets hold whole samples.
    fn sampled(&self) -> bool {
        matches!(self.format, Format::Vrt | Format::Usrp2 | Format::Chdr)
    }

    /// Bytes of app payload each generated packet carries: the samples asked for, or the
    /// framing's whole room (usrp2, vrt, chdr: the whole samples in it). A usage error when the
    /// samples do not fit.
    pub fn app_len(&self, payload: usize) -> anyhow::Result<usize> {
        let room = self.framing().max_app_payload(payload);
        let Some(spp) = self.samples_per_packet else {
            if self.sampled() {
                return Ok(room - room % self.sample_bytes.max(1));
            }
            return Ok(room);
        };
        match usize::try_from(spp)
            .ok()
            .and_then(|n| n.checked_mul(self.sample_bytes))
        {
            Some(bytes) if bytes <= room => Ok(bytes),
            _ => Err(UsageError(format!(
                "--samples-per-packet: {spp} samples of {} bytes do not fit in the {room} bytes a \
                 {}-byte {} packet leaves",
                self.sample_bytes, payload, self.format
            ))
            .into()),
        }
    }

    /// Checks `--payload` against the framing: usrp2, vrt and chdr packets must hold the header
    /// and one sample (a usage error naming `--payload`, or `--sample-bytes` where a default
    /// sample would fit). Returns a note when the packets sent are smaller than `--payload`
    /// because the format sends whole words (vrt, usrp2: 4 bytes; SPEAD: 8) or whole samples.
    pub fn check_payload(&self, payload: usize) -> anyhow::Result<Option<String>> {
        let f = self.framing();
        let room = f.max_app_payload(payload);
        let framing_len = f.header_len() + f.tail_len();
        // VRT pads the samples to whole words.
        let align = self.format.align();
        let on_wire = |app: usize| framing_len + app.div_ceil(align) * align;
        if self.sampled() && room < self.sample_bytes {
            let (fmt, sample) = (self.format, self.sample_bytes);
            let need = on_wire(sample);
            let msg = if room >= DEFAULT_SAMPLE_BYTES {
                format!(
                    "--sample-bytes: a {sample}-byte sample does not fit in the {room} bytes a \
                     {payload}-byte {fmt} packet leaves (--payload {need} or more)"
                )
            } else {
                format!(
                    "--payload: {payload} bytes leave no room for a {sample}-byte sample after \
                     the {framing_len}-byte {fmt} header: {need} bytes or more"
                )
            };
            return Err(UsageError(msg).into());
        }
        if self.samples_per_packet.is_some() || room == 0 {
            return Ok(None);
        }
        let app = self.app_len(payload)?;
        let sent = on_wire(app);
        let whole = if app < room {
            format!("whole {}-byte samples", self.sample_bytes)
        } else {
            format!("whole {align}-byte words")
        };
        Ok((sent < payload).then(|| {
            format!(
                "--payload {payload}: {} packets carry {whole}: sending {sent}-byte packets",
                self.format
            )
        }))
    }

    /// The packet count `--heaps` asks for (each heap is cut into packets of the app room), or
    /// `count` when it is not given. A usage error outside SPEAD.
    pub fn count(&self, app_len: usize, count: Option<u64>) -> anyhow::Result<Option<u64>> {
        let Some(heaps) = self.heaps else {
            return Ok(count);
        };
        if self.format != Format::Spead {
            return Err(
                UsageError("--heaps: only means something with --format spead".into()).into(),
            );
        }
        if app_len == 0 {
            return Err(
                UsageError("--heaps: the packets have no room for heap data".into()).into(),
            );
        }
        let per_heap = self.heap_size_for(app_len).div_ceil(app_len as u64);
        heaps
            .checked_mul(per_heap)
            .map(Some)
            .ok_or_else(|| UsageError(format!("--heaps: {heaps} heaps is too many packets")).into())
    }

    /// `--rate` in packets per second terms: a sample rate is divided by the samples each
    /// packet carries.
    pub fn rate(&self, arg: RateArg, app_len: usize) -> anyhow::Result<Rate> {
        match arg {
            RateArg::Packets(r) => Ok(r),
            RateArg::Samples(sps) => {
                let spp = (app_len / self.sample_bytes.max(1)) as f64;
                if spp < 1.0 {
                    return Err(UsageError(
                        "--rate: a sample rate needs packets that carry at least one sample".into(),
                    )
                    .into());
                }
                Ok(Rate::Pps(sps / spp))
            }
        }
    }

    /// The generator: the check pattern, or the payload file.
    pub fn source(
        &self,
        app_len: usize,
        count: Option<u64>,
        duration: Option<Duration>,
    ) -> anyhow::Result<Box<dyn PacketSource>> {
        Ok(match &self.payload_file {
            None => Box::new(PatternSource::with_app_len(app_len, count, duration)),
            Some(path) => Box::new({
                super::checks::regular_file("payload-file", path)?;
                FileSource::open(path, app_len, self.looped, count, duration)
                    .map_err(|e| UsageError(format!("--payload-file: {}: {e}", path.display())))?
            }),
        })
    }
}

/// `recv`'s data-format flags.
#[derive(Debug, Args)]
pub struct RecvFraming {
    /// Data packet format to check: ringshot, raw, usrp2, vrt, chdr or spead.
    ///
    /// ringshot's header, raw (no sequence: counted only), a device's own (usrp2 word and TSI,
    /// VRT packet count and TSI, CHDR SeqNum), or SPEAD (heaps reassembled; with --device, heap
    /// cnt and offsets checked).
    #[arg(long, default_value = "ringshot", value_name = "FORMAT")]
    pub format: Format,
    /// Do not check payload bytes against the check pattern (for streams of file data).
    #[arg(long)]
    pub no_verify: bool,
    /// SPEAD: accept a heap's packets in any order (by default they must come in offset order).
    #[arg(long)]
    pub allow_out_of_order: bool,
    /// SPEAD: heaps under construction per substream.
    #[arg(long, default_value_t = ringshot::recv::spead::DEFAULT_MAX_HEAPS, value_name = "N")]
    pub max_heaps: usize,
    /// SPEAD: substreams (heap cnt mod N picks one), each with its own --max-heaps.
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub substreams: usize,
    /// SPEAD: the sender's heap cnt step, for the heap sequence check (framing errors).
    #[arg(long, default_value_t = 1, value_name = "N")]
    pub heap_cnt_step: u64,
}

impl RecvFraming {
    /// The SPEAD reassembly these flags ask for; a usage error naming the flag when out of range,
    /// or when SPEAD options come without `--format spead`.
    pub fn spead(&self) -> anyhow::Result<SpeadConfig> {
        let cfg = SpeadConfig {
            allow_out_of_order: self.allow_out_of_order,
            max_heaps: self.max_heaps,
            substreams: self.substreams,
        };
        if self.format != Format::Spead && cfg != SpeadConfig::default() {
            return Err(UsageError(
                "--max-heaps / --substreams / --allow-out-of-order: only mean something with \
                 --format spead"
                    .into(),
            )
            .into());
        }
        if self.format != Format::Spead && self.heap_cnt_step != 1 {
            return Err(UsageError(
                "--heap-cnt-step: only means something with --format spead".into(),
            )
            .into());
        }
        cfg.validate()
            .map_err(|(flag, why)| UsageError(format!("--{flag}: {why}")))?;
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates() {
        assert_eq!(parse_rate("25Msps"), Ok(RateArg::Samples(25e6)));
        assert_eq!(parse_rate("500ksps"), Ok(RateArg::Samples(5e5)));
        assert_eq!(parse_rate("10pps"), Ok(RateArg::Packets(Rate::Pps(10.0))));
        assert!(parse_rate("0sps").is_err());
        assert!(parse_rate("xMsps").is_err());
        assert!(parse_rate("5").is_err());
    }
}
