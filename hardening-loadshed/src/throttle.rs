//! Client-side adaptive throttling (placeholder).
