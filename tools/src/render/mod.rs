//! Rendering a run's answers: the JSON lines of DESIGN.md's output
//! contract (`json`), the human report (`text`), the flow-input parts of
//! both (`flows`), number and time formatting (`format`), writing to
//! standard output (`stdout`) and what /proc says of the process (`proc`).

pub mod alert;
mod contract;
mod flows;
pub(crate) mod format;
mod handshake;
mod json;
mod proc;
mod rates;
mod stdout;
mod text;

pub use flows::{flow_errors_into, flow_json, flow_rows};
pub(crate) use format::ts_text;
pub use format::{si, thousands};
pub use json::{
    answers_json, estimate_json, queries_json, run_answers_json, summary_json, window_json,
    window_line_cached, window_printer,
};
pub use rates::Rates;
pub use stdout::{check_stdout, print, println};
pub use text::{run_answers_text, table};
