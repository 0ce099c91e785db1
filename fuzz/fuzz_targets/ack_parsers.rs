//! The three flow-control parsers behind `AckParser`, with an arbitrary reference count: no panic,
//! no arithmetic overflow, and an extended count is always congruent to what the wire said.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ringshot::flow::AckFormat;
use ringshot::wire::{chdr, usrp2};

fuzz_target!(|data: &[u8]| {
    let Some((head, rest)) = data.split_first_chunk::<8>() else {
        return;
    };
    let reference = u64::from_le_bytes(*head);
    let base = reference / 2;
    for format in [
        AckFormat::Native,
        AckFormat::Usrp2 { stream_id: 2 },
        AckFormat::Chdr,
    ] {
        let Ok(update) = format.parser(base).parse(rest, reference) else {
            continue;
        };
        let Some(acked) = update.acked_packets else {
            continue;
        };
        match format {
            AckFormat::Usrp2 { stream_id } => {
                let wire = usrp2::AckRepr::parse(rest, stream_id).unwrap();
                assert_eq!(Some(acked as u32), wire.consumed_count());
            }
            AckFormat::Chdr => {
                let r = chdr::Repr::parse(&chdr::Packet::new_unchecked(rest)).unwrap();
                if let chdr::Body::StreamStatus(s) = r.body {
                    let device = acked.wrapping_sub(base);
                    assert_eq!(device & ((1 << 40) - 1), s.xfer_count_pkts);
                }
            }
            AckFormat::Native => {}
        }
    }
});
