//! The framing stage: how the engine writes the front of each datagram from its sequence number,
//! on the TX core, just before the batch is submitted.
//!
//! One [`Framing`] is chosen at configuration; the engine builds a [`Stamper`] from it. The app
//! writes its bytes after the framing's header room ([`Stamper::header_len`]); the stamp writes
//! the header in front and returns the datagram's length (VRT formats pad the payload to whole
//! 32-bit words, so the room the app gets is rounded down to a word).
//!
//! | format     | header bytes          | sequence on the wire                          |
//! |------------|-----------------------|-----------------------------------------------|
//! | `ringshot` | 16                    | 64-bit sequence                               |
//! | `raw`      | 0                     | none (the engine still counts internally)     |
//! | `usrp2`    | 4 + 8 (+ 4 TSI, + 8 TSF) | 32-bit sequence word, VRT packet count mod 16 |
//! | `vrt`      | 8 (+ 4 TSI, + 8 TSF)  | VRT packet count mod 16                       |
//! | `chdr`     | 8 (+ 8 with timestamp)| CHDR SeqNum mod 2^16                          |
//! | `spead`    | 48                    | heap cnt (per heap), heap offset              |

use std::fmt;
use std::str::FromStr;

use crate::wire::header::{self, HEADER_LEN};

use crate::wire::{chdr, usrp2, vrt};

mod file;
mod spead;
pub use file::FileSource;
pub use spead::Spead;
pub use spead::{whole_packet_heap, DEFAULT_HEAP_SIZE, DEFAULT_ITEM_ID};

/// The data packet formats the engine can stamp.
///
/// ```
/// use ringshot::framing::Format;
///
/// let f: Format = "vrt".parse().unwrap();
/// assert_eq!((f.name(), f.align()), ("vrt", 4)); // VRT payloads are whole 32-bit words
/// assert_eq!(Format::default(), Format::Ringshot);
/// assert_eq!(Format::ALL.len(), 6);
/// assert!("ethernet".parse::<Format>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Format {
    /// ringshot's own 16-byte header.
    #[default]
    Ringshot,
    /// No header: the app's bytes go out as they are.
    Raw,
    /// A 32-bit big-endian flow-control sequence word, then a VRT IF data packet (USRP2/N2x0).
    Usrp2,
    /// VITA-49.0 IF data packets with a stream id.
    Vrt,
    /// RFNoC CHDR data packets (64-bit bus).
    Chdr,
    /// SPEAD heaps (spead2's packet layout).
    Spead,
}

impl Format {
    /// Every format, in declaration order.
    pub const ALL: [Format; 6] = [
        Format::Ringshot,
        Format::Raw,
        Format::Usrp2,
        Format::Vrt,
        Format::Chdr,
        Format::Spead,
    ];

    pub const fn name(self) -> &'static str {
        match self {
            Format::Ringshot => "ringshot",
            Format::Raw => "raw",
            Format::Usrp2 => "usrp2",
            Format::Vrt => "vrt",
            Format::Chdr => "chdr",
            Format::Spead => "spead",
        }
    }

    /// Payload bytes are padded to a multiple of this.
    pub const fn align(self) -> usize {
        match self {
            Format::Usrp2 | Format::Vrt => 4,
            Format::Spead => 8,
            _ => 1,
        }
    }
}

impl FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Format, String> {
        Format::ALL
            .into_iter()
            .find(|f| f.name() == s)
            .ok_or_else(|| {
                format!("unknown format '{s}' (expected ringshot, raw, usrp2, vrt, chdr or spead)")
            })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Bytes per sample by default: sc16 (16-bit I and Q).
pub const DEFAULT_SAMPLE_BYTES: usize = 4;

/// VRT / USRP2 integer-seconds timestamp (TSI): its kind and the stream's first second.
///
/// The second advances as the samples sent pass whole seconds at [`Framing::sample_rate`] (it
/// stays at `start` when no sample rate is known). It never wraps: at `u32::MAX` it stays there
/// and [`Stamper::tsi_saturated`] counts the packets stamped so.
///
/// ```
/// use ringshot::framing::{Format, Framing, IntegerTime};
/// use ringshot::wire::vrt::Tsi;
///
/// // VRT packets stamped with UTC seconds, starting at a given second, 1 MS/s of sc16 samples.
/// let framing = Framing {
///     tsi: Some(IntegerTime { kind: Tsi::Utc, start: 1_700_000_000 }),
///     sample_rate: 1_000_000,
///     ..Framing::of(Format::Vrt)
/// };
/// assert_eq!(framing.header_len(), 8 + 4); // header, stream id, then the TSI word
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntegerTime {
    pub kind: vrt::Tsi,
    /// The integer second of the stream's first sample.
    pub start: u32,
}

/// The framing chosen at configuration.
///
/// ```
/// use ringshot::framing::{Format, Framing};
///
/// let ringshot = Framing::default();
/// assert_eq!((ringshot.header_len(), ringshot.max_app_payload(1472)), (16, 1456));
/// let raw = Framing::of(Format::Raw);
/// assert_eq!(raw.max_app_payload(1472), 1472);
/// // A CHDR timestamp adds a word; VRT rounds the room down to whole words.
/// let chdr = Framing { sample_count_ts: true, ..Framing::of(Format::Chdr) };
/// assert_eq!(chdr.header_len(), 16);
/// assert_eq!(Framing::of(Format::Vrt).max_app_payload(1471) % 4, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Framing {
    pub format: Format,
    /// VRT / USRP2: carry a sample-count fractional timestamp (TSF = 1); CHDR: carry the
    /// timestamp word (PktType 7). It starts at 0 and advances by the samples in each packet.
    pub sample_count_ts: bool,
    /// Bytes per sample, to count samples for the timestamp (default 4, sc16).
    pub sample_bytes: usize,
    /// CHDR destination endpoint id.
    pub dst_epid: u16,
    /// SPEAD heaps.
    pub spead: Spead,
    /// VRT / USRP2: a class id in every packet (C bit).
    pub class_id: Option<vrt::ClassId>,
    /// VRT / USRP2: this trailer word at the end of every packet (T bit).
    pub trailer: Option<u32>,
    /// VRT / USRP2: an integer-seconds timestamp in every packet (TSI field).
    pub tsi: Option<IntegerTime>,
    /// Samples per second (0: not known). With a TSI it makes the second advance; with a TSI
    /// and a sample-count TSF it is required, and the TSF then counts samples within the second.
    pub sample_rate: u64,
}

impl Default for Framing {
    fn default() -> Framing {
        Framing {
            format: Format::Ringshot,
            sample_count_ts: false,
            sample_bytes: DEFAULT_SAMPLE_BYTES,
            dst_epid: 0,
            spead: Spead::default(),
            class_id: None,
            trailer: None,
            tsi: None,
            sample_rate: 0,
        }
    }
}

impl Framing {
    /// Framing of `format` with the other options at their defaults.
    pub fn of(format: Format) -> Framing {
        Framing {
            format,
            ..Framing::default()
        }
    }

    /// Header room in front of the app's bytes.
    pub const fn header_len(&self) -> usize {
        let ts = if self.sample_count_ts { 8 } else { 0 };
        let cid = if self.class_id.is_some() { 8 } else { 0 };
        let tsi = if self.tsi.is_some() { 4 } else { 0 };
        match self.format {
            Format::Ringshot => HEADER_LEN,
            Format::Raw => 0,
            Format::Usrp2 => usrp2::DATA_PREFIX_LEN + 8 + cid + tsi + ts,
            Format::Vrt => 8 + cid + tsi + ts,
            Format::Chdr => chdr::HEADER_LEN + ts,
            Format::Spead => spead::HEADER_LEN,
        }
    }

    /// Bytes after the app's data: the VRT trailer word when there is one.
    pub const fn tail_len(&self) -> usize {
        match (self.format, self.trailer) {
            (Format::Usrp2 | Format::Vrt, Some(_)) => 4,
            _ => 0,
        }
    }

    /// SPEAD with GSO: a heap that is not a whole number of packets ends in a shorter packet, and
    /// a GSO super-packet may only end in a shorter segment, so every heap ends a GSO run (the
    /// benchmarks measured about 10 % more CPU per packet with the default heap at 1,472 bytes).
    /// Says so, with the nearest whole-packet heap size, or `None` when nothing is lost.
    ///
    /// ```
    /// use ringshot::framing::{whole_packet_heap, Format, Framing, Spead};
    ///
    /// let mut spead = Framing::of(Format::Spead);
    /// assert!(spead.heap_gso_notice(1472).is_some()); // 65,536-byte heaps end in a short packet
    /// let room = spead.max_app_payload(1472) as u64;
    /// spead.spead = Spead { heap_size: whole_packet_heap(65_536, room), ..spead.spead };
    /// assert_eq!(spead.heap_gso_notice(1472), None);
    /// ```
    pub fn heap_gso_notice(&self, payload: usize) -> Option<String> {
        let room = self.max_app_payload(payload) as u64;
        let heap = self.spead.heap_size;
        if !matches!(self.format, Format::Spead)
            || room == 0
            || heap.is_multiple_of(room)
            || heap < room
        {
            return None;
        }
        let whole = spead::whole_packet_heap(heap, room);
        Some(format!(
            "SPEAD heaps of {heap} bytes end in a {}-byte packet, which ends a GSO run at every \
             heap; a heap size that is a multiple of {room} (such as {whole}) keeps the runs whole",
            heap % room
        ))
    }

    /// Largest app payload in a datagram of `payload` bytes (header room taken off, rounded down
    /// to the format's alignment); 0 when the header does not fit.
    ///
    /// ```
    /// use ringshot::framing::{Format, Framing};
    ///
    /// assert_eq!(Framing::of(Format::Ringshot).max_app_payload(1472), 1456);
    /// assert_eq!(Framing::of(Format::Usrp2).max_app_payload(1472), 1460); // 4 + 8 header bytes
    /// assert_eq!(Framing::of(Format::Vrt).max_app_payload(10), 0); // no room after the header
    /// ```
    pub const fn max_app_payload(&self, payload: usize) -> usize {
        let room = payload.saturating_sub(self.header_len() + self.tail_len());
        room - room % self.format.align()
    }
}

/// A flag the engine passes to [`Stamper::stamp`] for the packet that ends a push-mode stream
/// (SPEAD's stop heap); it is never written to the wire.
pub(crate) const STAMP_END: u8 = 0x80;

/// The engine's per-stream framing state: it stamps each packet's header from its sequence
/// number. No allocation; one match per packet.
///
/// ```
/// use ringshot::framing::{Format, Framing, Stamper};
/// use ringshot::wire::{header, vrt};
///
/// // The ringshot header: the app's bytes after the header room, the stamp in front.
/// let mut st = Stamper::new(Framing::default(), 7);
/// let mut buf = [0u8; 64];
/// let h = st.header_len();
/// buf[h..h + 4].copy_from_slice(b"data");
/// let len = st.stamp(&mut buf, 42, 0, 4);
/// assert_eq!(len, h + 4);
/// let repr = header::Repr::parse(&header::Packet::new_checked(&buf[..len]).unwrap()).unwrap();
/// assert_eq!((repr.stream_id, repr.seq), (7, 42));
///
/// // VRT: the same call writes a VITA-49 header, the sequence as the packet count mod 16.
/// let mut st = Stamper::new(Framing::of(Format::Vrt), 7);
/// let len = st.stamp(&mut buf, 42, 0, 5); // 5 bytes, padded to 8
/// let p = vrt::Packet::new_checked(&buf[..len]).unwrap();
/// assert_eq!((p.stream_id(), p.packet_count(), p.payload().len()), (Some(7), 42 % 16, 8));
/// assert_eq!(st.framing().format, Format::Vrt);
/// assert_eq!(st.tsi_saturated(), 0);
/// ```
#[derive(Debug, Clone)]
pub struct Stamper {
    framing: Framing,
    stream_id: u32,
    header_len: usize,
    /// Sample count of the next packet's first sample (within the second when a TSI is
    /// stamped and the sample rate is known).
    samples: u64,
    /// The integer second of the next packet (with a TSI).
    second: u32,
    /// The second would have passed `u32::MAX`.
    past_max: bool,
    /// Packets whose TSI stayed at `u32::MAX` because the second had passed it.
    tsi_saturated: u64,
    heap: spead::HeapCursor,
}

impl Stamper {
    pub fn new(framing: Framing, stream_id: u32) -> Stamper {
        Stamper {
            heap: spead::HeapCursor::new(&framing.spead),
            header_len: framing.header_len(),
            second: framing.tsi.map_or(0, |t| t.start),
            framing,
            stream_id,
            samples: 0,
            past_max: false,
            tsi_saturated: 0,
        }
    }

    /// Packets stamped with a TSI held at `u32::MAX` (the second would have wrapped).
    pub fn tsi_saturated(&self) -> u64 {
        self.tsi_saturated
    }

    /// Header room in front of the app's bytes.
    #[inline]
    pub fn header_len(&self) -> usize {
        self.header_len
    }

    pub fn framing(&self) -> &Framing {
        &self.framing
    }

    /// Room for the next packet's app bytes, at most `max` (SPEAD: what is left of the heap).
    ///
    /// ```
    /// use ringshot::framing::{Format, Framing, Spead, Stamper};
    ///
    /// // SPEAD heaps of 1000 bytes: packets of up to 600 bytes are cut at the heap's end.
    /// let framing = Framing {
    ///     spead: Spead { heap_size: 1000, ..Spead::default() },
    ///     ..Framing::of(Format::Spead)
    /// };
    /// let mut st = Stamper::new(framing, 0);
    /// let mut buf = [0u8; 1500];
    /// assert_eq!(st.next_room(600), 600);
    /// st.stamp(&mut buf, 0, 0, 600);
    /// assert_eq!(st.next_room(600), 400); // what is left of the heap
    /// ```
    #[inline]
    pub fn next_room(&self, max: usize) -> usize {
        match self.framing.format {
            Format::Spead => self.heap.room(&self.framing.spead, max),
            _ => max,
        }
    }

    /// Moves the framing state past a packet of `app_len` app bytes without writing it: a
    /// push-mode sender keeps a copy of the engine's stamper this way, to size each buffer it
    /// hands out to what the next packet may carry ([`next_room`](Self::next_room)).
    pub(crate) fn skip(&mut self, app_len: usize) {
        if self.framing.format == Format::Spead {
            self.heap.advance(&self.framing.spead, app_len);
        }
    }

    /// The packet that ends the stream, for framings that have one (SPEAD's stop heap), written
    /// once; returns its length. It takes the next sequence number, `seq`.
    ///
    /// ```
    /// use ringshot::framing::{Format, Framing, Stamper};
    /// use ringshot::wire::spead;
    ///
    /// let mut buf = [0u8; 128];
    /// assert_eq!(Stamper::new(Framing::default(), 0).stamp_end(&mut buf, 10), None);
    /// let mut st = Stamper::new(Framing::of(Format::Spead), 0);
    /// let len = st.stamp_end(&mut buf, 10).unwrap(); // SPEAD's stop heap
    /// let repr = spead::Repr::parse(&spead::Packet::new_checked(&buf[..len]).unwrap()).unwrap();
    /// assert_eq!(repr.stream_ctrl, Some(spead::CTRL_STOP));
    /// ```
    pub fn stamp_end(&mut self, buf: &mut [u8], seq: u64) -> Option<usize> {
        let _ = seq;
        match self.framing.format {
            Format::Spead => self.heap.stamp_stop(&self.framing.spead, buf),
            _ => None,
        }
    }

    /// Writes the header of packet `seq` carrying `app_len` app bytes (already at
    /// `buf[header_len..]`) and returns the datagram's length. VRT formats pad the payload with
    /// zeros to whole words.
    ///
    /// # Panics
    /// If `buf` is shorter than the header plus the padded payload (the engine's slots are sized
    /// so it never is).
    ///
    /// ```
    /// use ringshot::framing::{Format, Framing, Stamper};
    /// use ringshot::wire::chdr;
    ///
    /// let mut st = Stamper::new(Framing::of(Format::Chdr), 0);
    /// let mut buf = [0u8; 64];
    /// let len = st.stamp(&mut buf, 70_000, 0, 16);
    /// let p = chdr::Packet::new_checked(&buf[..len]).unwrap();
    /// assert_eq!(p.seq_num(), (70_000 % 65_536) as u16); // CHDR's 16-bit SeqNum
    /// assert_eq!(usize::from(p.length()), len);
    /// ```
    #[inline]
    pub fn stamp(&mut self, buf: &mut [u8], seq: u64, flags: u8, app_len: usize) -> usize {
        let h = self.header_len;
        match self.framing.format {
            Format::Ringshot => {
                header::Repr {
                    flags,
                    stream_id: self.stream_id,
                    seq,
                }
                .emit(&mut header::Packet::new_unchecked(&mut buf[..HEADER_LEN]));
                h + app_len
            }
            Format::Raw => app_len,
            Format::Vrt => self.stamp_vrt(buf, 0, seq, app_len),
            Format::Usrp2 => {
                // Wraps at 2^32 by design: the USRP2 word is the low 32 bits of the sequence.
                buf[..usrp2::DATA_PREFIX_LEN].copy_from_slice(&(seq as u32).to_be_bytes());
                self.stamp_vrt(buf, usrp2::DATA_PREFIX_LEN, seq, app_len)
            }
            Format::Chdr => {
                let len = h + app_len;
                let repr = chdr::DataRepr {
                    vc: 0,
                    eob: false,
                    eov: false,
                    seq_num: seq as u16,
                    dst_epid: self.framing.dst_epid,
                    timestamp: self.next_timestamp(app_len),
                    payload_len: app_len,
                };
                repr.emit(&mut chdr::Packet::new_unchecked(&mut buf[..len]));
                len
            }
            Format::Spead if flags & STAMP_END != 0 => {
                self.heap.stamp_stop(&self.framing.spead, buf).unwrap_or(0)
            }
            Format::Spead => self.heap.stamp(&self.framing.spead, buf, app_len),
        }
    }

    /// The (integer second, sample count) of this packet; advances the count by its samples,
    /// and the second when the count passes the sample rate (with a TSI and a known rate).
    #[inline]
    fn next_time(&mut self, app_len: usize) -> (u32, u64) {
        let now = (self.second, self.samples);
        if self.past_max {
            self.tsi_saturated += 1;
        }
        let n = (app_len / self.framing.sample_bytes.max(1)) as u64;
        // Saturates: 2^64 samples are centuries away at any real rate.
        self.samples = self.samples.saturating_add(n);
        let rate = self.framing.sample_rate;
        if self.framing.tsi.is_some() && rate > 0 && self.samples >= rate {
            let next = u64::from(self.second) + self.samples / rate;
            self.samples %= rate;
            match u32::try_from(next) {
                Ok(s) => self.second = s,
                Err(_) => self.hold_second(),
            }
        }
        now
    }

    /// The second would pass `u32::MAX`: it stays there, and every packet from now on is
    /// counted in [`tsi_saturated`](Self::tsi_saturated).
    #[cold]
    fn hold_second(&mut self) {
        if !self.past_max {
            log::warn!("the VRT integer timestamp reached u32::MAX seconds: held there");
        }
        self.past_max = true;
        self.second = u32::MAX;
    }

    /// The timestamp of this packet when timestamps are on; advances the sample count.
    #[inline]
    fn next_timestamp(&mut self, app_len: usize) -> Option<u64> {
        if !self.framing.sample_count_ts {
            return None;
        }
        Some(self.next_time(app_len).1)
    }

    fn stamp_vrt(&mut self, buf: &mut [u8], at: usize, seq: u64, app_len: usize) -> usize {
        let words = app_len.div_ceil(4);
        let padded = words * 4;
        let data_end = self.header_len + padded;
        buf[self.header_len + app_len..data_end].fill(0);
        let end = data_end + self.framing.tail_len();
        // The header word and stream id by hand (the layout `vrt::Repr::emit` writes; the tests
        // parse it back with `vrt::Packet`): one store each instead of a walk over the options.
        let (tsi, tsf) = (self.framing.tsi, self.framing.sample_count_ts);
        let (second, samples) = if tsi.is_some() || tsf {
            self.next_time(app_len)
        } else {
            (0, 0)
        };
        let size = ((end - at) / 4) as u32;
        let tsf_bits = u32::from(tsf) * ((vrt::Tsf::SampleCount as u32) << 20);
        let tsi_bits = tsi.map_or(0, |t| (t.kind as u32) << 22);
        let (c, t) = (
            u32::from(self.framing.class_id.is_some()) << 27,
            u32::from(self.framing.tail_len() != 0) << 26,
        );
        let header = u32::from(vrt::PacketType::IfDataWithStreamId.raw()) << 28
            | c
            | t
            | tsi_bits
            | tsf_bits
            | ((seq & 0xF) as u32) << 16
            | (size & 0xFFFF);
        buf[at..at + 4].copy_from_slice(&header.to_be_bytes());
        buf[at + 4..at + 8].copy_from_slice(&self.stream_id.to_be_bytes());
        let mut next = at + 8;
        if let Some(cid) = self.framing.class_id {
            let w1 = u32::from(cid.info_class) << 16 | u32::from(cid.packet_class);
            buf[next..next + 4].copy_from_slice(&(cid.oui & 0x00FF_FFFF).to_be_bytes());
            buf[next + 4..next + 8].copy_from_slice(&w1.to_be_bytes());
            next += 8;
        }
        if tsi.is_some() {
            buf[next..next + 4].copy_from_slice(&second.to_be_bytes());
            next += 4;
        }
        if tsf {
            buf[next..next + 8].copy_from_slice(&samples.to_be_bytes());
        }
        if let (Some(word), true) = (self.framing.trailer, end > data_end) {
            buf[data_end..end].copy_from_slice(&word.to_be_bytes());
        }
        end
    }
}

#[cfg(test)]
mod tests;
