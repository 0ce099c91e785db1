use super::*;
use crate::wire::WireError;
use proptest::prelude::*;

fn stamped(framing: Framing, sid: u32, seq: u64, app: &[u8]) -> Vec<u8> {
    let mut s = Stamper::new(framing, sid);
    let mut buf = vec![0xAAu8; 128];
    let h = s.header_len();
    buf[h..h + app.len()].copy_from_slice(app);
    let n = s.stamp(&mut buf, seq, 0, app.len());
    buf.truncate(n);
    buf
}

#[test]
fn names_round_trip() {
    for f in Format::ALL {
        assert_eq!(f.name().parse::<Format>(), Ok(f));
    }
    assert!("spead2".parse::<Format>().is_err());
}

#[test]
fn header_room_and_app_payload() {
    let ts = |format| Framing {
        sample_count_ts: true,
        ..Framing::of(format)
    };
    assert_eq!(Framing::of(Format::Ringshot).max_app_payload(1472), 1456);
    assert_eq!(Framing::of(Format::Raw).max_app_payload(1472), 1472);
    assert_eq!(Framing::of(Format::Vrt).max_app_payload(1472), 1464);
    assert_eq!(ts(Format::Vrt).max_app_payload(1472), 1456);
    assert_eq!(Framing::of(Format::Usrp2).max_app_payload(1473), 1460);
    assert_eq!(ts(Format::Usrp2).max_app_payload(1472), 1452);
    assert_eq!(Framing::of(Format::Chdr).max_app_payload(1471), 1463);
    assert_eq!(ts(Format::Chdr).max_app_payload(1472), 1456);
    assert_eq!(Framing::of(Format::Vrt).max_app_payload(4), 0);
}

/// USRP2: sequence word 0x1_0000_0002 → 2 (low 32 bits), VRT IF data with stream id 7,
/// count 2, 4 words; 6 app bytes padded to 8. Written by hand.
#[test]
fn usrp2_fixture() {
    let b = stamped(Framing::of(Format::Usrp2), 7, 0x1_0000_0002, b"abcdef");
    assert_eq!(
        b,
        [
            0, 0, 0, 2, // sequence word
            0x10, 0x02, 0x00, 0x04, // type 1, count 2, 4 words
            0, 0, 0, 7, // stream id
            b'a', b'b', b'c', b'd', b'e', b'f', 0, 0,
        ]
    );
    let (seq, p) = usrp2::parse_data(&b).unwrap();
    assert_eq!((seq, p.stream_id(), p.packet_count()), (2, Some(7), 2));
}

/// VRT with a sample-count TSF: the second packet's timestamp is the first packet's samples.
#[test]
fn vrt_timestamps_advance_by_samples() {
    let framing = Framing {
        sample_count_ts: true,
        sample_bytes: 4,
        ..Framing::of(Format::Vrt)
    };
    let mut s = Stamper::new(framing, 0xDEAD_BEEF);
    let mut buf = [0u8; 64];
    let n = s.stamp(&mut buf, 17, 0, 16);
    assert_eq!(
        &buf[..16],
        &[
            0x10, 0x11, 0x00, 0x08, // type 1, TSF 1, count 1, 8 words
            0xDE, 0xAD, 0xBE, 0xEF, // stream id
            0, 0, 0, 0, 0, 0, 0, 0, // sample count 0
        ]
    );
    assert_eq!(n, 32);
    let n = s.stamp(&mut buf, 18, 0, 8);
    let p = vrt::Packet::new_checked(&buf[..n]).unwrap();
    assert_eq!(p.fractional_timestamp(), Some((vrt::Tsf::SampleCount, 4)));
    assert_eq!(p.packet_count(), 2);
}

/// VRT with TSI (UTC) and TSF: the TSI field sits before the TSF, the header has TSI = 1, and
/// the size counts the extra word. Written by hand.
#[test]
fn vrt_tsi_fixture() {
    let framing = Framing {
        sample_count_ts: true,
        tsi: Some(IntegerTime {
            kind: vrt::Tsi::Utc,
            start: 0x6543_2100,
        }),
        sample_rate: 1_000,
        ..Framing::of(Format::Vrt)
    };
    assert_eq!(framing.header_len(), 20);
    assert_eq!(framing.max_app_payload(1472), 1452);
    let b = stamped(framing, 9, 3, b"abcd");
    assert_eq!(
        b,
        [
            0x10, 0x53, 0x00, 0x06, // type 1, TSI 1 (UTC), TSF 1, count 3, 6 words
            0, 0, 0, 9, // stream id
            0x65, 0x43, 0x21, 0x00, // integer seconds
            0, 0, 0, 0, 0, 0, 0, 0, // samples within the second
            b'a', b'b', b'c', b'd',
        ]
    );
    let p = vrt::Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.integer_timestamp(), Some((vrt::Tsi::Utc, 0x6543_2100)));
    // USRP2 with a TSI but no TSF: the word, then 3 VRT words of header, GPS.
    let framing = Framing {
        tsi: Some(IntegerTime {
            kind: vrt::Tsi::Gps,
            start: 7,
        }),
        ..Framing::of(Format::Usrp2)
    };
    assert_eq!(framing.max_app_payload(1472), 1456);
    let b = stamped(framing, 2, 1, b"");
    assert_eq!(
        b,
        [0, 0, 0, 1, 0x10, 0x81, 0x00, 0x03, 0, 0, 0, 2, 0, 0, 0, 7]
    );
}

/// With TSI and TSF the TSF counts samples within the second and the TSI steps when the count
/// passes the sample rate (10 samples a second, 4 per packet).
#[test]
fn tsi_advances_with_the_sample_rate() {
    let framing = Framing {
        sample_count_ts: true,
        tsi: Some(IntegerTime {
            kind: vrt::Tsi::Other,
            start: 100,
        }),
        sample_rate: 10,
        ..Framing::of(Format::Vrt)
    };
    let mut s = Stamper::new(framing, 1);
    let mut buf = [0u8; 64];
    let mut got = Vec::new();
    for seq in 0..6 {
        let n = s.stamp(&mut buf, seq, 0, 16);
        let p = vrt::Packet::new_checked(&buf[..n]).unwrap();
        got.push((
            p.integer_timestamp().unwrap().1,
            p.fractional_timestamp().unwrap().1,
        ));
    }
    assert_eq!(
        got,
        [(100, 0), (100, 4), (100, 8), (101, 2), (101, 6), (102, 0)]
    );
    assert_eq!(s.tsi_saturated(), 0);
}

/// The second never wraps: past `u32::MAX` it stays there and the packets are counted.
#[test]
fn tsi_saturates_and_counts() {
    let framing = Framing {
        tsi: Some(IntegerTime {
            kind: vrt::Tsi::Utc,
            start: u32::MAX - 1,
        }),
        sample_rate: 1,
        ..Framing::of(Format::Usrp2)
    };
    let mut s = Stamper::new(framing, 1);
    let mut buf = [0u8; 64];
    let mut secs = Vec::new();
    for seq in 0..4 {
        let n = s.stamp(&mut buf, seq, 0, 4);
        let (_, p) = usrp2::parse_data(&buf[..n]).unwrap();
        secs.push(p.integer_timestamp().unwrap().1);
    }
    assert_eq!(secs, [u32::MAX - 1, u32::MAX, u32::MAX, u32::MAX]);
    assert_eq!(s.tsi_saturated(), 2);
}

/// Push mode: `skip` moves a copy of the stamper exactly as stamping does, so the room it
/// reports is the room the engine's stamper will give the next packet.
#[test]
fn spead_skip_follows_stamp() {
    let framing = Framing {
        spead: Spead {
            heap_size: 100,
            ..Spead::default()
        },
        ..Framing::of(Format::Spead)
    };
    let (mut engine, mut mirror) = (Stamper::new(framing, 0), Stamper::new(framing, 0));
    let mut buf = [0u8; 256];
    for len in [40, 40, 20, 64, 36, 8] {
        assert_eq!(engine.next_room(64), mirror.next_room(64));
        let len = len.min(mirror.next_room(64));
        mirror.skip(len);
        engine.stamp(&mut buf, 0, 0, len);
    }
    assert_eq!(engine.next_room(64), mirror.next_room(64));
    // The end flag writes the stop heap instead of a data packet.
    let n = engine.stamp(&mut buf, 9, STAMP_END, 0);
    let r = crate::wire::spead::Repr::parse(
        &crate::wire::spead::Packet::new_checked(&buf[..n]).unwrap(),
    )
    .unwrap();
    assert_eq!(r.stream_ctrl, Some(crate::wire::spead::CTRL_STOP));
    // Heaps 1 and 2 full, heap 3 partial: the stop heap takes 4.
    assert_eq!(r.heap_cnt, 4);
}

#[test]
fn chdr_fixture() {
    let framing = Framing {
        dst_epid: 0x0506,
        ..Framing::of(Format::Chdr)
    };
    let b = stamped(framing, 0, 0x1_0304, b"xyz");
    // Header 0x00C0_0304_000B_0506: data without timestamp, seq 0x0304, length 11.
    assert_eq!(
        b,
        [0x06, 0x05, 0x0B, 0x00, 0x04, 0x03, 0xC0, 0x00, b'x', b'y', b'z']
    );
    let r = chdr::DataRepr::parse(&chdr::Packet::new_checked(&b[..]).unwrap()).unwrap();
    assert_eq!((r.seq_num, r.dst_epid, r.payload_len), (0x0304, 0x0506, 3));
}

#[test]
fn raw_and_ringshot() {
    assert_eq!(stamped(Framing::of(Format::Raw), 1, 5, b"hi"), b"hi");
    let b = stamped(Framing::of(Format::Ringshot), 1, 5, b"hi");
    let p = header::Packet::new_checked(&b[..]).unwrap();
    assert_eq!((p.seq(), p.stream_id(), p.payload()), (5, 1, &b"hi"[..]));
    assert_eq!(
        header::Packet::new_checked(&b[..3]).map(|_| ()),
        Err(WireError::Truncated)
    );
}

proptest! {
    /// Whatever the framing and length, the stamped datagram parses back to what was stamped.
    #[test]
    fn stamp_then_parse(
        fi in 0usize..6, ts in any::<bool>(), sid in any::<u32>(), seq in any::<u64>(),
        app_len in 0usize..64, epid in any::<u16>(), cid in any::<bool>(), trailer in any::<bool>(),
        tsi in proptest::option::of((1u32..4, any::<u32>())), rate in 1u64..40,
    ) {
        let vrt_like = matches!(Format::ALL[fi], Format::Vrt | Format::Usrp2);
        let tsi = tsi.filter(|_| vrt_like).map(|(k, start)| IntegerTime {
            kind: [vrt::Tsi::Utc, vrt::Tsi::Gps, vrt::Tsi::Other][k as usize - 1],
            start,
        });
        let framing = Framing {
            format: Format::ALL[fi],
            sample_count_ts: ts,
            sample_bytes: 4,
            dst_epid: epid,
            spead: Spead::default(),
            class_id: cid.then_some(vrt::ClassId { oui: 0x12_3456, info_class: 7, packet_class: 9 }),
            trailer: trailer.then_some(0x00C0_0000),
            tsi,
            sample_rate: rate,
        };
        let app: Vec<u8> = (0..app_len as u8).collect();
        let b = stamped(framing, sid, seq, &app);
        let h = framing.header_len();
        prop_assert_eq!(&b[h..h + app_len], &app[..]);
        match framing.format {
            Format::Ringshot => {
                let p = header::Packet::new_checked(&b[..]).unwrap();
                prop_assert_eq!(p.seq(), seq);
            }
            Format::Raw => prop_assert_eq!(b.len(), app_len),
            Format::Usrp2 | Format::Vrt => {
                let at = if framing.format == Format::Usrp2 { 4 } else { 0 };
                if at == 4 {
                    let (word, _) = usrp2::parse_data(&b).unwrap();
                    prop_assert_eq!(word, seq as u32);
                }
                let p = vrt::Packet::new_checked(&b[at..]).unwrap();
                prop_assert_eq!(p.packet_len(), b.len() - at);
                prop_assert_eq!(p.stream_id(), Some(sid));
                prop_assert_eq!(u64::from(p.packet_count()), seq & 0xF);
                prop_assert_eq!(p.fractional_timestamp().is_some(), ts);
                prop_assert_eq!(p.integer_timestamp(), tsi.map(|t| (t.kind, t.start)));
                prop_assert_eq!(p.payload().len(), app_len.div_ceil(4) * 4);
                prop_assert_eq!(p.class_id().map(|c| c.oui), cid.then_some(0x12_3456));
                prop_assert_eq!(p.trailer(), trailer.then_some(0x00C0_0000));
            }
            Format::Spead => {
                let p = crate::wire::spead::Packet::new_checked(&b[..]).unwrap();
                let r = crate::wire::spead::Repr::parse(&p).unwrap();
                prop_assert_eq!(r.payload_len, app_len as u64);
                prop_assert_eq!((r.heap_cnt, r.heap_offset), (1, 0));
                prop_assert_eq!(p.item(4).id, DEFAULT_ITEM_ID);
            }
            Format::Chdr => {
                let r = chdr::DataRepr::parse(&chdr::Packet::new_checked(&b[..]).unwrap()).unwrap();
                prop_assert_eq!(r.seq_num, seq as u16);
                prop_assert_eq!(r.payload_len, app_len);
                prop_assert_eq!(r.dst_epid, epid);
                prop_assert_eq!(r.timestamp, ts.then_some(0));
            }
        }
    }
}

#[test]
fn heap_gso_notice_only_for_heaps_of_partial_packets() {
    let mut f = Framing::of(Format::Spead);
    // 1,472-byte packets carry 1,424 data bytes: 65,536 = 46 × 1,424 + 32.
    let n = f.heap_gso_notice(1472).expect("partial last packet");
    assert!(n.contains("32-byte packet") && n.contains("65504"), "{n}");
    f.spead.heap_size = 65_504;
    assert_eq!(f.heap_gso_notice(1472), None);
    f.spead.heap_size = 1000; // one packet per heap: every run is one packet anyway
    assert_eq!(f.heap_gso_notice(1472), None);
    assert_eq!(Framing::of(Format::Vrt).heap_gso_notice(1472), None);
}
