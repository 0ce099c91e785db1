//! Byte fixtures and round trips for every CHDR packet this module parses and emits.

use super::*;
use proptest::prelude::*;

/// STRS, written by hand word by word (each shown most significant byte first, then stored
/// little-endian):
/// header = VC 0 | EOB 0 | EOV 0 | type 1 << 53 | mdata 0 | seq 0x0102 << 32 | len 40 << 16 |
///          dst 0x0A0B                       = 0x0020_0102_0028_0A0B
/// w0 = capacity 1 MiB << 24 | SEQERR 2 << 16 | src 0x0C0D = 0x0000_1000_0002_0C0D
/// w1 = xfer pkts 0xAB_CDEF_0123 << 24 | cap pkts 712    = 0xABCD_EF01_2300_02C8
/// w2 = xfer bytes                                       = 0x1122_3344_5566_7788
/// w3 = status info 0xBEEF << 16 | buff info 0x0042      = 0x0000_0000_BEEF_0042
static STRS_FIXTURE: [u8; 40] = [
    0x0B, 0x0A, 0x28, 0x00, 0x02, 0x01, 0x20, 0x00, // header
    0x0D, 0x0C, 0x02, 0x00, 0x00, 0x10, 0x00, 0x00, // w0
    0xC8, 0x02, 0x00, 0x23, 0x01, 0xEF, 0xCD, 0xAB, // w1
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // w2
    0x42, 0x00, 0xEF, 0xBE, 0x00, 0x00, 0x00, 0x00, // w3
];

fn strs_repr() -> Repr {
    Repr {
        vc: 0,
        eob: false,
        eov: false,
        seq_num: 0x0102,
        dst_epid: 0x0A0B,
        body: Body::StreamStatus(StrsRepr {
            src_epid: 0x0C0D,
            status: StrsStatus::SeqErr,
            capacity_bytes: 1 << 20,
            capacity_pkts: 712,
            xfer_count_pkts: 0xAB_CDEF_0123,
            xfer_count_bytes: 0x1122_3344_5566_7788,
            buff_info: 0x42,
            status_info: 0xBEEF,
        }),
    }
}

/// STRC RESYNC with EOB set and op_data 5:
/// header = EOB 1 << 57 | type 2 << 53 | seq 7 << 32 | len 24 << 16 | dst 1
///        = 0x0240_0007_0018_0001
/// w0 = num_pkts 100 << 24 | op_data 5 << 20 | RESYNC 2 << 16 | src 3 = 0x0000_0000_6452_0003
/// w1 = num_bytes 147_200 = 0x0000_0000_0002_3F00
static STRC_FIXTURE: [u8; 24] = [
    0x01, 0x00, 0x18, 0x00, 0x07, 0x00, 0x40, 0x02, // header
    0x03, 0x00, 0x52, 0x64, 0x00, 0x00, 0x00, 0x00, // w0
    0x00, 0x3F, 0x02, 0x00, 0x00, 0x00, 0x00, 0x00, // w1
];

fn strc_repr() -> Repr {
    Repr {
        vc: 0,
        eob: true,
        eov: false,
        seq_num: 7,
        dst_epid: 1,
        body: Body::StreamCommand(StrcRepr {
            src_epid: 3,
            opcode: StrcOpcode::Resync,
            op_data: 5,
            num_pkts: 100,
            num_bytes: 147_200,
        }),
    }
}

#[test]
fn parse_fixtures() {
    let p = Packet::new_checked(&STRS_FIXTURE[..]).unwrap();
    assert_eq!(p.pkt_type(), PktType::StreamStatus);
    assert_eq!(p.length(), 40);
    assert_eq!(Repr::parse(&p).unwrap(), strs_repr());
    let p = Packet::new_checked(&STRC_FIXTURE[..]).unwrap();
    assert_eq!(Repr::parse(&p).unwrap(), strc_repr());
}

#[test]
fn emit_fixtures() {
    let mut buf = [0u8; 64];
    let n = strs_repr().emit_into(&mut buf);
    assert_eq!(&buf[..n], &STRS_FIXTURE[..]);
    let n = strc_repr().emit_into(&mut buf);
    assert_eq!(&buf[..n], &STRC_FIXTURE[..]);
}

#[test]
fn metadata_is_skipped() {
    // The STRS fixture with one metadata word inserted: NumMData 1, length 48.
    let mut b = Vec::new();
    b.extend_from_slice(&[0x0B, 0x0A, 0x30, 0x00, 0x02, 0x01, 0x21, 0x00]);
    b.extend_from_slice(&[0xEE; 8]);
    b.extend_from_slice(&STRS_FIXTURE[8..]);
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.num_mdata(), 1);
    assert_eq!(p.metadata(), &[0xEE; 8]);
    assert_eq!(Repr::parse(&p).unwrap(), strs_repr());
}

#[test]
fn data_with_timestamp() {
    // Type 7, length 24: header, timestamp 0x1234, one payload word.
    let mut b = [0u8; 24];
    b[..8].copy_from_slice(&(7u64 << 53 | 24 << 16).to_le_bytes());
    b[8..16].copy_from_slice(&0x1234u64.to_le_bytes());
    b[16..].copy_from_slice(b"payload!");
    let p = Packet::new_checked(&b[..]).unwrap();
    assert_eq!(p.timestamp(), Some(0x1234));
    assert_eq!(p.payload(), b"payload!");
    assert_eq!(Repr::parse(&p), Err(WireError::Unexpected));
}

#[test]
fn rejects_bad_input() {
    let parse = |b: &[u8]| Repr::parse(&Packet::new_unchecked(b));
    assert_eq!(parse(&STRS_FIXTURE[..7]), Err(WireError::Truncated));
    assert_eq!(parse(&STRS_FIXTURE[..39]), Err(WireError::Truncated));
    // Length smaller than the header.
    let mut b = STRS_FIXTURE;
    b[2] = 4;
    assert_eq!(parse(&b), Err(WireError::BadField));
    // Length that leaves the STRS body short.
    let mut b = STRS_FIXTURE;
    b[2] = 32;
    assert_eq!(parse(&b), Err(WireError::Truncated));
    // Unknown status code 9.
    let mut b = STRS_FIXTURE;
    b[10] = 0x09;
    assert_eq!(parse(&b), Err(WireError::BadField));
    // Reserved packet type 3.
    let mut b = STRS_FIXTURE;
    b[6] = 0x60;
    assert_eq!(parse(&b), Err(WireError::BadField));
    // Unknown STRC opcode 3.
    let mut b = STRC_FIXTURE;
    b[10] = 0x53;
    assert_eq!(parse(&b), Err(WireError::BadField));
}

/// Data with timestamp, written by hand: type 7, EOB, seq 0x0304, length 20, dst 0x0506,
/// timestamp 0x1122334455667788, four payload bytes.
static DATA_FIXTURE: [u8; 20] = [
    0x06, 0x05, 0x14, 0x00, 0x04, 0x03, 0xE0, 0x02, // header 0x02E0_0304_0014_0506
    0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x11, // timestamp
    b'a', b'b', b'c', b'd',
];

#[test]
fn data_fixture() {
    let r = DataRepr::parse(&Packet::new_checked(&DATA_FIXTURE[..]).unwrap()).unwrap();
    let want = DataRepr {
        vc: 0,
        eob: true,
        eov: false,
        seq_num: 0x0304,
        dst_epid: 0x0506,
        timestamp: Some(0x1122_3344_5566_7788),
        payload_len: 4,
    };
    assert_eq!(r, want);
    let mut buf = [0u8; 20];
    want.emit(&mut Packet::new_unchecked(&mut buf[..]));
    buf[16..].copy_from_slice(b"abcd");
    assert_eq!(buf, DATA_FIXTURE);
    // An STRS is not data.
    let strs = Packet::new_unchecked(&STRS_FIXTURE[..]);
    assert_eq!(DataRepr::parse(&strs), Err(WireError::Unexpected));
}

fn arb_repr() -> impl Strategy<Value = Repr> {
    let status = (0u8..5).prop_map(|s| StrsStatus::from_raw(s).unwrap());
    let strs = (
        any::<u16>(),
        status,
        0..=MASK_40,
        0..=MASK_24 as u32,
        0..=MASK_40,
        any::<u64>(),
        any::<u16>(),
        0..=MASK_48,
    )
        .prop_map(|(src, st, cb, cp, xp, xb, bi, si)| {
            Body::StreamStatus(StrsRepr {
                src_epid: src,
                status: st,
                capacity_bytes: cb,
                capacity_pkts: cp,
                xfer_count_pkts: xp,
                xfer_count_bytes: xb,
                buff_info: bi,
                status_info: si,
            })
        });
    let op = (0u8..3).prop_map(|o| StrcOpcode::from_raw(o).unwrap());
    let strc = (any::<u16>(), op, 0u8..16, 0..=MASK_40, any::<u64>()).prop_map(
        |(src, opcode, op_data, num_pkts, num_bytes)| {
            Body::StreamCommand(StrcRepr {
                src_epid: src,
                opcode,
                op_data,
                num_pkts,
                num_bytes,
            })
        },
    );
    (
        0u8..64,
        any::<bool>(),
        any::<bool>(),
        any::<u16>(),
        any::<u16>(),
        prop_oneof![strs, strc],
    )
        .prop_map(|(vc, eob, eov, seq_num, dst_epid, body)| Repr {
            vc,
            eob,
            eov,
            seq_num,
            dst_epid,
            body,
        })
}

proptest! {
    #[test]
    fn round_trip(r in arb_repr()) {
        let mut buf = [0u8; 64];
        let n = r.emit_into(&mut buf);
        prop_assert_eq!(n, r.buffer_len());
        prop_assert_eq!(Repr::parse(&Packet::new_unchecked(&buf[..n])), Ok(r));
    }

    #[test]
    fn data_round_trip(
        vc in 0u8..64, eob in any::<bool>(), eov in any::<bool>(), seq_num in any::<u16>(),
        dst_epid in any::<u16>(), timestamp in proptest::option::of(any::<u64>()),
        payload_len in 0usize..64,
    ) {
        let r = DataRepr { vc, eob, eov, seq_num, dst_epid, timestamp, payload_len };
        let mut buf = [0u8; 96];
        r.emit(&mut Packet::new_unchecked(&mut buf[..]));
        let n = r.buffer_len();
        prop_assert_eq!(DataRepr::parse(&Packet::new_unchecked(&buf[..n])), Ok(r));
    }

    #[test]
    fn data_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let _ = DataRepr::parse(&Packet::new_unchecked(&bytes[..]));
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..96)) {
        let p = Packet::new_unchecked(&bytes[..]);
        let _ = Repr::parse(&p);
        if p.check_len().is_ok() {
            let _ = (p.payload(), p.metadata(), p.timestamp(), p.vc(), p.eob());
        }
    }
}
