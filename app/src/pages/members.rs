//! Settings → Members: who is in the workspace with which role; for admins and owners, role
//! changes, removal and invitation links (made here, copied, shared — no email server); for
//! everyone, leaving. The server refuses what a role may not do whatever the page shows.

use galaxy_core::timefmt::format_utc;
use galaxy_core::workspaces::Role;
use leptos::prelude::*;

use crate::api::members::{
    ChangeMemberRole, CreateInvite, RemoveMember, RevokeInvite, list_members,
};
use crate::components::{
    ConfirmPassword, ErrorNotice, FieldMessage, form_feedback, reload_on_success,
};
use crate::error::AppError;

/// The roles `me` may give: admins any but owner, owners any.
fn grantable(me: Role) -> Vec<Role> {
    Role::ALL
        .iter()
        .copied()
        .filter(|r| galaxy_core::members::may_grant(me, *r))
        .collect()
}

fn role_label(role: Role) -> &'static str {
    match role {
        Role::Viewer => "Viewer — reads agents, runs and the dashboard",
        Role::Member => "Member — builds and runs agents",
        Role::Admin => "Admin — also keys, tokens, limits, prices, members",
        Role::Owner => "Owner — also the workspace itself",
    }
}

#[component]
pub fn MembersPage() -> impl IntoView {
    let change = ServerAction::<ChangeMemberRole>::new();
    let remove = ServerAction::<RemoveMember>::new();
    let leave = ServerAction::<RemoveMember>::new();
    reload_on_success(leave, "/");
    let invite = ServerAction::<CreateInvite>::new();
    let revoke = ServerAction::<RevokeInvite>::new();
    let view_data = Resource::new(
        move || {
            (
                change.version().get(),
                remove.version().get(),
                invite.version().get(),
                revoke.version().get(),
            )
        },
        |_| list_members(),
    );
    let (invite_errors, invite_message) = form_feedback(invite);
    // Role changes, removals and invitations need a recent password, like provider keys.
    let reauth = Signal::derive(move || {
        let stale =
            |r: Option<Result<(), AppError>>| matches!(r, Some(Err(AppError::ReauthRequired)));
        stale(change.value().get())
            || stale(remove.value().get())
            || matches!(invite.value().get(), Some(Err(AppError::ReauthRequired)))
    });
    let failure = move || {
        change
            .value()
            .get()
            .and_then(|r| r.err())
            .or_else(|| remove.value().get().and_then(|r| r.err()))
            .or_else(|| leave.value().get().and_then(|r| r.err()))
            .or_else(|| revoke.value().get().and_then(|r| r.err()))
            .map(|e| {
                e.form_message()
                    .or_else(|| e.field_errors().first().map(|f| f.message.clone()))
                    .unwrap_or_else(|| e.to_string())
            })
    };
    // The link made last, absolute when the browser knows its origin.
    let link = move || {
        invite.value().get().and_then(|r| r.ok()).map(|made| {
            let origin = origin();
            (format!("{origin}/invite/{}", made.token), made.invite.role)
        })
    };
    view! {
        <h1>"Members"</h1>
        {move || reauth.get().then(|| view! { <ConfirmPassword/> })}
        {move || failure().map(|m| view! { <p class="error" role="alert">{m}</p> })}
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match view_data.await {
                    Err(error) => view! { <ErrorNotice error/> }.into_any(),
                    Ok(v) => {
                        let admin = v.my_role.can_admin();
                        let roles = grantable(v.my_role);
                        let me = v.me.clone();
                        // The last owner cannot leave (the server says so too): no button.
                        let owners = v.members.iter().filter(|m| m.role == Role::Owner).count();
                        view! {
                            <section class="panel">
                                <table class="members">
                                    <thead><tr><th>"Name"</th><th>"Email"</th><th>"Role"</th><th>"Joined"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                    <tbody>
                                        {v.members.into_iter().map(|m| {
                                            let mine = m.user_id == me;
                                            let may_leave = mine && !(m.role == Role::Owner && owners <= 1);
                                            let manage = admin && !mine && galaxy_core::members::may_grant(v.my_role, m.role);
                                            let roles = roles.clone();
                                            let uid = m.user_id.clone();
                                            let (uid_remove, uid_leave) = (uid.clone(), uid.clone());
                                            view! {
                                                <tr data-member=m.email.clone() data-role=m.role.as_str()>
                                                    <td>{m.display_name.clone()}{mine.then_some(" (you)")}</td>
                                                    <td class="small">{m.email.clone()}</td>
                                                    <td>
                                                        {if manage {
                                                            view! {
                                                                <ActionForm action=change>
                                                                    <input type="hidden" name="user_id" value=uid.clone()/>
                                                                    <label class="visually-hidden" for=format!("role-{uid}")>{format!("Role of {}", m.display_name)}</label>
                                                                    <select name="role" id=format!("role-{uid}")>
                                                                        {roles.iter().map(|r| view! { <option value=r.as_str() selected=*r == m.role>{r.as_str()}</option> }).collect_view()}
                                                                    </select>
                                                                    <button type="submit" data-action="change-role">"Change"</button>
                                                                </ActionForm>
                                                            }.into_any()
                                                        } else {
                                                            view! { <span>{m.role.as_str()}</span> }.into_any()
                                                        }}
                                                    </td>
                                                    <td class="small">{format_utc(m.joined_at)}</td>
                                                    <td>
                                                        {manage.then(|| view! {
                                                            <ActionForm action=remove>
                                                                <input type="hidden" name="user_id" value=uid_remove.clone()/>
                                                                <button type="submit" class="danger" data-action="remove">"Remove"</button>
                                                            </ActionForm>
                                                        })}
                                                        {may_leave.then(|| view! {
                                                            <ActionForm action=leave>
                                                                <input type="hidden" name="user_id" value=uid_leave.clone()/>
                                                                <button type="submit" class="danger" data-action="leave">"Leave workspace"</button>
                                                            </ActionForm>
                                                        })}
                                                    </td>
                                                </tr>
                                            }
                                        }).collect_view()}
                                    </tbody>
                                </table>
                            </section>
                            {admin.then(|| view! {
                                <section class="panel">
                                    <h2>"Invite someone"</h2>
                                    <p class="muted">"An invitation is a link: copy it and send it yourself. It works once, for 7 days, unless you revoke it."</p>
                                    <ActionForm action=invite>
                                        {move || invite_message.get().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                                        <label>"Role"
                                            <select name="role">
                                                {roles.iter().map(|r| view! { <option value=r.as_str() selected=*r == Role::Member>{role_label(*r)}</option> }).collect_view()}
                                            </select>
                                        </label>
                                        <FieldMessage errors=invite_errors field="role"/>
                                        <button type="submit" class="primary" data-action="create-invite">"Create invitation link"</button>
                                    </ActionForm>
                                    {move || link().map(|(url, role)| view! {
                                        <div class="notice" role="status">
                                            <p>{format!("Invitation link ({}). Copy it now: it is not shown again.", role.as_str())}</p>
                                            <input type="text" readonly class="secret" data-invite-link value=url aria-label="Invitation link"/>
                                        </div>
                                    })}
                                    <h2>"Pending invitations"</h2>
                                    {if v.invites.is_empty() {
                                        view! { <p class="muted">"None."</p> }.into_any()
                                    } else {
                                        view! {
                                            <table>
                                                <thead><tr><th>"Role"</th><th>"By"</th><th>"Made"</th><th>"Expires"</th><th><span class="visually-hidden">"Actions"</span></th></tr></thead>
                                                <tbody>
                                                    {v.invites.into_iter().map(|i| { let row_id = i.id.clone(); view! {
                                                        <tr data-invite=row_id>
                                                            <td>{i.role.as_str()}</td>
                                                            <td>{i.created_by}</td>
                                                            <td class="small">{format_utc(i.created_at)}</td>
                                                            <td class="small">{format_utc(i.expires_at)}</td>
                                                            <td>
                                                                <ActionForm action=revoke>
                                                                    <input type="hidden" name="id" value=i.id/>
                                                                    <button type="submit" class="danger">"Revoke"</button>
                                                                </ActionForm>
                                                            </td>
                                                        </tr>
                                                    }}).collect_view()}
                                                </tbody>
                                            </table>
                                        }.into_any()
                                    }}
                                </section>
                            })}
                        }.into_any()
                    }
                }
            })}
        </Transition>
    }
}

/// The page's origin in the browser (`""` while rendering on the server: the link is then a path).
fn origin() -> String {
    #[cfg(feature = "hydrate")]
    {
        window().location().origin().unwrap_or_default()
    }
    #[cfg(not(feature = "hydrate"))]
    {
        String::new()
    }
}
