//! ferrimq-remoting (being built; see docs/architecture.md).
