use super::*;

fn dest() -> SocketAddr {
    "127.0.0.1:9".parse().unwrap()
}

#[test]
fn defaults_are_valid() {
    let c = SenderConfig::builder(dest()).build().unwrap();
    // GSO is on by default: two whole super-packets of 44, not 44 + 20.
    assert_eq!(c.batch(), 88);
    assert_eq!(c.payload(), 1472);
    assert_eq!(c.backend(), BackendChoice::Auto);
    let c = SenderConfig::builder(dest()).gso(false).build().unwrap();
    assert_eq!(c.batch(), 64);
}

#[test]
fn the_default_batch_with_gso_is_whole_super_packets_where_it_fits() {
    assert_eq!(default_batch(1472, false, 4096, None), 64);
    assert_eq!(default_batch(1472, true, 4096, None), 88);
    assert_eq!(default_batch(1500, true, 4096, None), 86);
    assert_eq!(default_batch(9000, true, 4096, None), 70);
    assert_eq!(default_batch(64, true, 4096, None), 64);
    assert_eq!(default_batch(65_507, true, 4096, None), 64);
    // Where the slab or the packet window cannot hold it, the plain default stands (and is
    // checked as before).
    assert_eq!(default_batch(1472, true, 80, None), 64);
    assert_eq!(default_batch(1472, true, 4096, Some(87)), 64);
    assert_eq!(default_batch(1472, true, 4096, Some(88)), 88);
    let b = || SenderConfig::builder(dest()).payload(1472);
    assert_eq!(b().slots(80).build().unwrap().batch(), 64);
    assert_eq!(b().slots(88).build().unwrap().batch(), 88);
    // A batch that was set is kept as set.
    assert_eq!(b().batch(64).build().unwrap().batch(), 64);
    assert_eq!(b().batch(100).build().unwrap().batch(), 100);
    assert_eq!(
        b().slots(32).build().unwrap_err(),
        ConfigError::SlabSmallerThanBatch {
            slots: 32,
            batch: 64
        }
    );
}

#[test]
fn bad_values_give_documented_errors() {
    let b = || SenderConfig::builder(dest());
    assert_eq!(b().batch(0).build().unwrap_err(), ConfigError::ZeroBatch);
    assert_eq!(
        b().payload(65_508).build().unwrap_err(),
        ConfigError::PayloadTooLarge {
            payload: 65_508,
            max: 65_507
        }
    );
    assert!(b().payload(65_507).build().is_ok());
    assert!(matches!(
        b().payload(8).build().unwrap_err(),
        ConfigError::PayloadTooSmall { .. }
    ));
    assert!(matches!(
        b().tx_core(100_000).build().unwrap_err(),
        ConfigError::UnknownCore { core: 100_000, .. }
    ));
    assert_eq!(
        b().window_packets(1000).build().unwrap_err(),
        ConfigError::WindowWithoutAck
    );
    assert_eq!(
        b().batch(64).window_packets(10).build().unwrap_err(),
        ConfigError::WindowSmallerThanBatch {
            window: 10,
            batch: 64
        }
    );
    assert!(matches!(
        b().slots(8).batch(16).build().unwrap_err(),
        ConfigError::SlabSmallerThanBatch { .. }
    ));
    assert_eq!(
        SenderConfig::builder("127.0.0.1:0".parse().unwrap())
            .build()
            .unwrap_err(),
        ConfigError::ZeroPort
    );
    let msg = b().batch(0).build().unwrap_err().to_string();
    assert!(msg.starts_with("batch:"), "{msg}");
}

#[test]
fn rates_outside_the_bounds_are_refused_at_the_configured_payload() {
    let b = || SenderConfig::builder(dest());
    for bad in [
        Rate::Pps(1e30),
        Rate::Pps(0.5),
        Rate::Pps(f64::NAN),
        Rate::Bps(1e20),
    ] {
        let e = b().rate(bad).build().unwrap_err();
        assert!(
            matches!(e, ConfigError::RateOutOfRange { .. }),
            "{bad}: {e}"
        );
        assert!(e.to_string().starts_with("rate:"), "{e}");
    }
    assert!(b().rate(Rate::Pps(1.0)).build().is_ok());
    assert!(b().rate(Rate::Pps(1e9)).build().is_ok());
    // 8 kbit/s of 1000-byte payloads is 1 pps; of 1472-byte payloads it is below 1 pps.
    assert!(b().payload(1000).rate(Rate::Bps(8e3)).build().is_ok());
    assert!(b().payload(1472).rate(Rate::Bps(8e3)).build().is_err());
}

#[test]
fn durations_longer_than_a_year_are_refused() {
    let b = || SenderConfig::builder(dest());
    assert_eq!(
        b().stall_timeout(MAX_DURATION + Duration::from_secs(1))
            .build()
            .unwrap_err(),
        ConfigError::DurationTooLong {
            field: "stall_timeout"
        }
    );
    assert!(b().stall_timeout(MAX_DURATION).build().is_ok());
    assert_eq!(
        b().sqpoll(Some(Duration::MAX)).build().unwrap_err(),
        ConfigError::DurationTooLong { field: "sqpoll" }
    );
}

#[test]
fn zero_copy_threshold_zero_is_refused_and_off_is_not() {
    let b = || SenderConfig::builder(dest());
    assert_eq!(
        b().zc_threshold(Some(0)).build().unwrap_err(),
        ConfigError::ZeroZcThreshold
    );
    assert!(b().zc_threshold(Some(1)).build().is_ok());
    assert!(b().zc_threshold(None).build().is_ok());
}

#[test]
fn usrp2_needs_an_explicit_window_and_native_and_chdr_do_not() {
    let b = || SenderConfig::builder(dest());
    let usrp2 = AckFormat::Usrp2 { stream_id: 2 };
    assert_eq!(
        b().ack(usrp2).build().unwrap_err(),
        ConfigError::WindowRequired(usrp2)
    );
    assert!(b().ack(usrp2).window_packets(100).build().is_ok());
    assert!(b().ack(usrp2).window_bytes(1 << 20).build().is_ok());
    assert!(b().ack(AckFormat::Native).build().is_ok());
    assert!(b().ack(AckFormat::Chdr).build().is_ok());
}

#[test]
fn ack_from_is_the_ack_source_and_needs_ack() {
    let from: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let b = || SenderConfig::builder(dest());
    let c = b().ack(AckFormat::Native).build().unwrap();
    assert_eq!((c.ack_from(), c.ack_source()), (None, dest()));
    let c = b()
        .ack(AckFormat::Native)
        .ack_bind("127.0.0.1:0".parse().unwrap())
        .ack_from(from)
        .build()
        .unwrap();
    assert_eq!((c.ack_from(), c.ack_source()), (Some(from), from));
    assert_eq!(
        b().ack_from(from).build().unwrap_err(),
        ConfigError::AckFromWithoutAck
    );
    let any: SocketAddr = "0.0.0.0:7000".parse().unwrap();
    assert_eq!(
        b().ack(AckFormat::Native)
            .ack_from(any)
            .build()
            .unwrap_err(),
        ConfigError::AckFromUnspecified(any)
    );
    // Another source than the destination cannot reach the connected data socket.
    let err = b()
        .ack(AckFormat::Native)
        .window_packets(64)
        .ack_from("127.0.0.1:7".parse().unwrap())
        .build()
        .unwrap_err();
    assert!(matches!(err, ConfigError::AckFromNeedsAckBind(_)), "{err}");
    b().ack(AckFormat::Native)
        .window_packets(64)
        .ack_bind("127.0.0.1:0".parse().unwrap())
        .ack_from("127.0.0.1:7".parse().unwrap())
        .build()
        .unwrap();
}

#[test]
fn stream_sequences_never_wrap() {
    assert!(check_stream_length(0, Some(u64::MAX)).is_ok());
    assert!(check_stream_length(u64::MAX - 10, Some(10)).is_ok());
    assert_eq!(
        check_stream_length(u64::MAX - 10, Some(11)),
        Err(ConfigError::SequenceOverflow {
            start_seq: u64::MAX - 10,
            count: Some(11)
        })
    );
    assert!(check_stream_length(MAX_TIMED_START_SEQ, None).is_ok());
    assert!(check_stream_length(MAX_TIMED_START_SEQ + 1, None).is_err());
}

/// Relaxed order is accepted with every framing except those whose devices check sequence
/// numbers; strict is the default.
#[test]
fn relaxed_send_order_is_refused_only_with_sequenced_framings() {
    use crate::framing::Format;
    assert_eq!(
        SenderConfig::builder(dest()).build().unwrap().send_order(),
        SendOrder::Strict
    );
    for format in Format::ALL {
        let r = SenderConfig::builder(dest())
            .send_order(SendOrder::Relaxed)
            .framing(Framing::of(format))
            .build();
        match format {
            Format::Usrp2 | Format::Vrt | Format::Chdr => assert_eq!(
                r.unwrap_err(),
                ConfigError::RelaxedOrderWithSequencedFraming(format)
            ),
            _ => assert_eq!(r.unwrap().send_order(), SendOrder::Relaxed, "{format}"),
        }
    }
    for o in ["strict", "relaxed"] {
        assert_eq!(o.parse::<SendOrder>().unwrap().name(), o);
    }
    assert!("loose".parse::<SendOrder>().is_err());
}

#[test]
fn backend_names_parse() {
    for b in ["auto", "uring", "mmsg", "send", "xdp"] {
        assert_eq!(b.parse::<BackendChoice>().unwrap().name(), b);
    }
    assert!("epoll".parse::<BackendChoice>().is_err());
    for m in ["auto", "copy", "zc"] {
        assert_eq!(m.parse::<crate::XdpMode>().unwrap().name(), m);
    }
    assert!("zerocopy".parse::<crate::XdpMode>().is_err());
}

/// xdp builds one frame per datagram: GSO is off whatever was asked, and the default batch is
/// the copy mode's wake-up budget (not GSO's whole super-packets), or the plain default where
/// the slab or the packet window cannot hold that many.
#[cfg(target_os = "linux")]
#[test]
fn xdp_has_no_gso_and_the_per_datagram_batch() {
    let c = SenderConfig::builder("10.0.0.2:9000".parse().unwrap())
        .backend(BackendChoice::Xdp)
        .gso(true)
        .payload(1472)
        .xdp_queue(3)
        .xdp_mode(crate::XdpMode::Copy)
        .build()
        .unwrap();
    assert!(!c.gso());
    assert_eq!(c.batch(), crate::config::XDP_DEFAULT_BATCH);
    assert_eq!(
        (c.socket.xdp_queue, c.socket.xdp_mode),
        (3, crate::XdpMode::Copy)
    );
    let xdp =
        || SenderConfig::builder("10.0.0.2:9000".parse().unwrap()).backend(BackendChoice::Xdp);
    let few_slots = xdp().slots(200).build().unwrap();
    assert_eq!(few_slots.batch(), crate::config::DEFAULT_BATCH);
    let small_window = xdp()
        .window_packets(100)
        .ack(crate::AckFormat::Native)
        .build()
        .unwrap();
    assert_eq!(small_window.batch(), crate::config::DEFAULT_BATCH);
    assert_eq!(xdp().batch(32).build().unwrap().batch(), 32);
}

/// One wrong value per option group; each error names the builder method that set it.
fn one_bad_value_per_group() -> Vec<(&'static str, SenderConfigBuilder)> {
    let b = || SenderConfig::builder(dest());
    let from: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    vec![
        ("batch", b().batch(0)),
        ("payload", b().payload(8)),
        ("slots", b().slots(MAX_SLOTS + 1)),
        ("zc_threshold", b().zc_threshold(Some(0))),
        (
            "dest",
            SenderConfig::builder("127.0.0.1:0".parse().unwrap()),
        ),
        ("sqpoll", b().sqpoll(Some(Duration::MAX))),
        ("sqpoll_cpu", b().sqpoll_cpu(0)),
        (
            "send_order",
            b().send_order(SendOrder::Relaxed)
                .framing(Framing::of(crate::framing::Format::Vrt)),
        ),
        ("rate", b().rate(Rate::Pps(0.5))),
        ("burst", b().burst(0)),
        ("prefill", b().prefill(10)),
        ("pace_quantum", b().pace_quantum(Duration::from_micros(5))),
        ("spacing", b().spacing(crate::pacing::Spacing::Bursts)),
        (
            "window_packets",
            b().ack(AckFormat::Native).window_packets(1),
        ),
        ("window_bytes", b().ack(AckFormat::Native).window_bytes(1)),
        ("ack", b().window_packets(1000)),
        ("ack_bind", b().ack_bind(from)),
        ("ack_from", b().ack_from(from)),
        ("ack_core", b().ack(AckFormat::Native).ack_core(100_000)),
        ("stall_timeout", b().stall_timeout(Duration::ZERO)),
        ("tx_core", b().tx_core(100_000)),
        ("sched_fifo", b().sched_fifo(0)),
    ]
}

#[test]
fn every_error_names_the_builder_option_at_fault() {
    for (field, builder) in one_bad_value_per_group() {
        let e = builder.build().unwrap_err();
        assert_eq!(e.field(), field, "{e}");
        let msg = e.to_string();
        assert_eq!(msg, format!("{field}: {}", e.reason()));
        // The library speaks of its own options, never of a command line's flags.
        assert!(!msg.contains("--"), "{msg}");
        let shared = FieldError::from(e.clone());
        assert_eq!((shared.field, shared.to_string()), (field, msg));
    }
    let e = check_stream_length(MAX_TIMED_START_SEQ + 1, None).unwrap_err();
    assert_eq!(e.field(), "start_seq");
    assert!(!e.to_string().contains("--"), "{e}");
}

#[test]
fn a_valid_builder_reaches_the_engine_unchanged() {
    let from: SocketAddr = "127.0.0.1:7000".parse().unwrap();
    let c = SenderConfig::builder(dest())
        .payload(9000)
        .batch(32)
        .slots(512)
        .stream_id(7)
        .start_seq(100)
        .backend(BackendChoice::Send)
        .gso(false)
        .zc_threshold(None)
        .sndbuf(1 << 20)
        .rate(Rate::Pps(1000.0))
        .burst(4)
        .prefill(64)
        .pace_quantum(Duration::from_micros(50))
        .ack(AckFormat::Native)
        .window_packets(128)
        .window_bytes(1 << 22)
        .ack_bind("127.0.0.1:0".parse().unwrap())
        .ack_from(from)
        .ack_busy_poll(true)
        .window_wait(IdlePolicy::Spin)
        .stall_timeout(Duration::from_secs(3))
        .mlockall(true)
        .idle(IdlePolicy::Spin)
        .build()
        .unwrap();
    assert_eq!(
        (
            c.stream.payload,
            c.batch,
            c.stream.slots,
            c.stream.stream_id,
            c.stream.start_seq
        ),
        (9000, 32, 512, 7, 100)
    );
    assert_eq!(
        (
            c.socket.backend,
            c.socket.gso,
            c.socket.zc_threshold,
            c.socket.sndbuf
        ),
        (BackendChoice::Send, false, None, 1 << 20)
    );
    assert_eq!(
        (
            c.pacing.rate,
            c.pacing.burst,
            c.pacing.prefill,
            c.pacing.quantum
        ),
        (Some(Rate::Pps(1000.0)), 4, 64, Duration::from_micros(50))
    );
    assert_eq!(
        (
            c.flow.ack,
            c.flow.window_packets,
            c.flow.window_bytes,
            c.flow.ack_from
        ),
        (
            Some(AckFormat::Native),
            Some(128),
            Some(1 << 22),
            Some(from)
        )
    );
    assert!(c.flow.ack_busy_poll && c.thread.mlockall);
    assert_eq!(
        (c.flow.window_wait, c.thread.idle, c.flow.stall_timeout),
        (IdlePolicy::Spin, IdlePolicy::Spin, Duration::from_secs(3))
    );
}

#[test]
fn the_room_is_derived_once_at_build_from_the_payload_and_framing() {
    use crate::framing::{Format, Framing};
    let c = SenderConfig::builder(dest()).payload(1200).build().unwrap();
    assert_eq!(c.app_room, 1200 - crate::HEADER_LEN);
    assert_eq!(c.max_app_payload(), c.app_room);
    let raw = SenderConfig::builder(dest())
        .payload(1200)
        .framing(Framing::of(Format::Raw))
        .build()
        .unwrap();
    assert_eq!(raw.app_room, 1200);
    let vrt = Framing::of(Format::Vrt);
    let c = SenderConfig::builder(dest())
        .payload(1200)
        .framing(vrt)
        .build()
        .unwrap();
    assert_eq!(c.app_room, vrt.max_app_payload(1200));
    assert!(c.app_room < 1200);
}
