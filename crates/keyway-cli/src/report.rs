//! Printing what a command found: one JSON object for scripts, or a rendering for people.

use crate::output::out;
use serde::Serialize;

/// A command's result that can be shown both ways.
pub trait Report: Serialize {
    /// The rendering for a terminal.
    fn human(&self) -> String;
}

/// Prints `report` as pretty JSON (`json`) or for people.
pub fn print(report: &impl Report, json: bool) {
    if json {
        out!("{}", pretty_json(report));
    } else {
        out!("{}", report.human());
    }
}

/// Pretty JSON with a trailing newline. Serialising our own report types cannot fail.
pub fn pretty_json<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string_pretty(value).unwrap_or_default() + "\n"
}
