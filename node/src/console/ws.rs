//! A small blocking WebSocket client (RFC 6455) for the console: the opening
//! handshake, masked text frames out, text frames in (fragmented messages
//! reassembled, pings answered, a close ends the connection). Incoming messages
//! are bounded in size; no extensions, no TLS (`ws://` only).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

use rand_core::{OsRng, RngCore};

/// Why a WebSocket operation failed.
#[derive(Debug, thiserror::Error)]
pub enum WsError {
    /// Connection or transfer.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The server did not switch protocols.
    #[error("WebSocket handshake refused: {0}")]
    Handshake(String),
    /// A frame the client does not accept (reserved bits, bad opcode, too large).
    #[error("WebSocket protocol error: {0}")]
    Protocol(String),
    /// The server closed the connection.
    #[error("the node closed the WebSocket connection")]
    Closed,
}

/// Most header lines read in the handshake answer.
const MAX_HEADER_LINES: usize = 64;
/// Longest handshake header line.
const MAX_HEADER_LINE: u64 = 8 * 1024;

const OP_CONTINUATION: u8 = 0x0;
const OP_TEXT: u8 = 0x1;
const OP_BINARY: u8 = 0x2;
const OP_CLOSE: u8 = 0x8;
const OP_PING: u8 = 0x9;
const OP_PONG: u8 = 0xA;

/// An open WebSocket connection.
pub struct WsConn {
    writer: TcpStream,
    reader: BufReader<TcpStream>,
    max_message: u64,
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

impl WsConn {
    /// Opens `ws://host/path` over `stream` (already connected to `host`);
    /// messages larger than `max_message` bytes are refused.
    pub fn handshake(
        stream: TcpStream,
        host: &str,
        path: &str,
        max_message: u64,
    ) -> Result<Self, WsError> {
        let mut key = [0u8; 16];
        OsRng.fill_bytes(&mut key);
        let mut writer = stream.try_clone()?;
        write!(
            writer,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
            base64(&key)
        )?;
        let mut reader = BufReader::new(stream);
        let mut status = String::new();
        let mut upgraded = false;
        for i in 0..MAX_HEADER_LINES {
            let mut line = String::new();
            if reader.by_ref().take(MAX_HEADER_LINE).read_line(&mut line)? == 0 {
                return Err(WsError::Handshake("connection closed".into()));
            }
            let line = line.trim_end();
            if i == 0 {
                status = line.to_string();
                continue;
            }
            if line.is_empty() {
                if status.split_whitespace().nth(1) != Some("101") || !upgraded {
                    return Err(WsError::Handshake(status));
                }
                return Ok(Self {
                    writer,
                    reader,
                    max_message,
                });
            }
            let lower = line.to_ascii_lowercase();
            if lower.starts_with("upgrade:") && lower.contains("websocket") {
                upgraded = true;
            }
        }
        Err(WsError::Handshake("answer header too long".into()))
    }

    fn send_frame(&mut self, opcode: u8, payload: &[u8]) -> Result<(), WsError> {
        let mut frame = Vec::with_capacity(payload.len() + 14);
        frame.push(0x80 | opcode);
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= usize::from(u16::MAX) => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let mut mask = [0u8; 4];
        OsRng.fill_bytes(&mut mask);
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.writer.write_all(&frame)?;
        Ok(())
    }

    /// Sends one text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), WsError> {
        self.send_frame(OP_TEXT, text.as_bytes())
    }

    /// Receives the next text (or binary) message, answering pings on the way.
    pub fn recv_text(&mut self) -> Result<String, WsError> {
        let mut message: Vec<u8> = Vec::new();
        let mut in_message = false;
        loop {
            let mut head = [0u8; 2];
            self.reader.read_exact(&mut head)?;
            let fin = head[0] & 0x80 != 0;
            if head[0] & 0x70 != 0 {
                return Err(WsError::Protocol("reserved bits set".into()));
            }
            let opcode = head[0] & 0x0f;
            let masked = head[1] & 0x80 != 0;
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.reader.read_exact(&mut b)?;
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.reader.read_exact(&mut b)?;
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            if (message.len() as u64).saturating_add(len) > self.max_message {
                return Err(WsError::Protocol(format!(
                    "message over {} bytes",
                    self.max_message
                )));
            }
            let mut mask = [0u8; 4];
            if masked {
                self.reader.read_exact(&mut mask)?;
            }
            let mut payload = Vec::new();
            self.reader.by_ref().take(len).read_to_end(&mut payload)?;
            if payload.len() as u64 != len {
                return Err(WsError::Closed);
            }
            if masked {
                for (i, b) in payload.iter_mut().enumerate() {
                    *b ^= mask[i % 4];
                }
            }
            match opcode {
                OP_PING => self.send_frame(OP_PONG, &payload)?,
                OP_PONG => {}
                OP_CLOSE => {
                    let _ = self.send_frame(OP_CLOSE, &payload);
                    return Err(WsError::Closed);
                }
                OP_TEXT | OP_BINARY if !in_message => {
                    message = payload;
                    in_message = true;
                }
                OP_CONTINUATION if in_message => message.extend_from_slice(&payload),
                other => {
                    return Err(WsError::Protocol(format!(
                        "unexpected frame opcode {other:#x}"
                    )));
                }
            }
            if in_message && fin && matches!(opcode, OP_TEXT | OP_BINARY | OP_CONTINUATION) {
                return String::from_utf8(message)
                    .map_err(|_| WsError::Protocol("message is not UTF-8".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want);
        }
        // RFC 6455's sample nonce.
        assert_eq!(base64(b"the sample nonce"), "dGhlIHNhbXBsZSBub25jZQ==");
    }
}
