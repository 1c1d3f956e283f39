//! ferrimq-config (being built; see docs/architecture.md).
