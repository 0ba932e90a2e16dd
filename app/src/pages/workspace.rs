//! Settings → Workspace: create another workspace, rename this one (owners), delete it with
//! everything in it (owners, typing its name to confirm).

use leptos::prelude::*;

use crate::Auth;
use crate::api::workspaces::{CreateWorkspace, DeleteWorkspace, RenameWorkspace};
use crate::components::{
    ConfirmPassword, ErrorNotice, FieldMessage, form_feedback, reload_on_success,
};

#[component]
pub fn WorkspacePage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let create = ServerAction::<CreateWorkspace>::new();
    let rename = ServerAction::<RenameWorkspace>::new();
    let delete = ServerAction::<DeleteWorkspace>::new();
    reload_on_success(create, "/");
    reload_on_success(rename, "/settings/workspace");
    reload_on_success(delete, "/");
    let (create_errors, create_message) = form_feedback(create);
    let (rename_errors, rename_message) = form_feedback(rename);
    let (delete_errors, delete_message) = form_feedback(delete);
    view! {
        <h1>"Workspace"</h1>
        {move || matches!(delete.value().get(), Some(Err(crate::error::AppError::ReauthRequired))).then(|| view! { <ConfirmPassword/> })}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match auth.user.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(None) => view! { <ErrorNotice error=crate::error::AppError::Unauthenticated/> }.into_any(),
                    Ok(Some(user)) => {
                        let owner = user.role == galaxy_core::workspaces::Role::Owner;
                        let (name, name_too) = (user.workspace_name.clone(), user.workspace_name.clone());
                        view! {
                            <p class="muted">{format!("You are {} in {}.", user.role.as_str(), user.workspace_name)}</p>
                            <div class="columns">
                                {owner.then(|| view! {
                                    <section class="panel">
                                        <h2>"Rename"</h2>
                                        <ActionForm action=rename>
                                            {move || rename_message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                                            <label>"Name"<input type="text" name="name" required maxlength="80" value=name.clone()/></label>
                                            <FieldMessage errors=rename_errors field="name"/>
                                            <button type="submit">"Rename"</button>
                                        </ActionForm>
                                        <h2>"Delete"</h2>
                                        <p class="muted">"Deletes its agents and their versions, runs, provider keys, API tokens, limits, budget records, invitations and its audit log. This cannot be undone."</p>
                                        <ActionForm action=delete>
                                            {move || delete_message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                                            <label>{format!("Type “{name_too}” to confirm")}<input type="text" name="confirm" required autocomplete="off"/></label>
                                            <FieldMessage errors=delete_errors field="confirm"/>
                                            <button type="submit" class="danger" data-action="delete-workspace">"Delete this workspace"</button>
                                        </ActionForm>
                                    </section>
                                })}
                                <section class="panel">
                                    <h2>"New workspace"</h2>
                                    <p class="muted">"A separate space for another team or project: its own agents, runs, keys, members and budget. You will be its owner."</p>
                                    <ActionForm action=create>
                                        {move || create_message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                                        <label>"Name"<input type="text" name="name" required maxlength="80" placeholder="Acme"/></label>
                                        <FieldMessage errors=create_errors field="name"/>
                                        <button type="submit" class="primary" data-action="create-workspace">"Create workspace"</button>
                                    </ActionForm>
                                </section>
                            </div>
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}
