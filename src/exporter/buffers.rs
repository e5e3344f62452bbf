//! Reusable response buffers.
//!
//! At hospital-group scale a scrape body is tens of megabytes; fresh memory for each costs a page
//! fault every 4 KiB and a trip through the allocator, which the scrape benchmark showed to be as
//! much as the writing itself. Buffers come back to the pool when the response has been sent.

use bytes::Bytes;
use std::sync::{Arc, Mutex};

/// Buffers kept: two concurrent scrapes, each with a plain and a compressed body.
const KEPT: usize = 4;

/// A pool of byte buffers, shared by the scrapes of one exporter.
#[derive(Debug, Clone, Default)]
pub struct BufferPool(Arc<Mutex<Vec<Vec<u8>>>>);

impl BufferPool {
    /// An empty buffer, with the capacity of an earlier body when one is free.
    pub fn take(&self) -> Vec<u8> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop().unwrap_or_default()
    }

    /// Return a buffer for reuse.
    pub fn give_back(&self, mut buf: Vec<u8>) {
        buf.clear();
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < KEPT {
            pool.push(buf);
        }
    }

    /// Wrap a filled buffer as response bytes that return to the pool when dropped.
    pub fn into_bytes(&self, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Pooled { buf, pool: self.clone() })
    }
}

/// A buffer lent to a response.
struct Pooled {
    buf: Vec<u8>,
    pool: BufferPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        self.pool.give_back(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_return_to_the_pool_when_the_bytes_are_dropped() {
        let pool = BufferPool::default();
        let mut buf = pool.take();
        buf.extend_from_slice(&[7; 1000]);
        let bytes = pool.into_bytes(buf);
        assert_eq!(&bytes[..3], &[7, 7, 7]);
        drop(bytes);
        let again = pool.take();
        assert!(again.is_empty() && again.capacity() >= 1000);
    }
}
