//! Log-in and sign-up pages. Both are plain forms posting to their server function, so they
//! work before (and without) the WASM; once hydrated they submit without a page load.

use galaxy_core::validation::FieldError;
use leptos::prelude::*;
use leptos_router::hooks::use_query_map;

use crate::Auth;
use crate::components::FieldMessage;

#[component]
pub fn LoginPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let next = next_path();
    let next_value = next.clone();
    let result = auth.log_in.value();
    let message = move || {
        result
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
    };
    view! {
        <section class="panel narrow">
            <h1>"Log in"</h1>
            <ActionForm action=auth.log_in>
                {move || message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <label>"Email"<input type="email" name="email" autocomplete="username" required/></label>
                <label>"Password"<input type="password" name="password" autocomplete="current-password" required/></label>
                <input type="hidden" name="next" value=next_value.clone()/>
                <button type="submit" class="primary">"Log in"</button>
            </ActionForm>
            <p class="muted">"New here? " <a href=with_next("/signup", &next)>"Create an account"</a></p>
        </section>
    }
}

#[component]
pub fn SignupPage() -> impl IntoView {
    let auth = expect_context::<Auth>();
    let next = next_path();
    let next_value = next.clone();
    let result = auth.sign_up.value();
    let errors = Signal::derive(move || {
        result
            .get()
            .and_then(|r| r.err())
            .map(|e| e.field_errors())
            .unwrap_or_default()
    });
    let message = move || {
        result
            .get()
            .and_then(|r| r.err())
            .and_then(|e| e.form_message())
    };
    let described = move |field: &'static str| {
        move || {
            errors.with(|e: &Vec<FieldError>| {
                e.iter()
                    .any(|x| x.field == field)
                    .then(|| format!("{field}-error"))
            })
        }
    };
    view! {
        <section class="panel narrow">
            <h1>"Create your account"</h1>
            <p class="muted">"You get a personal workspace; invite your team later."</p>
            <ActionForm action=auth.sign_up>
                {move || message().map(|m| view! { <p class="error" role="alert">{m}</p> })}
                <label>"Name"
                    <input type="text" name="display_name" autocomplete="name" required maxlength="80"
                        aria-describedby=described("display_name")/>
                </label>
                <FieldMessage errors field="display_name"/>
                <label>"Email"
                    <input type="email" name="email" autocomplete="email" required
                        aria-describedby=described("email")/>
                </label>
                <FieldMessage errors field="email"/>
                <label>"Password"
                    <input type="password" name="password" autocomplete="new-password" required
                        minlength="8" maxlength="128" aria-describedby=described("password")/>
                </label>
                <FieldMessage errors field="password"/>
                <input type="hidden" name="next" value=next_value.clone()/>
                <button type="submit" class="primary">"Sign up"</button>
            </ActionForm>
            <p class="muted">"Already have an account? " <a href=with_next("/login", &next)>"Log in"</a></p>
        </section>
    }
}

/// The page to return to after signing in (`?next=`), as the URL gave it (the server checks it).
fn next_path() -> String {
    use_query_map()
        .get_untracked()
        .get("next")
        .unwrap_or_default()
}

fn with_next(page: &str, next: &str) -> String {
    if next.is_empty() {
        page.to_owned()
    } else {
        format!("{page}?next={}", crate::components::encode(next))
    }
}
