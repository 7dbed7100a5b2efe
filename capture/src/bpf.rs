//! BPF filter expressions (tcpdump syntax) over packets read from files,
//! compiled by libpcap for each link type the packets carry (feature
//! `live`, which links libpcap).

use crate::{Linktype, RawPacket};

/// An expression libpcap refused for a link type.
#[derive(Debug, Clone, thiserror::Error)]
#[error("filter {expr:?} for link type {linktype}: {message}")]
pub struct FilterError {
    /// The expression as given.
    pub expr: String,
    /// The link type it was compiled for.
    pub linktype: Linktype,
    /// libpcap's message.
    pub message: String,
}

/// A filter expression, compiled once per link type seen.
pub struct BpfFilter {
    expr: String,
    /// Programs by link type; a link type the expression cannot apply to
    /// holds its error, and its packets do not match.
    programs: Vec<(Linktype, Result<pcap::BpfProgram, FilterError>)>,
}

impl std::fmt::Debug for BpfFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let types: Vec<Linktype> = self.programs.iter().map(|(l, _)| *l).collect();
        f.debug_struct("BpfFilter")
            .field("expr", &self.expr)
            .field("linktypes", &types)
            .finish()
    }
}

fn compile(expr: &str, linktype: Linktype) -> Result<pcap::BpfProgram, FilterError> {
    let err = |e: pcap::Error| FilterError {
        expr: expr.to_string(),
        linktype,
        message: e.to_string(),
    };
    let lt = i32::try_from(linktype.0).map_err(|_| FilterError {
        expr: expr.to_string(),
        linktype,
        message: "not a libpcap link type".into(),
    })?;
    pcap::Capture::dead(pcap::Linktype(lt))
        .map_err(err)?
        .compile(expr, true)
        .map_err(err)
}

impl BpfFilter {
    /// Compiles `expr` for `first` (the link type most files carry, to
    /// refuse a bad expression before any packet is read); other link
    /// types are compiled when their first packet comes.
    pub fn new(expr: &str, first: Linktype) -> Result<BpfFilter, FilterError> {
        let p = compile(expr, first)?;
        Ok(BpfFilter {
            expr: expr.to_string(),
            programs: vec![(first, Ok(p))],
        })
    }

    /// Whether the packet matches. The captured bytes are what the program
    /// sees (`len` in an expression is the captured length).
    pub fn matches(&mut self, pkt: &RawPacket<'_>) -> bool {
        let i = match self.programs.iter().position(|(l, _)| *l == pkt.linktype) {
            Some(i) => i,
            None => {
                self.programs
                    .push((pkt.linktype, compile(&self.expr, pkt.linktype)));
                self.programs.len() - 1
            }
        };
        match &self.programs[i].1 {
            Ok(p) => p.filter(pkt.data),
            Err(_) => false,
        }
    }

    /// The link types the expression could not be compiled for.
    pub fn failures(&self) -> impl Iterator<Item = &FilterError> {
        self.programs.iter().filter_map(|(_, r)| r.as_ref().err())
    }
}
