//! Wireshark's VRT dissector (tshark) decodes what ringshot sends with `--format vrt` and
//! `--format usrp2`, and every field it shows matches what was stamped, packet by packet.
//!
//! The datagrams are the engine's own, captured off loopback by a plain socket; they are written
//! into a pcap file (raw IPv4 link type, with IPv4 and UDP headers put in front) that tshark
//! reads with `-d udp.port==N,vrt`. USRP2 datagrams carry a 32-bit sequence word in front of the
//! VRT packet; the dissector skips it with its Ettus UHD preference. Skips, saying so, when
//! tshark is not installed. Streams with an integer timestamp (TSI) are checked the same way:
//! `vrt.tsi`, `vrt.ts_int` and the fractional sample count within the second.

use std::net::UdpSocket;
use std::process::Command;
use std::time::{Duration, Instant};

use ringshot::engine::{PatternSource, SourceSender};
use ringshot::framing::{Format, Framing, IntegerTime};
use ringshot::pacing::Rate;
use ringshot::wire::vrt::Tsi;
use ringshot::SenderConfig;

const N: usize = 40;
const PAYLOAD: usize = 1200;
const SID: u32 = 0x00C0_FFEE;
const PORT: u16 = 49_999;

fn tshark_missing() -> Option<String> {
    match Command::new("tshark").arg("-v").output() {
        Ok(o) if o.status.success() => None,
        Ok(o) => Some(format!("tshark -v failed: {}", o.status)),
        Err(e) => Some(format!("tshark not runnable: {e}")),
    }
}

/// The engine's datagrams for `framing`, captured off loopback.
fn capture(framing: Framing) -> Vec<Vec<u8>> {
    let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
    sock.set_read_timeout(Some(Duration::from_millis(100)))
        .unwrap();
    let cfg = SenderConfig::builder(sock.local_addr().unwrap())
        .payload(PAYLOAD)
        .framing(framing)
        .stream_id(SID)
        .rate(Rate::Pps(10_000.0))
        .build()
        .unwrap();
    let src = PatternSource::framed(&framing, PAYLOAD, Some(N as u64), None);
    let tx = SourceSender::spawn(cfg, src).unwrap();
    let mut out = Vec::new();
    let mut buf = vec![0u8; 65_536];
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.len() < N && Instant::now() < deadline {
        if let Ok(k) = sock.recv(&mut buf) {
            out.push(buf[..k].to_vec());
        }
    }
    tx.finish().unwrap();
    assert_eq!(out.len(), N, "datagrams captured");
    out
}

/// A pcap file (LINKTYPE_RAW: each record an IPv4 packet) of `datagrams` to port [`PORT`].
fn pcap(datagrams: &[Vec<u8>]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&0xA1B2_C3D4u32.to_le_bytes());
    f.extend_from_slice(&2u16.to_le_bytes());
    f.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65_535, 101] {
        f.extend_from_slice(&v.to_le_bytes());
    }
    for (i, d) in datagrams.iter().enumerate() {
        let total = 20 + 8 + d.len();
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 17, 0, 0, 127, 0, 0, 1, 127, 0, 0, 1,
        ];
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        let sum = ip
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum::<u32>();
        let sum = !((sum & 0xFFFF) + (sum >> 16)) as u16;
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        let mut udp = Vec::new();
        udp.extend_from_slice(&40_000u16.to_be_bytes());
        udp.extend_from_slice(&PORT.to_be_bytes());
        udp.extend_from_slice(&((8 + d.len()) as u16).to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        for v in [i as u32, 0, total as u32, total as u32] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&ip);
        f.extend_from_slice(&udp);
        f.extend_from_slice(d);
    }
    f
}

/// tshark's view of each packet: type, sid, seq, len, tsi, tsf, fractional sample count.
fn dissect(datagrams: &[Vec<u8>], uhd: bool, tag: &str) -> Vec<Vec<String>> {
    dissect_fields(
        datagrams,
        uhd,
        tag,
        &[
            "vrt.type",
            "vrt.sid",
            "vrt.seq",
            "vrt.len",
            "vrt.tsi",
            "vrt.tsf",
            "vrt.ts_frac_sample",
        ],
    )
}

fn dissect_fields(
    datagrams: &[Vec<u8>],
    uhd: bool,
    tag: &str,
    fields: &[&str],
) -> Vec<Vec<String>> {
    let path =
        std::env::temp_dir().join(format!("ringshot-tshark-{tag}-{}.pcap", std::process::id()));
    std::fs::write(&path, pcap(datagrams)).unwrap();
    let mut cmd = Command::new("tshark");
    cmd.args(["-n", "-r"])
        .arg(&path)
        .args(["-d", &format!("udp.port=={PORT},vrt")]);
    if uhd {
        cmd.args(["-o", "vrt.ettus_uhd_header_format:TRUE"]);
    }
    cmd.args(["-T", "fields", "-E", "separator=,"]);
    for f in fields {
        cmd.args(["-e", f]);
    }
    let out = cmd.output().unwrap();
    std::fs::remove_file(&path).ok();
    assert!(
        out.status.success(),
        "tshark: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect()
}

/// Parses tshark's number (decimal or 0x hex).
fn num(s: &str) -> u64 {
    match s.strip_prefix("0x") {
        Some(h) => u64::from_str_radix(h, 16).unwrap_or_else(|_| panic!("{s}")),
        None => s.parse().unwrap_or_else(|_| panic!("{s}")),
    }
}

fn check(format: Format) {
    let framing = Framing {
        sample_count_ts: true,
        ..Framing::of(format)
    };
    let got = capture(framing);
    let rows = dissect(&got, format == Format::Usrp2, format.name());
    assert_eq!(rows.len(), N, "{format}: rows {rows:?}");
    eprintln!("{format}: tshark row 3: {:?}", rows[3]);
    let app = framing.max_app_payload(PAYLOAD);
    let prefix = if format == Format::Usrp2 { 4 } else { 0 };
    for (i, (row, d)) in rows.iter().zip(&got).enumerate() {
        assert_eq!(row.len(), 7, "{format} #{i}: {row:?}");
        let fields: Vec<u64> = row.iter().map(|s| num(s)).collect();
        let want = [
            1,                               // IF data with stream id
            u64::from(SID),                  // stream id
            i as u64 % 16,                   // packet count
            ((d.len() - prefix) / 4) as u64, // size in words
            0,                               // no integer timestamp
            1,                               // sample-count fractional timestamp
            (i * app / 4) as u64,            // samples before this packet
        ];
        assert_eq!(fields, want, "{format} #{i}: tshark {row:?}");
    }
}

/// A VRT stream with a class id and a trailer: tshark sees both flags, the OUI, the class codes
/// and the trailer word, and still the right sequence and length.
fn check_class_id_and_trailer() {
    let framing = Framing {
        class_id: Some(ringshot::wire::vrt::ClassId {
            oui: 0x12A2,
            info_class: 0x0102,
            packet_class: 0x0304,
        }),
        trailer: Some(0x0040_0000),
        ..Framing::of(Format::Vrt)
    };
    let got = capture(framing);
    let fields = [
        "vrt.cidflag",
        "vrt.tflag",
        "vrt.oui",
        "vrt.icc",
        "vrt.pcc",
        "vrt.trailer",
        "vrt.seq",
        "vrt.len",
    ];
    let rows = dissect_fields(&got, false, "vrt-cid", &fields);
    assert_eq!(rows.len(), N, "rows {rows:?}");
    eprintln!("vrt with class id and trailer: tshark row 3: {:?}", rows[3]);
    for (i, (row, d)) in rows.iter().zip(&got).enumerate() {
        let v: Vec<u64> = row.iter().map(|s| num(s)).collect();
        let want = [
            1,
            1,
            0x12A2,
            0x0102,
            0x0304,
            0x0040_0000,
            i as u64 % 16,
            (d.len() / 4) as u64,
        ];
        assert_eq!(v, want, "#{i}: tshark {row:?}");
    }
}

/// A stream with an integer timestamp (TSI, `kind`) from second `START` and a sample-count TSF
/// at 1,000 samples a second: tshark's `vrt.tsi` is the kind, `vrt.ts_int` the second and
/// `vrt.ts_frac_sample` the samples within it, packet by packet, the second stepping as the
/// samples pass it.
fn check_tsi(format: Format, kind: Tsi) {
    const START: u32 = 1_700_000_000;
    const RATE: u64 = 1_000;
    let framing = Framing {
        sample_count_ts: true,
        tsi: Some(IntegerTime { kind, start: START }),
        sample_rate: RATE,
        ..Framing::of(format)
    };
    let got = capture(framing);
    let uhd = format == Format::Usrp2;
    let fields = [
        "vrt.tsi",
        "vrt.ts_int",
        "vrt.tsf",
        "vrt.ts_frac_sample",
        "vrt.seq",
        "vrt.len",
    ];
    let rows = dissect_fields(&got, uhd, &format!("{format}-tsi"), &fields);
    assert_eq!(rows.len(), N, "{format}: rows {rows:?}");
    eprintln!("{format} with TSI: tshark row 5: {:?}", rows[5]);
    let spp = (framing.max_app_payload(PAYLOAD) / 4) as u64;
    let prefix = if uhd { 4 } else { 0 };
    for (i, (row, d)) in rows.iter().zip(&got).enumerate() {
        let v: Vec<u64> = row.iter().map(|s| num(s)).collect();
        let samples = i as u64 * spp;
        let want = [
            kind as u64,
            u64::from(START) + samples / RATE,
            1,
            samples % RATE,
            i as u64 % 16,
            ((d.len() - prefix) / 4) as u64,
        ];
        assert_eq!(v, want, "{format} #{i}: tshark {row:?}");
    }
}

#[test]
fn tshark_decodes_vrt_and_usrp2_streams() {
    if let Some(why) = tshark_missing() {
        eprintln!("SKIP tshark_decodes_vrt_and_usrp2_streams: {why}");
        return;
    }
    check(Format::Vrt);
    check(Format::Usrp2);
    check_class_id_and_trailer();
    check_tsi(Format::Vrt, Tsi::Utc);
    check_tsi(Format::Usrp2, Tsi::Gps);
    check_tsi(Format::Vrt, Tsi::Other);
}
