//! The X API v2 batch compliance client: create, get, list and cancel jobs, typed problem-details
//! errors, a rate-limit governor shared by every task, retries with backoff and jitter, and
//! `wait_for_job`.
//!
//! It deliberately does not move job data: uploads and downloads go to signed storage URLs and live
//! in `xcomply-transfer`.
