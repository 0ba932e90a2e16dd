//! How a diff looks (`galaxy_core::diff`): text as one block with added words or lines marked
//! `<ins>` and removed ones `<del>` (read by screen readers as insertions and deletions, and
//! legible without colour: struck through and underlined), JSON as a table of paths.

use galaxy_core::diff::{Bounded, ChangeKind, FieldDiff, OutputDiff, PathChange, Piece, PieceKind};
use leptos::prelude::*;

/// A text diff, in one block.
#[component]
pub fn Pieces(pieces: Vec<Piece>, #[prop(into)] label: String) -> impl IntoView {
    view! {
        <pre class="diff" aria-label=label>
            {pieces.into_iter().map(|p| match p.kind {
                PieceKind::Same => view! { <span>{p.text}</span> }.into_any(),
                PieceKind::Added => view! { <ins>{p.text}</ins> }.into_any(),
                PieceKind::Removed => view! { <del>{p.text}</del> }.into_any(),
            }).collect_view()}
        </pre>
    }
}

fn kind_label(kind: ChangeKind) -> &'static str {
    match kind {
        ChangeKind::Added => "added",
        ChangeKind::Removed => "removed",
        ChangeKind::Changed => "changed",
    }
}

/// A structural diff: one row per path.
#[component]
pub fn PathChanges(changes: Vec<PathChange>, #[prop(into)] label: String) -> impl IntoView {
    if changes.is_empty() {
        return view! { <p class="muted">"The same."</p> }.into_any();
    }
    let dash = || "—".to_owned();
    view! {
        <div class="table-scroll">
            <table class="path-changes" aria-label=label>
                <thead><tr><th>"Path"</th><th>"Change"</th><th>"Before"</th><th>"After"</th></tr></thead>
                <tbody>
                    {changes.into_iter().map(|c| {
                        let shown = if c.path.is_empty() { "(the whole value)".to_owned() } else { c.path.clone() };
                        view! {
                        <tr data-path=c.path data-change=kind_label(c.kind)>
                            <td><code>{shown}</code></td>
                            <td class=format!("change-{}", kind_label(c.kind))>{kind_label(c.kind)}</td>
                            <td><code>{c.before.unwrap_or_else(dash)}</code></td>
                            <td><code>{c.after.unwrap_or_else(dash)}</code></td>
                        </tr>
                    }}).collect_view()}
                </tbody>
            </table>
        </div>
    }
    .into_any()
}

fn cut_note(truncated: bool) -> impl IntoView {
    truncated.then(|| {
        view! { <p class="notice">"The difference is large: only its first part is shown."</p> }
    })
}

/// How two agent configurations differ, field by field.
#[component]
pub fn ConfigDiffView(diff: Bounded<Vec<FieldDiff>>) -> impl IntoView {
    if diff.diff.is_empty() {
        return view! { <p class="muted" data-config-diff="same">"The same configuration."</p> }
            .into_any();
    }
    view! {
        <div class="config-diff">
            {cut_note(diff.truncated)}
            {diff.diff.into_iter().map(|d| {
                let field = d.field().to_owned();
                let heading = field.clone();
                let body = match d {
                    FieldDiff::Text { pieces, field: label } => view! { <Pieces pieces label/> }.into_any(),
                    FieldDiff::Json { changes, field: label } => view! { <PathChanges changes label/> }.into_any(),
                    FieldDiff::Value { before, after, .. } => view! {
                        <p><del>{before}</del>" → "<ins>{after}</ins></p>
                    }.into_any(),
                };
                view! {
                    <section class="field-diff" data-field-diff=field>
                        <h3>{heading}</h3>
                        {body}
                    </section>
                }
            }).collect_view()}
        </div>
    }
    .into_any()
}

/// How two outputs differ.
#[component]
pub fn OutputDiffView(diff: Bounded<OutputDiff>) -> impl IntoView {
    let body = match diff.diff {
        OutputDiff::Missing => {
            view! { <p class="muted">"One of the runs has no output."</p> }.into_any()
        }
        OutputDiff::Json { changes } => {
            view! { <PathChanges changes label="Output changes"/> }.into_any()
        }
        OutputDiff::Text { pieces } => view! { <Pieces pieces label="Output changes"/> }.into_any(),
    };
    view! {
        <div class="output-diff">
            {cut_note(diff.truncated)}
            {body}
        </div>
    }
}
