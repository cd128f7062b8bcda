//! Capped, multi-member gunzip: the one way gzip is read (used by `decode`).
//!
//! The fast path hands the whole object to libdeflate (about twice as fast as any streaming
//! inflater here), sized by the gzip trailer's ISIZE, and accepts the result only when exactly
//! one member filled exactly that size and consumed every input byte. Anything else (several
//! members, a lying ISIZE, a size over the cap, corrupt data) goes through flate2's streaming
//! multi-member decoder under the cap, which also words the error messages and ignores zero
//! padding after the last member.

use std::io::Read;
use std::ptr::NonNull;

use libdeflate_sys::{
    libdeflate_alloc_decompressor, libdeflate_decompressor, libdeflate_free_decompressor,
    libdeflate_gzip_decompress_ex, libdeflate_result_LIBDEFLATE_SUCCESS,
};

/// Why an object could not be gunzipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum InflateError {
    /// More than the cap decompressed.
    TooLarge,
    /// Not valid gzip (truncated, corrupt, bad checksum), with the decoder's reason.
    Invalid(String),
}

/// A reusable decompressor, one per worker thread.
pub struct Inflater {
    raw: Option<NonNull<libdeflate_decompressor>>,
}

// SAFETY: a libdeflate decompressor holds no thread-local state; it is used by one thread at a
// time (`&mut self`), and may move between threads.
unsafe impl Send for Inflater {}

impl Default for Inflater {
    fn default() -> Inflater {
        // SAFETY: allocation has no preconditions; a null result is handled as "no fast path".
        Inflater {
            raw: NonNull::new(unsafe { libdeflate_alloc_decompressor() }),
        }
    }
}

impl Drop for Inflater {
    fn drop(&mut self) {
        if let Some(raw) = self.raw.take() {
            // SAFETY: `raw` came from libdeflate_alloc_decompressor and is freed once.
            unsafe { libdeflate_free_decompressor(raw.as_ptr()) }
        }
    }
}

impl Inflater {
    /// Gunzips every member of `gz` into `out[..n]` and returns `n`. `out` keeps its length
    /// between calls (it only grows), so it is not cleared or zero-filled for every object.
    pub fn inflate(
        &mut self,
        gz: &[u8],
        limit: u64,
        out: &mut Vec<u8>,
    ) -> Result<usize, InflateError> {
        if let Some(n) = self.single_member(gz, limit, out) {
            return Ok(n);
        }
        streaming(gz, limit, out)
    }

    /// The libdeflate fast path; None when it does not apply or did not succeed cleanly.
    fn single_member(&mut self, gz: &[u8], limit: u64, out: &mut Vec<u8>) -> Option<usize> {
        let raw = self.raw?;
        let tail = gz.get(gz.len().checked_sub(4)?..)?;
        let size = u32::from_le_bytes([tail[0], tail[1], tail[2], tail[3]]) as usize;
        if size as u64 > limit {
            return None;
        }
        if out.len() < size {
            out.resize(size, 0);
        }
        let (mut consumed, mut written) = (0usize, 0usize);
        // SAFETY: the pointers and lengths describe live, non-overlapping buffers: `gz` is
        // read, `out[..size]` is written (never past `size`), and the result pointers are
        // valid for the call.
        let result = unsafe {
            libdeflate_gzip_decompress_ex(
                raw.as_ptr(),
                gz.as_ptr().cast(),
                gz.len(),
                out.as_mut_ptr().cast(),
                size,
                &mut consumed,
                &mut written,
            )
        };
        let clean = result == libdeflate_result_LIBDEFLATE_SUCCESS
            && consumed == gz.len()
            && written == size;
        clean.then_some(size)
    }
}

/// flate2's streaming decoder under the cap, one member after another. Zero bytes after the
/// last member are padding (some copy tools write it; `gzip -d` ignores it too) and are
/// ignored; any other trailing byte must start another member.
fn streaming(gz: &[u8], limit: u64, out: &mut Vec<u8>) -> Result<usize, InflateError> {
    out.clear();
    let mut rest = gz;
    loop {
        #[expect(
            clippy::disallowed_types,
            reason = "the one capped streaming gzip decoder"
        )]
        let mut member = flate2::bufread::GzDecoder::new(rest);
        let room = (limit + 1).saturating_sub(out.len() as u64);
        (&mut member)
            .take(room)
            .read_to_end(out)
            .map_err(|e| InflateError::Invalid(e.to_string()))?;
        if out.len() as u64 > limit {
            return Err(InflateError::TooLarge);
        }
        rest = member.into_inner();
        if rest.iter().all(|b| *b == 0) {
            return Ok(out.len());
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;

    /// Gzip of `data` in one member (shared with the decode tests).
    pub(crate) fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn inflate(gz: &[u8], limit: u64) -> Result<Vec<u8>, InflateError> {
        let mut out = vec![b'x'; 7]; // stale content must not leak into the result
        let n = Inflater::default().inflate(gz, limit, &mut out)?;
        Ok(out[..n].to_vec())
    }

    #[test]
    fn single_and_multi_member_streams_are_read_whole() {
        assert_eq!(inflate(&gzip(b"hello"), 100).unwrap(), b"hello");
        let mut two = gzip(b"hello, ");
        two.extend(gzip(b"world"));
        assert_eq!(inflate(&two, 100).unwrap(), b"hello, world");
        let mut same_size = gzip(b"abc");
        same_size.extend(gzip(b"xyz"));
        assert_eq!(
            inflate(&same_size, 100).unwrap(),
            b"abcxyz",
            "equal-sized members"
        );
        assert_eq!(inflate(&gzip(b""), 100).unwrap(), b"");
    }

    #[test]
    fn the_cap_holds_even_when_isize_lies() {
        let big = gzip(&vec![b' '; 10_000]);
        assert_eq!(inflate(&big, 1000), Err(InflateError::TooLarge));
        let mut lying = big.clone();
        let n = lying.len();
        lying[n - 4..].copy_from_slice(&10u32.to_le_bytes());
        assert_eq!(inflate(&lying, 1000), Err(InflateError::TooLarge));
        assert_eq!(inflate(&big, 10_000).unwrap().len(), 10_000);
    }

    #[test]
    fn corrupt_streams_are_errors() {
        let good = gzip(b"some content that is long enough to matter");
        let truncated = &good[..good.len() / 2];
        assert!(matches!(
            inflate(truncated, 1000),
            Err(InflateError::Invalid(_))
        ));
        let mut bad_crc = good.clone();
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        assert!(matches!(
            inflate(&bad_crc, 1000),
            Err(InflateError::Invalid(_))
        ));
        let mut padded = good.clone();
        padded.extend_from_slice(&[0; 512]);
        assert_eq!(
            inflate(&padded, 1000).unwrap(),
            b"some content that is long enough to matter",
            "zero padding after the last member is ignored"
        );
        let mut trailing = good.clone();
        trailing.extend_from_slice(b"garbage");
        assert!(matches!(
            inflate(&trailing, 1000),
            Err(InflateError::Invalid(_))
        ));
    }
}
