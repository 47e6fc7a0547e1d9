//! A deterministic random source for tests: the core crates take entropy from their
//! caller, so a test that passes this one gets the same codes, verifiers and states on
//! every run. Never use it outside tests.

/// Yields the bytes `n+1, n+2, …` (wrapping), starting after the seed.
#[derive(Debug, Clone)]
pub struct CountingRng(pub u8);

impl rand_core::TryRng for CountingRng {
    type Error = core::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.try_fill_bytes(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.try_fill_bytes(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for d in dst {
            self.0 = self.0.wrapping_add(1);
            *d = self.0;
        }
        Ok(())
    }
}

impl rand_core::TryCryptoRng for CountingRng {}
