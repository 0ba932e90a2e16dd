//! What changed between two versions: line diffs for text, paths for schemas, values for the rest.

use super::*;
use crate::diff::{ChangeKind, Piece, PieceKind};

fn text_of(pieces: &[Piece], kind: PieceKind) -> String {
    pieces
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| p.text.as_str())
        .collect()
}

#[test]
fn a_config_diff_shows_lines_for_prompts_paths_for_schemas_and_values_for_the_rest() {
    let base = AgentDraft {
        system_prompt: "You triage.\nBe short.\n".into(),
        output_schema: r#"{"type": "object", "properties": {"label": {"type": "string"}}}"#.into(),
        ..crate::testing::draft("Triage", "openai", "")
    };
    let a = base.validate().unwrap();
    let b = AgentDraft {
        system_prompt: "You triage.\nBe very short.\n".into(),
        model: "gpt-4o".into(),
        output_schema: r#"{"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "number"}}}"#.into(),
        ..base
    }
    .validate()
    .unwrap();
    let d = config_diff(&a, &b);
    let fields: Vec<&str> = d.diff.iter().map(FieldDiff::field).collect();
    assert_eq!(fields, ["Model", "System prompt", "Output schema"]);
    let FieldDiff::Text { pieces, .. } = &d.diff[1] else {
        panic!("a text diff")
    };
    assert_eq!(text_of(pieces, PieceKind::Removed), "Be short.\n");
    assert_eq!(text_of(pieces, PieceKind::Added), "Be very short.\n");
    let FieldDiff::Json { changes, .. } = &d.diff[2] else {
        panic!("a JSON diff")
    };
    assert_eq!(changes[0].path, "/properties/score");
    assert_eq!(changes[0].kind, ChangeKind::Added);
    assert_eq!(summary(&a, &b), "Model, System prompt, Output schema");
    assert_eq!(summary(&a, &a), "No change");
}
