//! Differences between two things on record: two agent versions (a line diff for each text
//! field, a structural diff for each schema, before → after for the rest) and two run outputs (a
//! structural diff of JSON outputs — the paths added, removed and changed — or a word diff of
//! text). The types cross the server-function boundary; computing them ([`compute`], with the
//! `similar` crate) is server-side, bounded in time and in size.

use serde::{Deserialize, Serialize};

/// What a piece of a text diff is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PieceKind {
    Same,
    Added,
    Removed,
}

/// A run of text that is in both sides, only the new one, or only the old one.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece {
    pub kind: PieceKind,
    pub text: String,
}

/// How a JSON path differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Removed,
    Changed,
}

/// One path of a structural JSON diff: a JSON pointer (`""` is the whole document) and its
/// values before and after (compact JSON, cut to [`MAX_VALUE_CHARS`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PathChange {
    pub path: String,
    pub kind: ChangeKind,
    pub before: Option<String>,
    pub after: Option<String>,
}

/// How one field of two agent configurations differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FieldDiff {
    /// A text field (system prompt, template, description): line by line.
    Text { field: String, pieces: Vec<Piece> },
    /// A schema: path by path.
    Json {
        field: String,
        changes: Vec<PathChange>,
    },
    /// Anything else (model, temperature…): before → after.
    Value {
        field: String,
        before: String,
        after: String,
    },
}

impl FieldDiff {
    /// The field's label, as the builder names it.
    pub fn field(&self) -> &str {
        match self {
            FieldDiff::Text { field, .. }
            | FieldDiff::Json { field, .. }
            | FieldDiff::Value { field, .. } => field,
        }
    }
}

/// How two run outputs differ.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum OutputDiff {
    /// Both outputs are JSON: the paths that differ (none when they are equal).
    Json { changes: Vec<PathChange> },
    /// At least one is text: word by word.
    Text { pieces: Vec<Piece> },
    /// At least one run has no output.
    Missing,
}

/// A diff stops after this many changed paths or pieces (and says so).
pub const MAX_CHANGES: usize = 500;
/// Values in a path change are cut to this many characters.
pub const MAX_VALUE_CHARS: usize = 200;

/// A diff and whether it was cut short (too many changes, or out of time).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Bounded<T> {
    pub diff: T,
    pub truncated: bool,
}

#[cfg(feature = "server")]
pub use compute::{json_changes, line_diff, output_diff, word_diff};

#[cfg(feature = "server")]
mod compute {
    use std::time::Duration;

    use serde_json::Value;
    use similar::{Algorithm, ChangeTag, TextDiff};

    use super::*;

    /// A text diff never runs longer than this; past it `similar` answers with a coarser diff.
    const DIFF_TIMEOUT: Duration = Duration::from_millis(200);

    fn cut(text: &str) -> String {
        match text.char_indices().nth(MAX_VALUE_CHARS) {
            Some((at, _)) => format!("{}…", &text[..at]),
            None => text.to_owned(),
        }
    }

    fn pieces_of<'a>(diff: &TextDiff<'a, 'a, 'a, str>) -> Bounded<Vec<Piece>> {
        let mut pieces: Vec<Piece> = Vec::new();
        let mut truncated = false;
        for change in diff.iter_all_changes() {
            let kind = match change.tag() {
                ChangeTag::Equal => PieceKind::Same,
                ChangeTag::Insert => PieceKind::Added,
                ChangeTag::Delete => PieceKind::Removed,
            };
            if let Some(last) = pieces.last_mut().filter(|l| l.kind == kind) {
                last.text.push_str(change.value());
            } else if pieces.len() >= MAX_CHANGES {
                truncated = true;
                break;
            } else {
                pieces.push(Piece {
                    kind,
                    text: change.value().to_owned(),
                });
            }
        }
        Bounded {
            diff: pieces,
            truncated,
        }
    }

    /// `before` → `after`, line by line.
    pub fn line_diff(before: &str, after: &str) -> Bounded<Vec<Piece>> {
        let diff = TextDiff::configure()
            .algorithm(Algorithm::Myers)
            .timeout(DIFF_TIMEOUT)
            .diff_lines(before, after);
        pieces_of(&diff)
    }

    /// `before` → `after`, word by word (whitespace kept).
    pub fn word_diff(before: &str, after: &str) -> Bounded<Vec<Piece>> {
        let diff = TextDiff::configure()
            .algorithm(Algorithm::Myers)
            .timeout(DIFF_TIMEOUT)
            .diff_words(before, after);
        pieces_of(&diff)
    }

    /// The JSON pointer token for a key (`~` → `~0`, `/` → `~1`).
    fn token(key: &str) -> String {
        key.replace('~', "~0").replace('/', "~1")
    }

    fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<PathChange>) -> bool {
        if out.len() >= MAX_CHANGES {
            return false;
        }
        match (a, b) {
            (Value::Object(x), Value::Object(y)) => {
                for (k, va) in x {
                    let p = format!("{path}/{}", token(k));
                    let ok = match y.get(k) {
                        Some(vb) => walk(&p, va, vb, out),
                        None => add(out, p, ChangeKind::Removed, Some(va), None),
                    };
                    if !ok {
                        return false;
                    }
                }
                for (k, vb) in y {
                    if !x.contains_key(k)
                        && !add(
                            out,
                            format!("{path}/{}", token(k)),
                            ChangeKind::Added,
                            None,
                            Some(vb),
                        )
                    {
                        return false;
                    }
                }
                true
            }
            (Value::Array(x), Value::Array(y)) => {
                for i in 0..x.len().max(y.len()) {
                    let p = format!("{path}/{i}");
                    let ok = match (x.get(i), y.get(i)) {
                        (Some(va), Some(vb)) => walk(&p, va, vb, out),
                        (Some(va), None) => add(out, p, ChangeKind::Removed, Some(va), None),
                        (None, Some(vb)) => add(out, p, ChangeKind::Added, None, Some(vb)),
                        (None, None) => true,
                    };
                    if !ok {
                        return false;
                    }
                }
                true
            }
            _ if a == b => true,
            _ => add(out, path.to_owned(), ChangeKind::Changed, Some(a), Some(b)),
        }
    }

    fn add(
        out: &mut Vec<PathChange>,
        path: String,
        kind: ChangeKind,
        before: Option<&Value>,
        after: Option<&Value>,
    ) -> bool {
        if out.len() >= MAX_CHANGES {
            return false;
        }
        out.push(PathChange {
            path,
            kind,
            before: before.map(|v| cut(&v.to_string())),
            after: after.map(|v| cut(&v.to_string())),
        });
        true
    }

    /// The paths where `b` differs from `a`, in document order (arrays index by index).
    pub fn json_changes(a: &Value, b: &Value) -> Bounded<Vec<PathChange>> {
        let mut out = Vec::new();
        let complete = walk("", a, b, &mut out);
        Bounded {
            diff: out,
            truncated: !complete,
        }
    }

    /// Two run outputs: structurally when both are JSON, else word by word.
    pub fn output_diff(a: Option<&str>, b: Option<&str>) -> Bounded<OutputDiff> {
        let (Some(a), Some(b)) = (a, b) else {
            return Bounded {
                diff: OutputDiff::Missing,
                truncated: false,
            };
        };
        let json = |t: &str| {
            t.trim_start()
                .starts_with(['{', '['])
                .then(|| serde_json::from_str::<Value>(t).ok())
                .flatten()
        };
        match (json(a), json(b)) {
            (Some(x), Some(y)) => {
                let c = json_changes(&x, &y);
                Bounded {
                    diff: OutputDiff::Json { changes: c.diff },
                    truncated: c.truncated,
                }
            }
            _ => {
                let w = word_diff(a, b);
                Bounded {
                    diff: OutputDiff::Text { pieces: w.diff },
                    truncated: w.truncated,
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
