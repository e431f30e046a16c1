//! Signed URLs, resumable uploads and downloads.
