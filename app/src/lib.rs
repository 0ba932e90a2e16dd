//! Galaxy's UI: the Leptos app (pages, components, routing) and the `#[server]` functions that
//! are the typed boundary between browser and server.
//!
//! This crate is also the browser entry (cargo-leptos's `lib-package`): built for wasm32 with the
//! `hydrate` feature, [`hydrate`] attaches to the server-rendered page. With `ssr` it is linked
//! into the `galaxy` server, which renders the same components and runs the server functions.

#![recursion_limit = "256"]

pub mod api;
pub mod call_agent;
#[cfg(feature = "ssr")]
pub mod charts_view;
pub mod components;
#[cfg(feature = "ssr")]
pub mod dashboard_report;
pub mod deferred;
pub mod diff_view;
pub mod error;
pub mod input_form;
pub mod live_run;
pub mod pages;
pub mod routes;
pub mod schema_editor;
#[cfg(feature = "ssr")]
pub mod session;
#[cfg(feature = "ssr")]
pub mod state;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Title, provide_meta_context};
use leptos_router::components::{Route, Router, Routes};
use leptos_router::{Lazy, SsrMode, path};

use crate::api::auth::{LogIn, LogOut, SignUp, get_current_user};
use crate::components::Nav;
use crate::error::AppError;
use galaxy_core::workspaces::CurrentUser;

/// The HTML document around the app, rendered on the server.
pub fn shell(options: LeptosOptions) -> impl IntoView {
    #[cfg(feature = "ssr")]
    set_page_headers();
    let css = stylesheet(&options);
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8"/>
                <meta name="viewport" content="width=device-width, initial-scale=1"/>
                <meta name="theme-color" content="#121a2f"/>
                <link rel="stylesheet" href=css/>
                <link rel="apple-touch-icon" href="/icon-192.png"/>
                <link rel="manifest" href="/manifest.webmanifest"/>
                <link rel="icon" href="/icon.svg" type="image/svg+xml"/>
                <HydrationScripts options/>
                <script src="/app.js" defer nonce=leptos::nonce::use_nonce()></script>
                <MetaTags/>
            </head>
            <body>
                <App/>
            </body>
        </html>
    }
}

/// The stylesheet's path: `pkg/galaxy.<hash>.css` when the site's files carry content-hashed
/// names (its `hash.txt` says which — read per page, as Leptos reads it for the script names),
/// else `pkg/galaxy.css`.
fn stylesheet(options: &LeptosOptions) -> String {
    let hash = options
        .hash_files
        .then(|| std::fs::read_to_string(options.hash_file.as_ref()).ok())
        .flatten()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("css:").map(|h| h.trim().to_owned()))
        });
    match hash {
        Some(h) => format!("/pkg/galaxy.{h}.css"),
        None => "/pkg/galaxy.css".to_owned(),
    }
}

/// A page's own headers (server rendering only): a Content-Security-Policy that lets in only this
/// origin's files, the WASM bundle, and the inline scripts Leptos writes with this response's
/// nonce; and `no-store`, since pages show a signed-in person's data.
#[cfg(feature = "ssr")]
fn set_page_headers() {
    use http::{HeaderValue, header};
    let Some(response) = use_context::<leptos_axum::ResponseOptions>() else {
        return;
    };
    let script = leptos::nonce::use_nonce()
        .map(|nonce| format!(" 'nonce-{nonce}'"))
        .unwrap_or_default();
    let csp = format!(
        "default-src 'self'; script-src 'self'{script} 'wasm-unsafe-eval'; style-src 'self'; \
         img-src 'self' data:; connect-src 'self'; font-src 'self'; manifest-src 'self'; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    );
    if let Ok(value) = HeaderValue::from_str(&csp) {
        response.insert_header(header::CONTENT_SECURITY_POLICY, value);
    }
    response.insert_header(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

/// Signed-in state shared by every page: the current user and the actions that change it.
#[derive(Clone, Copy)]
pub struct Auth {
    pub log_in: ServerAction<LogIn>,
    pub sign_up: ServerAction<SignUp>,
    pub log_out: ServerAction<LogOut>,
    pub user: Resource<Result<Option<CurrentUser>, AppError>>,
}

/// The root component: routes and the signed-in state.
#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    let log_in = ServerAction::<LogIn>::new();
    let sign_up = ServerAction::<SignUp>::new();
    let log_out = ServerAction::<LogOut>::new();
    let user = Resource::new(
        move || {
            (
                log_in.version().get(),
                sign_up.version().get(),
                log_out.version().get(),
            )
        },
        |_| get_current_user(),
    );
    provide_context(Auth {
        log_in,
        sign_up,
        log_out,
        user,
    });
    // Set once the WASM has hydrated the page shown — by the lazily loaded route, or by the
    // not-found page: end-to-end tests wait for it before typing.
    let hydrated = RwSignal::new(false);
    provide_context(routes::Hydrated(hydrated));

    // Pages render with their data (SsrMode::Async): complete HTML without JavaScript, and a
    // log-in redirect can still be a real 302.
    view! {
        <Title text="Galaxy"/>
        <Router>
            <Nav/>
            <main class="page" data-hydrated=move || hydrated.get().to_string()>
                <Routes fallback=|| view! { <NotFound/> }>
                    <Route path=path!("/") view={Lazy::<routes::Dashboard>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/login") view={Lazy::<routes::Login>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/signup") view={Lazy::<routes::Signup>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/agents") view={Lazy::<routes::Agents>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/agents/new") view={Lazy::<routes::NewAgent>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/agents/:id") view={Lazy::<routes::Agent>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/agents/:id/versions") view={Lazy::<routes::Versions>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/agents/:id/versions/diff") view={Lazy::<routes::VersionDiff>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/agents/:id/versions/:version") view={Lazy::<routes::Version>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/account") view={Lazy::<routes::Account>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/runs") view={Lazy::<routes::Runs>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/runs/compare") view={Lazy::<routes::Compare>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/runs/:id") view={Lazy::<routes::RunDetail>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/settings/keys") view={Lazy::<routes::Keys>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/settings/limits") view={Lazy::<routes::Limits>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/settings/prices") view={Lazy::<routes::Prices>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/settings/tokens") view={Lazy::<routes::Tokens>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/settings/members") view={Lazy::<routes::Members>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/settings/audit") view={Lazy::<routes::Audit>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/settings/workspace") view={Lazy::<routes::Workspace>::new()} ssr=SsrMode::Async/>
                    <Route path=path!("/invite/:token") view={Lazy::<routes::Invite>::new()} ssr=SsrMode::Async/>
                </Routes>
            </main>
        </Router>
    }
}

#[component]
fn NotFound() -> impl IntoView {
    routes::mark_hydrated();
    #[cfg(feature = "ssr")]
    if let Some(resp) = use_context::<leptos_axum::ResponseOptions>() {
        resp.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <section class="panel">
            <h1>"Page not found"</h1>
            <p><a href="/">"Back to the dashboard"</a></p>
        </section>
    }
}

/// The browser entry point: attaches the app to the server-rendered page.
#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    // Lazily loaded routes hydrate once their module is in: the async hydration entry.
    leptos::mount::hydrate_lazy(App);
}
