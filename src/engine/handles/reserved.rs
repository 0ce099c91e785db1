//! [`Reserved`]: one packet buffer the app holds between [`Sender::reserve`] and its commit.

use super::Sender;
use crate::engine::EngineError;
use crate::framing::STAMP_END;
use crate::sys::SlotToken;

/// A reserved packet buffer. Write the application bytes, then [`commit`](Self::commit); dropping
/// it uncommitted gives the slot back.
///
/// ```
/// use ringshot::wire::header::{fill_pattern, FLAG_PATTERN};
/// use ringshot::{Sender, SenderConfig};
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
/// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
/// let mut sent = 0;
/// while sent < 3 {
///     let Some(mut slot) = tx.reserve()? else { continue };
///     let room = slot.payload_mut().len();
///     fill_pattern(sent, &mut slot.payload_mut()[..room]); // written in place: no copy
///     slot.set_flags(FLAG_PATTERN); // receivers verify the pattern byte for byte
///     slot.commit(room)?;
///     sent += 1;
/// }
/// // A slot reserved and dropped uncommitted goes back; nothing is sent for it.
/// drop(tx.reserve()?);
/// assert_eq!(tx.finish()?.committed, 3);
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Reserved<'a> {
    pub(super) sender: &'a mut Sender,
    pub(super) token: Option<SlotToken>,
    pub(super) flags: u8,
}

impl Reserved<'_> {
    /// The application part of the packet (after the framing's header room),
    /// [`Sender::next_room`] bytes long ([`Sender::max_app_payload`] but for SPEAD near the end
    /// of a heap).
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (h, room) = (self.sender.header_len, self.sender.next_room());
        let token = self.token.as_mut().expect("reserved slot");
        &mut self.sender.slab.bytes_mut(token)[h..h + room]
    }

    /// The room this buffer has (tests commit one byte more).
    #[cfg(test)]
    pub(crate) fn sender_room(&self) -> usize {
        self.sender.next_room()
    }

    /// Index of the slot this buffer lives in (tests check it against what the backend holds).
    #[cfg(test)]
    pub(crate) fn slot(&self) -> u32 {
        self.token.as_ref().expect("reserved slot").index()
    }

    /// Copies as much of `data` as the room holds, commits it, and returns the rest (with
    /// SPEAD, what runs past the end of the heap goes in the next packet).
    pub(super) fn fill_from(mut self, data: &[u8]) -> Result<&[u8], EngineError> {
        let buf = self.payload_mut();
        let n = data.len().min(buf.len());
        buf[..n].copy_from_slice(&data[..n]);
        self.commit(n)?;
        Ok(&data[n..])
    }

    /// Sets header flags (for example [`crate::wire::header::FLAG_PATTERN`]).
    pub fn set_flags(&mut self, flags: u8) {
        self.flags = flags;
    }

    /// Queues the packet with `len` application bytes.
    ///
    /// # Errors
    ///
    /// [`EngineError::PacketTooLarge`] when `len` is beyond the room
    /// [`payload_mut`](Self::payload_mut) gave: nothing is queued and the slot goes back.
    ///
    /// ```
    /// use ringshot::{EngineError, Sender, SenderConfig};
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let receiver = std::net::UdpSocket::bind("127.0.0.1:0")?;
    /// let mut tx = Sender::spawn(SenderConfig::builder(receiver.local_addr()?).build()?)?;
    /// let room = tx.max_app_payload();
    /// let slot = loop {
    ///     if let Some(s) = tx.reserve()? {
    ///         break s;
    ///     }
    /// };
    /// let err = slot.commit(room + 1).unwrap_err(); // more than the slot holds: nothing queued
    /// assert!(matches!(err, EngineError::PacketTooLarge { .. }));
    /// assert_eq!(tx.finish()?.committed, 0);
    /// # Ok(())
    /// # }
    /// ```
    pub fn commit(mut self, len: usize) -> Result<(), EngineError> {
        let room = self.sender.next_room();
        if len > room {
            return Err(EngineError::PacketTooLarge { len, max: room });
        }
        if let Some(s) = self.sender.heaps.as_mut() {
            s.skip(len);
        }
        let token = self.token.take().expect("reserved slot");
        let total = self.sender.header_len + len;
        // The end-of-stream flag is the sender's own, never the app's.
        self.sender
            .push_ready(token, total as u32, self.flags & !STAMP_END);
        Ok(())
    }
}

impl Drop for Reserved<'_> {
    fn drop(&mut self) {
        if let Some(t) = self.token.take() {
            self.sender.spare = Some(t);
        }
    }
}
