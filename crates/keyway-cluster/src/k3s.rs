//! The K3s settings workload identity needs: `kube-apiserver-arg` in `/etc/rancher/k3s/config.yaml`
//! must hold `service-account-issuer=<URL>` and `service-account-max-token-expiration=<duration>`.
//!
//! The edit is line-preserving, not a re-serialisation: every other key, list item, comment,
//! blank line, quoting style and line ending stays as it was; earlier values of the two flags
//! are replaced (later duplicates removed); `kube-apiserver-arg` written as a block list, a flow
//! list or a single string is handled, and so is K3s' append form `kube-apiserver-arg+` (edited
//! in place, never joined by a second key); a second run changes nothing. K3s must be restarted
//! (`systemctl restart k3s`) for the change to take effect.

use std::path::{Path, PathBuf};

use crate::error::{ClusterError, Field, Result};
use crate::safe_file;

/// Where K3s reads its configuration.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/rancher/k3s/config.yaml";
/// The token lifetime the seed procedure sets.
pub const DEFAULT_MAX_TOKEN_EXPIRATION: &str = "24h";

const KEY: &str = "kube-apiserver-arg";
/// K3s' append form of the key: its items are added to what earlier config files set.
const APPEND_KEY: &str = "kube-apiserver-arg+";
const ISSUER_FLAG: &str = "service-account-issuer";
const EXPIRATION_FLAG: &str = "service-account-max-token-expiration";

/// The two settings, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuerSettings {
    issuer: String,
    max_token_expiration: String,
}

impl IssuerSettings {
    /// `issuer` must be an https URL without query or fragment; `max_token_expiration` a Go
    /// duration (`24h`, `1h30m`, `86400s`).
    pub fn new(issuer: &str, max_token_expiration: &str) -> Result<IssuerSettings> {
        // Written verbatim into a YAML list item: no whitespace, control characters or quotes.
        for (field, value) in [
            (Field::Issuer, issuer),
            (Field::MaxTokenExpiration, max_token_expiration),
        ] {
            if let Some(c) = value
                .chars()
                .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '"' | '\'' | '#'))
            {
                return Err(ClusterError::invalid(
                    field,
                    format!("{value:?} contains {c:?}, which cannot go into the K3s config"),
                ));
            }
        }
        let parsed = url::Url::parse(issuer).map_err(|e| {
            ClusterError::invalid(Field::Issuer, format!("{issuer:?} is not a URL: {e}"))
        })?;
        if parsed.scheme() != "https" {
            return Err(ClusterError::invalid(
                Field::Issuer,
                format!(
                    "{issuer:?} must be an https URL: Entra ID fetches the issuer's discovery document over https"
                ),
            ));
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(ClusterError::invalid(
                Field::Issuer,
                format!("{issuer:?} has no host"),
            ));
        }
        if parsed.query().is_some() || parsed.fragment().is_some() {
            return Err(ClusterError::invalid(
                Field::Issuer,
                format!("{issuer:?} may not carry a query or fragment"),
            ));
        }
        let seconds = go_duration_seconds(max_token_expiration).ok_or_else(|| {
            ClusterError::invalid(
                Field::MaxTokenExpiration,
                format!("{max_token_expiration:?} is not a duration such as 24h, 1h30m or 86400s"),
            )
        })?;
        // kube-apiserver refuses to start outside these bounds.
        if !(3600.0..=4_294_967_296.0).contains(&seconds) {
            return Err(ClusterError::invalid(
                Field::MaxTokenExpiration,
                format!(
                    "{max_token_expiration:?} is outside what kube-apiserver accepts (1h to 2^32 s); 24h is the usual value"
                ),
            ));
        }
        Ok(IssuerSettings {
            issuer: issuer.to_string(),
            max_token_expiration: max_token_expiration.to_string(),
        })
    }

    /// The issuer URL.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    fn wanted(&self) -> [(&'static str, &str); 2] {
        [
            (ISSUER_FLAG, self.issuer.as_str()),
            (EXPIRATION_FLAG, self.max_token_expiration.as_str()),
        ]
    }
}

/// Seconds in a Go duration (`72h`, `1h30m`, `1.5h`, `90s`, `500ms`); `None` when it does not
/// parse or is not positive.
pub fn go_duration_seconds(text: &str) -> Option<f64> {
    let mut rest = text.trim();
    if rest.is_empty() {
        return None;
    }
    let mut total = 0.0;
    while !rest.is_empty() {
        let number_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..number_end].parse().ok()?;
        rest = &rest[number_end..];
        let unit_end = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_end] {
            "h" => 3600.0,
            "m" => 60.0,
            "s" => 1.0,
            "ms" => 1e-3,
            "us" | "µs" => 1e-6,
            "ns" => 1e-9,
            _ => return None,
        };
        rest = &rest[unit_end..];
        total += number * scale;
    }
    (total > 0.0).then_some(total)
}

/// One line and the ending it had (`\n`, `\r\n`, or none for a last line without one).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Line {
    text: String,
    ending: String,
}

fn split_lines(text: &str) -> Vec<Line> {
    let mut lines = Vec::new();
    let mut rest = text;
    while !rest.is_empty() {
        let (line, ending, next) = match rest.find('\n') {
            Some(i) if i > 0 && rest.as_bytes()[i - 1] == b'\r' => {
                (&rest[..i - 1], "\r\n", &rest[i + 1..])
            }
            Some(i) => (&rest[..i], "\n", &rest[i + 1..]),
            None => (rest, "", ""),
        };
        lines.push(Line {
            text: line.to_string(),
            ending: ending.to_string(),
        });
        rest = next;
    }
    lines
}

fn join_lines(lines: &[Line]) -> String {
    lines
        .iter()
        .map(|l| format!("{}{}", l.text, l.ending))
        .collect()
}

/// How a scalar was quoted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

impl Style {
    fn of(raw: &str) -> Style {
        if raw.len() >= 2 && raw.starts_with('"') && raw.ends_with('"') {
            Style::Double
        } else if raw.len() >= 2 && raw.starts_with('\'') && raw.ends_with('\'') {
            Style::Single
        } else {
            Style::Plain
        }
    }

    fn unquote(self, raw: &str) -> String {
        match self {
            Style::Plain => raw.to_string(),
            Style::Single => raw[1..raw.len() - 1].replace("''", "'"),
            Style::Double => raw[1..raw.len() - 1]
                .replace("\\\"", "\"")
                .replace("\\\\", "\\"),
        }
    }

    fn quote(self, value: &str) -> String {
        match self {
            Style::Plain => value.to_string(),
            Style::Single => format!("'{}'", value.replace('\'', "''")),
            Style::Double => format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\"")),
        }
    }
}

/// Splits `s` into the value and what follows it (spaces and a `# comment`), outside quotes.
fn split_comment(s: &str) -> (&str, &str) {
    let mut quote: Option<char> = None;
    let mut previous = ' ';
    for (i, c) in s.char_indices() {
        match quote {
            Some(q) if c == q => quote = None,
            Some(_) => {}
            None if c == '"' || c == '\'' => quote = Some(c),
            None if c == '#' && previous.is_whitespace() => {
                let value = s[..i].trim_end();
                return (value, &s[value.len()..]);
            }
            None => {}
        }
        previous = c;
    }
    let value = s.trim_end();
    (value, &s[value.len()..])
}

/// The flag an argument sets (`service-account-issuer` of `service-account-issuer=https://…`).
fn flag_of(argument: &str) -> &str {
    argument
        .trim_start_matches('-')
        .split('=')
        .next()
        .unwrap_or_default()
}

/// A top-level key line: the key, and what follows its colon.
fn top_level_key(line: &str) -> Option<(String, &str)> {
    // A byte-order mark (files saved by some Windows editors) is not part of the key.
    let line = line.strip_prefix('\u{feff}').unwrap_or(line);
    if line.starts_with(|c: char| c.is_whitespace() || c == '#' || c == '-') {
        return None;
    }
    let colon = line
        .char_indices()
        .find(|(i, c)| *c == ':' && line[i + 1..].chars().next().is_none_or(char::is_whitespace))
        .map(|(i, _)| i)?;
    let key = line[..colon].trim();
    let key = Style::of(key).unquote(key);
    Some((key, &line[colon + 1..]))
}

/// The result of an edit.
#[derive(Clone, PartialEq, Eq)]
pub struct K3sEdit {
    path: String,
    before: String,
    after: String,
}

/// The file's text stays out of `Debug`: a K3s config can hold the cluster token.
impl std::fmt::Debug for K3sEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("K3sEdit")
            .field("path", &self.path)
            .field("changed", &self.changed())
            .finish_non_exhaustive()
    }
}

impl K3sEdit {
    /// Whether the file changes.
    pub fn changed(&self) -> bool {
        self.before != self.after
    }

    /// The text before the edit.
    pub fn before(&self) -> &str {
        &self.before
    }

    /// The text after the edit.
    pub fn after(&self) -> &str {
        &self.after
    }

    /// A unified diff of the change (empty when nothing changes).
    pub fn unified_diff(&self) -> String {
        if !self.changed() {
            return String::new();
        }
        // No context lines: the rest of the file can hold the cluster token or a datastore
        // password, and diffs end up in terminals and logs.
        similar::TextDiff::from_lines(&self.before, &self.after)
            .unified_diff()
            .context_radius(0)
            .header(&self.path, &self.path)
            .to_string()
    }

    /// Writes the new text to `path` atomically, keeping the old file as `<path>.keyway.bak`
    /// (owner-only: it holds the join token too). Returns the backup's path when there was a
    /// file.
    ///
    /// Both the new config and the backup are written through fresh temporary files under
    /// random names, created exclusively without following links ([`crate::safe_file`]), and
    /// renamed into place: a link someone planted at either name is replaced, never written
    /// through. The config keeps its permissions. A symbolic link as the config is refused
    /// with where it points, since replacing it would leave the real config unchanged: edit
    /// the target itself.
    pub fn write(&self, path: &Path) -> Result<Option<PathBuf>> {
        let io = |e: std::io::Error| ClusterError::io(path.display().to_string(), e);
        if let Some(target) = safe_file::link_target(path).map_err(io)? {
            let resolved = std::fs::canonicalize(path).unwrap_or_else(|_| {
                path.parent()
                    .map_or_else(|| target.clone(), |dir| dir.join(&target))
            });
            return Err(ClusterError::unusable_file(
                path.display().to_string(),
                format!(
                    "is a symbolic link to {} ({}); keyway does not write through links \
                     (replacing the link would leave the real config unchanged): edit {} itself",
                    target.display(),
                    resolved.display(),
                    resolved.display()
                ),
            ));
        }
        // Read what is there now without following a link swapped in since the check.
        let current = match safe_file::open_no_follow(path) {
            Ok(mut file) => {
                use std::io::Read as _;
                let metadata = file.metadata().map_err(io)?;
                let mut old = Vec::new();
                file.read_to_end(&mut old).map_err(io)?;
                Some((old, metadata.permissions()))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io(e)),
        };
        let backup = match &current {
            Some((old, _)) => {
                let backup = PathBuf::from(format!("{}.keyway.bak", path.display()));
                safe_file::write_atomic(&backup, old, 0o600)
                    .map_err(|e| ClusterError::io(backup.display().to_string(), e))?;
                Some(backup)
            }
            None => None,
        };
        // Owner-only from the first byte: the config can hold the cluster token.
        let mut temporary = safe_file::TempFile::beside(path, 0o600).map_err(io)?;
        {
            use std::io::Write as _;
            temporary.write_all(self.after.as_bytes()).map_err(io)?;
        }
        if let Some((_, permissions)) = current {
            // Through the handle: nothing at the temporary's path is followed.
            temporary.file().set_permissions(permissions).map_err(io)?;
        }
        temporary.persist(path).map_err(io)?;
        Ok(backup)
    }
}

/// Reads a K3s config file; a missing file is an empty config.
pub fn read_config(path: &Path) -> Result<String> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map_err(|e| {
            ClusterError::unusable_file(
                path.display().to_string(),
                format!("not UTF-8 text (byte {})", e.utf8_error().valid_up_to()),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(ClusterError::io(path.display().to_string(), e)),
    }
}

/// Makes `text` (the config at `path`, for messages) hold the issuer settings.
pub fn ensure_issuer(path: &str, text: &str, settings: &IssuerSettings) -> Result<K3sEdit> {
    let mut lines = split_lines(text);
    let unsupported = |line: usize, problem: &str| ClusterError::Unsupported {
        path: path.to_string(),
        line: line + 1,
        problem: problem.to_string(),
    };
    // YAML reads a lone carriage return as a line break; the line editor would not.
    if let Some(line) = lines.iter().position(|l| l.text.contains('\r')) {
        return Err(unsupported(
            line,
            "a carriage return without a line feed; use LF or CRLF line endings",
        ));
    }
    let dominant = if text.contains("\r\n") { "\r\n" } else { "\n" }.to_string();
    let keys: Vec<usize> = lines
        .iter()
        .enumerate()
        .filter(|(_, l)| top_level_key(&l.text).is_some_and(|(k, _)| k == KEY || k == APPEND_KEY))
        .map(|(i, _)| i)
        .collect();
    if keys.len() > 1 {
        let first = top_level_key(&lines[keys[0]].text).map(|(k, _)| k);
        let second = top_level_key(&lines[keys[1]].text).map(|(k, _)| k);
        return Err(unsupported(
            keys[1],
            &if first == second {
                format!(
                    "{} appears twice; merge the two into one list",
                    first.unwrap_or_default()
                )
            } else {
                "kube-apiserver-arg and kube-apiserver-arg+ (K3s' append form) both set the API server's arguments; merge them into one list".to_string()
            },
        ));
    }
    let wanted = settings.wanted();
    match keys.first() {
        None => {
            if let Some(last) = lines.last_mut()
                && last.ending.is_empty()
            {
                last.ending = dominant.clone();
            }
            lines.push(Line {
                text: format!("{KEY}:"),
                ending: dominant.clone(),
            });
            for (flag, value) in wanted {
                lines.push(Line {
                    text: format!("  - {flag}={value}"),
                    ending: dominant.clone(),
                });
            }
        }
        Some(&at) => {
            let key_text = lines[at].text.clone();
            let (_, after_colon) = top_level_key(&key_text).expect("found as a key");
            let key_part = &key_text[..key_text.len() - after_colon.len()];
            let (value, trailer) = split_comment(after_colon);
            let value = value.trim_start();
            if value.is_empty() {
                edit_block_list(&mut lines, at, &wanted, &dominant, &unsupported)?;
            } else if value.starts_with('[') {
                if !value.ends_with(']') {
                    return Err(unsupported(
                        at,
                        "a flow list of kube-apiserver-arg spread over several lines; write it on one line or as a block list",
                    ));
                }
                let items = split_flow(&value[1..value.len() - 1]);
                if let Some(i) = items.iter().position(|raw| !simple_flow_item(raw)) {
                    return Err(unsupported(
                        at,
                        &format!(
                            "item {} of the kube-apiserver-arg flow list is not a plain or simply \
                             quoted string, so it cannot be rewritten safely; write the list as a \
                             block list, one item per line",
                            i + 1
                        ),
                    ));
                }
                let mut edited: Vec<String> = Vec::new();
                let mut seen = Vec::new();
                let mut changed = false;
                for raw in items {
                    let style = Style::of(&raw);
                    let argument = style.unquote(&raw);
                    match wanted.iter().find(|(f, _)| *f == flag_of(&argument)) {
                        Some((flag, v)) if seen.contains(flag) => {
                            let duplicate =
                                *flag == EXPIRATION_FLAG || argument == format!("{flag}={v}");
                            if duplicate {
                                changed = true;
                            } else {
                                edited.push(raw);
                            }
                        }
                        Some((flag, v)) => {
                            seen.push(*flag);
                            let wanted_argument = format!("{flag}={v}");
                            if argument == wanted_argument {
                                edited.push(raw);
                            } else {
                                changed = true;
                                edited.push(style.quote(&wanted_argument));
                            }
                        }
                        None => edited.push(raw),
                    }
                }
                for (flag, v) in wanted.iter().filter(|(f, _)| !seen.contains(f)) {
                    changed = true;
                    edited.push(Style::Double.quote(&format!("{flag}={v}")));
                }
                if changed {
                    lines[at].text = format!("{key_part} [{}]{trailer}", edited.join(", "));
                }
            } else if value.starts_with('|') || value.starts_with('>') {
                return Err(unsupported(
                    at,
                    "kube-apiserver-arg as a block scalar; write it as a list",
                ));
            } else {
                // A single string: becomes a block list holding it (replaced when it is one of
                // ours) and whatever is missing — unless it goes on over indented lines (a
                // multi-line scalar), which the new items would be merged with.
                if let Some(next) = (at + 1..lines.len()).find(|&i| {
                    let trimmed = lines[i].text.trim_start();
                    !trimmed.is_empty() && !trimmed.starts_with('#')
                }) && lines[next].text.starts_with(char::is_whitespace)
                {
                    return Err(unsupported(
                        next,
                        "kube-apiserver-arg's value goes on over indented lines; write it as a list, one item per line",
                    ));
                }
                let style = Style::of(value);
                let argument = style.unquote(value);
                let mut items = Vec::new();
                let mut seen = Vec::new();
                match wanted.iter().find(|(f, _)| *f == flag_of(&argument)) {
                    Some((flag, v)) => {
                        seen.push(*flag);
                        items.push(style.quote(&format!("{flag}={v}")));
                    }
                    None => items.push(value.to_string()),
                }
                for (flag, v) in wanted.iter().filter(|(f, _)| !seen.contains(f)) {
                    items.push(style.quote(&format!("{flag}={v}")));
                }
                // The key line's ending goes to the last new line (none when the file ended
                // without a newline there); the others take the file's usual ending.
                let original_ending = lines[at].ending.clone();
                lines[at].text = format!("{key_part}{trailer}");
                lines[at].ending = dominant.clone();
                let count = items.len();
                for (offset, item) in items.into_iter().enumerate() {
                    let ending = if offset + 1 == count {
                        original_ending.clone()
                    } else {
                        dominant.clone()
                    };
                    lines.insert(
                        at + 1 + offset,
                        Line {
                            text: format!("  - {item}"),
                            ending,
                        },
                    );
                }
            }
        }
    }
    let after = join_lines(&lines);
    verify(path, text, &after, settings)?;
    Ok(K3sEdit {
        path: path.to_string(),
        before: text.to_string(),
        after,
    })
}

/// The original must be YAML (K3s could not read it otherwise), and the result too, with the
/// same other top-level keys and our issuer first — else the layout was one the line editor
/// misread (an indented root mapping, say), and nothing is written.
fn verify(path: &str, before: &str, after: &str, settings: &IssuerSettings) -> Result<()> {
    let original = parse_yaml(before).map_err(|e| ClusterError::Unsupported {
        path: path.to_string(),
        line: e.location().map_or(0, |l| l.line() as usize),
        problem: format!("not YAML ({e}); K3s cannot read it either, so fix it first"),
    })?;
    let refuse = |problem: &str| ClusterError::Unsupported {
        path: path.to_string(),
        line: 0,
        problem: format!("{problem}; edit kube-apiserver-arg by hand"),
    };
    let edited = parse_yaml(after)
        .map_err(|e| refuse(&format!("the edit would not be valid YAML ({e})")))?;
    let keys = |v: &TopLevel| -> Vec<String> {
        v.0.iter()
            .map(|(k, _)| k.clone())
            .filter(|k| k != KEY && k != APPEND_KEY)
            .collect()
    };
    if !original.is_null() && keys(&original) != keys(&edited) {
        return Err(refuse("the edit would change other keys"));
    }
    if configured_issuer(path, after)?.as_deref() != Some(settings.issuer()) {
        return Err(refuse(
            "the edit would not make the issuer the first service-account-issuer",
        ));
    }
    Ok(())
}

/// Items of a one-line flow list, raw (quotes kept), split on commas outside quotes.
fn split_flow(inner: &str) -> Vec<String> {
    let mut items = Vec::new();
    let mut current = String::new();
    let mut quote: Option<char> = None;
    for c in inner.chars() {
        match quote {
            Some(q) if c == q => {
                quote = None;
                current.push(c);
            }
            Some(_) => current.push(c),
            // A quote opens a quoted scalar only at the start of an item; inside a plain
            // scalar (`a'b`) it is just a character.
            None if (c == '"' || c == '\'') && current.trim().is_empty() => {
                quote = Some(c);
                current.push(c);
            }
            None if c == ',' => {
                items.push(current.trim().to_string());
                current.clear();
            }
            None => current.push(c),
        }
    }
    if !current.trim().is_empty() {
        items.push(current.trim().to_string());
    }
    items
}

/// A flow-list item the editor can read and rewrite exactly: a quoted string without escapes or
/// inner quotes, or a plain string of ordinary characters (no YAML indicators, no control
/// characters). kube-apiserver flags are always one of these.
fn simple_flow_item(raw: &str) -> bool {
    let quoted = |q: char| {
        raw.len() >= 2
            && raw.starts_with(q)
            && raw.ends_with(q)
            && !raw[1..raw.len() - 1].contains([q, '\\'])
    };
    let plain = !raw.is_empty()
        && !raw.starts_with("- ")
        && !raw.contains(": ")
        && !raw.ends_with(':')
        && raw
            .chars()
            .all(|c| (c == ' ' || c.is_ascii_graphic()) && !"\"'?{}[]&*!|>%@`#,".contains(c));
    (quoted('"') || quoted('\'')) && !raw.chars().any(|c| c.is_control()) || plain
}

/// One `- item` line of a block list.
struct Item {
    line: usize,
    indent: String,
    style: Style,
    argument: String,
    trailer: String,
}

fn parse_item(line: usize, text: &str) -> Option<Item> {
    let trimmed = text.trim_start();
    let indent = &text[..text.len() - trimmed.len()];
    let rest = trimmed.strip_prefix('-')?;
    if !(rest.is_empty() || rest.starts_with(char::is_whitespace)) {
        return None;
    }
    let rest = rest.trim_start();
    let (raw, trailer) = split_comment(rest);
    let style = Style::of(raw);
    Some(Item {
        line,
        indent: indent.to_string(),
        style,
        argument: style.unquote(raw),
        trailer: trailer.to_string(),
    })
}

fn edit_block_list(
    lines: &mut Vec<Line>,
    at: usize,
    wanted: &[(&'static str, &str); 2],
    dominant: &str,
    unsupported: &dyn Fn(usize, &str) -> ClusterError,
) -> Result<()> {
    let mut items = Vec::new();
    let mut index = at + 1;
    while index < lines.len() {
        let text = &lines[index].text;
        let trimmed = text.trim_start();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            index += 1;
            continue;
        }
        match parse_item(index, text) {
            Some(item) => items.push(item),
            None if text.starts_with(char::is_whitespace) && !items.is_empty() => {
                return Err(unsupported(
                    index,
                    "a kube-apiserver-arg item spread over several lines; write each item on one line",
                ));
            }
            // Indented, yet not an item: the value is a scalar over several lines (or a
            // layout the line editor would misread); inserting items above it would merge them.
            None if text.starts_with(char::is_whitespace) => {
                return Err(unsupported(
                    index,
                    "kube-apiserver-arg's value goes on over indented lines that are not list items; write it as a list, one item per line",
                ));
            }
            None => break,
        }
        index += 1;
    }
    let mut seen: Vec<&str> = Vec::new();
    let mut remove = Vec::new();
    for item in &items {
        let Some((flag, value)) = wanted.iter().find(|(f, _)| *f == flag_of(&item.argument)) else {
            continue;
        };
        let wanted_argument = format!("{flag}={value}");
        if seen.contains(flag) {
            // A later issuer is one the API server still accepts (an issuer being rotated out):
            // kept, unless it repeats ours. A later token lifetime is only a duplicate.
            if *flag == EXPIRATION_FLAG || item.argument == wanted_argument {
                remove.push(item.line);
            }
            continue;
        }
        seen.push(flag);
        if item.argument == wanted_argument {
            continue;
        }
        lines[item.line].text = format!(
            "{}- {}{}",
            item.indent,
            item.style.quote(&wanted_argument),
            item.trailer
        );
    }
    let (indent, style, after) = match items.last() {
        Some(last) => (last.indent.clone(), last.style, last.line),
        None => ("  ".to_string(), Style::Plain, at),
    };
    let missing = wanted.iter().filter(|(f, _)| !seen.contains(f));
    for (insert_at, (flag, value)) in (after + 1..).zip(missing) {
        if lines[insert_at - 1].ending.is_empty() {
            lines[insert_at - 1].ending = dominant.to_string();
        }
        let ending = lines[insert_at - 1].ending.clone();
        lines.insert(
            insert_at,
            Line {
                text: format!("{indent}- {}", style.quote(&format!("{flag}={value}"))),
                ending,
            },
        );
    }
    // Duplicates sit at or before the last item, so the insertions above did not move them.
    for line in remove.into_iter().rev() {
        lines.remove(line);
    }
    Ok(())
}

/// A config as K3s reads it: its top-level keys in file order (`kube-apiserver-arg` sets the
/// list and `kube-apiserver-arg+` appends, in the order they come), an empty file none.
fn parse_yaml(text: &str) -> std::result::Result<TopLevel, keyway_sync::yaml::Error> {
    if text.trim_start_matches('\u{feff}').trim().is_empty() {
        return Ok(TopLevel::default());
    }
    keyway_sync::yaml::from_str(text)
}

/// The top-level entries of a YAML mapping, in order (a JSON object would sort them).
#[derive(Default)]
struct TopLevel(Vec<(String, serde_json::Value)>);

impl TopLevel {
    fn is_null(&self) -> bool {
        self.0.is_empty()
    }
}

impl<'de> serde::Deserialize<'de> for TopLevel {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = TopLevel;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a mapping of K3s settings")
            }
            fn visit_unit<E>(self) -> std::result::Result<TopLevel, E> {
                Ok(TopLevel::default())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> std::result::Result<TopLevel, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry::<String, serde_json::Value>()? {
                    entries.push(entry);
                }
                Ok(TopLevel(entries))
            }
        }
        deserializer.deserialize_any(Visit)
    }
}

/// The issuer a K3s config sets (`service-account-issuer=` in `kube-apiserver-arg`; the first
/// when there are several, as the API server signs with the first), or `None`.
pub fn configured_issuer(path: &str, text: &str) -> Result<Option<String>> {
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value = parse_yaml(text).map_err(|e| ClusterError::Unsupported {
        path: path.to_string(),
        line: e.location().map_or(0, |l| l.line() as usize),
        problem: format!("not YAML: {e}"),
    })?;
    // As K3s reads the keys, in order: `kube-apiserver-arg` sets the list, `kube-apiserver-arg+`
    // appends to it.
    let mut args: Vec<String> = Vec::new();
    for (key, item) in &value.0 {
        let append = match key.as_str() {
            KEY => false,
            APPEND_KEY => true,
            _ => continue,
        };
        if !append {
            args.clear();
        }
        match item {
            serde_json::Value::String(s) => args.push(s.clone()),
            serde_json::Value::Array(items) => {
                args.extend(items.iter().filter_map(|v| v.as_str().map(str::to_string)));
            }
            _ => {}
        }
    }
    Ok(args.iter().find_map(|a| {
        (flag_of(a) == ISSUER_FLAG)
            .then(|| a.split_once('=').map(|(_, v)| v.to_string()))
            .flatten()
    }))
}
