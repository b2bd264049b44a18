//! Topics across processes through a broker (Redis first): see
//! docs/ARCHITECTURE.md, "Topics across processes".

// Until the engine that uses it lands.
#[allow(dead_code)]
pub(crate) mod resp;
