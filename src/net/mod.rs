//! Networking: listeners and streams (HTTP and TCP build on these), and the
//! operating-system calls behind them, kept in [`sys`].

pub(crate) mod sys;

pub(crate) mod resolve;
pub(crate) mod tls;
pub(crate) mod tls_server;
pub(crate) mod writeq;
pub(crate) mod listener;
