//! A downloaded object read as lines while it streams: HTTP body → gunzip → lines.

use std::io;
use std::pin::Pin;

use async_compression::tokio::bufread::GzipDecoder;
use futures_util::TryStreamExt;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, BufReader};
use tokio_util::io::StreamReader;

pub struct ObjectReader {
    lines: Pin<Box<dyn AsyncBufRead + Send>>,
}

impl ObjectReader {
    pub fn new(response: reqwest::Response) -> ObjectReader {
        let body = StreamReader::new(
            response
                .bytes_stream()
                .map_err(|e| io::Error::other(e.without_url())),
        );
        let mut gunzip = GzipDecoder::new(body);
        // large exports are written as several gzip members
        gunzip.multiple_members(true);
        ObjectReader {
            lines: Box::pin(BufReader::with_capacity(256 * 1024, gunzip)),
        }
    }

    /// Reads the next line (without its newline) into `line`; false at the end.
    pub async fn next_line(&mut self, line: &mut Vec<u8>) -> io::Result<bool> {
        line.clear();
        let n = self.lines.read_until(b'\n', line).await?;
        if line.last() == Some(&b'\n') {
            line.pop();
            if line.last() == Some(&b'\r') {
                line.pop();
            }
        }
        Ok(n > 0)
    }
}
