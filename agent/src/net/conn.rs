//! Per-connection I/O tasks. They only frame bytes: the reader cuts the
//! stream into whole messages for the speaker task, the writer writes what
//! the speaker sends and closes when told. Protocol decisions stay with the
//! speaker (one owner of state).

use bgp::fsm::ConnId;
use bgp::wire::{Frame, HEADER_LEN, SessionContext, frame};
use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::mpsc;

use super::NetEvent;

/// What the speaker task tells a connection's writer.
#[derive(Debug)]
pub(crate) enum WriterCmd {
    Send(Bytes),
    /// Write what is queued, then close.
    Close,
}

/// The read buffer of a quiet session: one largest classic message. A
/// thousand sessions of keepalives then hold 4 KiB each, not 64.
const READ_MIN: usize = 4096;
/// The most a read asks for while a table arrives.
const READ_MAX: usize = 256 * 1024;

/// Reads whole messages until the connection closes.
pub(crate) async fn read_loop(conn: ConnId, mut rd: OwnedReadHalf, events: mpsc::Sender<NetEvent>) {
    // Frame against the largest size any session may negotiate; the
    // speaker checks the session's own limit when it decodes.
    let ctx = SessionContext {
        extended_message: true,
        ..SessionContext::default()
    };
    let mut room = READ_MIN;
    let mut buf = BytesMut::with_capacity(room);
    let error = loop {
        match frame(&buf, &ctx) {
            Ok(Frame::Message { len, .. }) => {
                let msg = buf.split_to(len).freeze();
                if events
                    .send(NetEvent::Message { conn, bytes: msg })
                    .await
                    .is_err()
                {
                    return;
                }
                continue;
            }
            Ok(Frame::Incomplete { .. }) => {}
            Err(_) => {
                // Hand over what is there: decoding it yields the header
                // error and its NOTIFICATION (RFC 4271 §6.1). Nothing after
                // a bad header can be trusted, so stop reading.
                let len = buf.len().max(HEADER_LEN.min(buf.len()));
                let msg = buf.split_to(len).freeze();
                let _ = events.send(NetEvent::Message { conn, bytes: msg }).await;
                break None;
            }
        }
        if buf.capacity() - buf.len() < READ_MIN {
            buf.reserve(room);
        }
        match rd.read_buf(&mut buf).await {
            Ok(0) => break None,
            // A read that filled half the room: a table is arriving, read
            // in bigger bites; a small one: back to the idle size.
            Ok(n) if n >= room / 2 => room = (room * 2).min(READ_MAX),
            Ok(n) if n < READ_MIN / 2 => room = READ_MIN,
            Ok(_) => {}
            Err(e) => break Some(e.to_string()),
        }
    };
    let _ = events.send(NetEvent::Closed { conn, error }).await;
}

/// Writes until told to close (or the speaker task goes away).
pub(crate) async fn write_loop(
    mut wr: OwnedWriteHalf,
    mut cmds: mpsc::UnboundedReceiver<WriterCmd>,
) {
    while let Some(cmd) = cmds.recv().await {
        match cmd {
            WriterCmd::Send(bytes) => {
                if wr.write_all(&bytes).await.is_err() {
                    return;
                }
            }
            WriterCmd::Close => break,
        }
    }
    let _ = wr.shutdown().await;
}
