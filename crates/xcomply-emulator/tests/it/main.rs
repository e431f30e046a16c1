//! End-to-end tests of the emulator with a plain HTTP client (never the xcomply client, so that a
//! mistake shared by both cannot hide).

mod api;
mod bytepath;
mod faults;
mod quickstart;
mod storage;
mod util;
