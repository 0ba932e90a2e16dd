use serde_json::json;

use super::*;

fn text_of(pieces: &[Piece], kind: PieceKind) -> String {
    pieces
        .iter()
        .filter(|p| p.kind == kind)
        .map(|p| p.text.as_str())
        .collect()
}

#[test]
fn a_json_diff_names_every_added_removed_and_changed_path() {
    let a = json!({"label": "bug", "score": 0.5, "tags": ["a", "b"], "old": 1, "a/b": {"x~": 1}});
    let b = json!({"label": "feature", "score": 0.5, "tags": ["a"], "new": true, "a/b": {"x~": 2}});
    let d = json_changes(&a, &b);
    assert!(!d.truncated);
    let got: Vec<(String, ChangeKind)> = d.diff.iter().map(|c| (c.path.clone(), c.kind)).collect();
    assert_eq!(
        got,
        // In document order: the first's keys, then the keys only the second has.
        vec![
            ("/label".to_owned(), ChangeKind::Changed),
            ("/tags/1".to_owned(), ChangeKind::Removed),
            ("/old".to_owned(), ChangeKind::Removed),
            ("/a~1b/x~0".to_owned(), ChangeKind::Changed),
            ("/new".to_owned(), ChangeKind::Added),
        ]
    );
    let label = &d.diff[0];
    assert_eq!(label.before.as_deref(), Some("\"bug\""));
    assert_eq!(label.after.as_deref(), Some("\"feature\""));
    assert!(json_changes(&a, &a).diff.is_empty());
    // A different type at the root is one change of the whole document.
    let whole = json_changes(&json!([1]), &json!({"a": 1}));
    assert_eq!(whole.diff.len(), 1);
    assert_eq!(whole.diff[0].path, "");
}

#[test]
fn diffs_are_bounded_in_size() {
    let a: serde_json::Map<String, serde_json::Value> =
        (0..2_000).map(|i| (format!("k{i}"), json!(i))).collect();
    let b: serde_json::Map<String, serde_json::Value> = (0..2_000)
        .map(|i| (format!("k{i}"), json!(i + 1)))
        .collect();
    let d = json_changes(&a.into(), &b.into());
    assert_eq!(d.diff.len(), MAX_CHANGES);
    assert!(d.truncated);
    // A long value is cut.
    let long = "x".repeat(10_000);
    let d = json_changes(&json!({"a": long}), &json!({"a": 1}));
    assert_eq!(
        d.diff[0].before.as_ref().map(|v| v.chars().count()),
        Some(MAX_VALUE_CHARS + 1)
    );
    // Thousands of alternating words: the pieces stop at the cap.
    let x: String = (0..800).map(|i| format!("a{i} ")).collect();
    let y: String = (0..800)
        .map(|i| {
            if i % 2 == 0 {
                format!("a{i} ")
            } else {
                format!("b{i} ")
            }
        })
        .collect();
    let w = word_diff(&x, &y);
    assert!(w.truncated);
    assert_eq!(w.diff.len(), MAX_CHANGES);
}

#[test]
fn text_outputs_differ_word_by_word_and_json_outputs_by_path() {
    let d = output_diff(Some("the cat sat"), Some("the dog sat"));
    let OutputDiff::Text { pieces } = d.diff else {
        panic!("a text diff")
    };
    assert_eq!(text_of(&pieces, PieceKind::Removed), "cat");
    assert_eq!(text_of(&pieces, PieceKind::Added), "dog");
    assert_eq!(text_of(&pieces, PieceKind::Same), "the  sat");
    let d = output_diff(Some(r#"{"a": 1}"#), Some(r#"{"a": 2}"#));
    assert_eq!(
        d.diff,
        OutputDiff::Json {
            changes: vec![PathChange {
                path: "/a".into(),
                kind: ChangeKind::Changed,
                before: Some("1".into()),
                after: Some("2".into()),
            }]
        }
    );
    // JSON against text is compared as text.
    assert!(matches!(
        output_diff(Some("{}"), Some("nope")).diff,
        OutputDiff::Text { .. }
    ));
    assert_eq!(output_diff(None, Some("x")).diff, OutputDiff::Missing);
}
