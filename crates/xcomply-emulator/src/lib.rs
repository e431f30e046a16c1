//! A local emulator of X's batch compliance API and of the Google Cloud Storage signed URLs it hands
//! out, for tests, benchmarks and the demo.
//!
//! It deliberately shares no code with the client beyond the wire types of `xcomply-core`, so that
//! a mistake in one cannot hide the same mistake in the other.
