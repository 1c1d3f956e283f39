//! ferrimq-fastjson (being built; see docs/architecture.md).
