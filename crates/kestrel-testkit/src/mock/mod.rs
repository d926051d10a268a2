//! The OpenAI-compatible mock server (being written).
