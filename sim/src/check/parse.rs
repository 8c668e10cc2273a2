//! Reading history files (JSON lines).
