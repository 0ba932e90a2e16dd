//! The pages as lazily loaded routes. Each page's code (its views, its server-function calls,
//! the editors and charts only it uses) is split out of the main WASM module into the module of
//! its group — the public pages, the dashboard, the agents list, the agent pages, an agent's
//! version history, the run pages, the settings —
//! fetched when a page of the group is first shown: on a first load, as soon as the main module
//! runs, before it hydrates the page. The agent pages' builder, test panel and "Call this
//! agent" (and the dashboard's quick run) are one more module, `workbench`, fetched when they
//! are first used (`crate::deferred`).
//!
//! The agents list is a group of its own: in the agent pages' group its views and decoders were
//! 26 KB of the agent page's first load (BENCHMARKS.md "Bundle size").
//!
//! The server does not link the page's modules as preloads in the head: downloading them from
//! the start, alongside the main module, made Lighthouse's performance score worse (dashboard 89 →
//! 74, agent page 77 → 68: its simulated slow network counts every download started before the
//! first paint against the largest one) for a gain of one round trip (BENCHMARKS.md "Bundle size").
//!
//! Groups, not one module per page: the splitter gives every set of modules that share code a
//! chunk of its own, and with a module per page that was hundreds of small files (more requests,
//! worse compression) — see BENCHMARKS.md "Bundle size".
//!
//! The split happens in the browser build only (`.ci/lib.sh` links with `--emit-relocs` and runs
//! `galaxy-wasm-split`); on the server a lazy route is an ordinary async view.

use leptos::prelude::*;
use leptos::wasm_split::{SplitLoaderError, wasm_split};
use leptos_router::LazyRoute;
use leptos_router::hooks::use_location;

use crate::pages;

/// Set once the WASM has hydrated the page shown (the App's and the lazily loaded route's
/// views alike): end-to-end tests wait for `main[data-hydrated="true"]` before typing.
#[derive(Clone, Copy)]
pub struct Hydrated(pub RwSignal<bool>);

/// Marks the page hydrated (see [`Hydrated`]) once the calling view is.
pub fn mark_hydrated() {
    if let Some(Hydrated(flag)) = use_context::<Hydrated>() {
        Effect::new(move |_| flag.set(true));
    }
}

/// A page's module that failed to load while the page hydrates (its first load) cannot be shown
/// in place — the server's markup is there, waiting for its code — so the page is loaded again,
/// once: sessionStorage remembers the attempt for a minute, and a second failure within it
/// leaves the server-rendered page as it is (its forms post without the WASM). Typically one
/// instance of several answered the page while another, still on the previous build, was asked
/// for the module.
fn reload_if_hydrating() {
    #[cfg(feature = "hydrate")]
    {
        const KEY: &str = "galaxy-module-reload";
        let hydrating =
            use_context::<Hydrated>().is_some_and(|Hydrated(flag)| !flag.get_untracked());
        if !hydrating {
            return;
        }
        let window = window();
        // Whole milliseconds: float formatting and parsing would add ~13 KB to the main module.
        let now = web_sys::js_sys::Date::now() as u64;
        let storage = window.session_storage().ok().flatten();
        let last = storage
            .as_ref()
            .and_then(|s| s.get_item(KEY).ok().flatten())
            .and_then(|v| v.parse::<u64>().ok());
        if last.is_some_and(|t| now.saturating_sub(t) < 60_000) {
            return;
        }
        if let Some(storage) = &storage {
            let _ = storage.set_item(KEY, &now.to_string());
        }
        let _ = window.location().reload();
    }
}

/// In place of a page whose module did not load: this build's modules are gone after a new
/// deployment (a tab opened before it), or the connection dropped. A full load of the page fetches
/// the current build.
#[component]
fn NotLoaded() -> impl IntoView {
    mark_hydrated();
    let location = use_location();
    let href = move || {
        let search = location.search.get();
        let path = location.pathname.get();
        if search.is_empty() {
            path
        } else {
            format!("{path}?{search}")
        }
    };
    view! {
        <p class="error" role="alert" data-not-loaded="true">
            "This page could not be loaded: Galaxy may have been updated since this tab opened, or the connection dropped."
        </p>
        <p><a class="button" href=href rel="external">"Reload the page"</a></p>
    }
}

/// Unit route types whose views are `$page`, split into module `$group`:
/// `Lazy::<$route>::new()` in the router.
macro_rules! lazy_pages {
    ($($group:ident { $($route:ident => $load:ident, $preload:ident => $page:path),* $(,)? })*) => {$($(
        #[doc = concat!("The lazily loaded route of [`", stringify!($page), "`] (module `", stringify!($group), "`).")]
        pub struct $route;

        impl LazyRoute for $route {
            fn data() -> Self {
                $route
            }

            // Loads the group's module before the view is asked for: hydration then finds the
            // view ready. (A view still loading would hydrate as its placeholder, and the
            // server's markup would not match.) A failed load: on a first load, the page is
            // loaded again (see `reload_if_hydrating`); after a navigation, `view` tries once
            // more and shows the failure.
            async fn preload() {
                if $preload().await.is_err() {
                    reload_if_hydrating();
                }
            }

            async fn view(this: Self) -> AnyView {
                match $load(this).await {
                    Ok(view) => view,
                    Err(_) => view! { <NotLoaded/> }.into_any(),
                }
            }
        }

        #[wasm_split($group, wasm_split_path = ::leptos::wasm_split, preload($preload), fallible)]
        fn $load(_: $route) -> Result<AnyView, SplitLoaderError> {
            mark_hydrated();
            Ok(view! { <$page/> }.into_any())
        }
    )*)*};
}

lazy_pages! {
    public {
        Login => login_view, login_preload => pages::auth::LoginPage,
        Signup => signup_view, signup_preload => pages::auth::SignupPage,
        Invite => invite_view, invite_preload => pages::invite::InvitePage,
    }
    dashboard {
        Dashboard => dashboard_view, dashboard_preload => pages::dashboard::DashboardPage,
    }
    // Not `agent_list`: the module's name is matched by `[a-z]+` in the end-to-end tests.
    agentlist {
        Agents => agents_view, agents_preload => pages::agents::AgentsPage,
    }
    agents {
        NewAgent => new_agent_view, new_agent_preload => pages::agent::NewAgentPage,
        Agent => agent_view, agent_preload => pages::agent::AgentPage,
    }
    versions {
        Versions => versions_view, versions_preload => pages::versions::VersionsPage,
        VersionDiff => version_diff_view, version_diff_preload => pages::versions::VersionDiffPage,
        Version => version_view, version_preload => pages::versions::VersionPage,
    }
    runs {
        Runs => runs_view, runs_preload => pages::runs::RunsListPage,
        Compare => compare_view, compare_preload => pages::compare::ComparePage,
        RunDetail => run_detail_view, run_detail_preload => pages::run::RunDetailPage,
    }
    settings {
        Account => account_view, account_preload => pages::account::AccountPage,
        Keys => keys_view, keys_preload => pages::keys::KeysPage,
        Limits => limits_view, limits_preload => pages::limits::LimitsPage,
        Prices => prices_view, prices_preload => pages::prices::PricesPage,
        Tokens => tokens_view, tokens_preload => pages::tokens::TokensPage,
        Members => members_view, members_preload => pages::members::MembersPage,
        Audit => audit_view, audit_preload => pages::audit::AuditPage,
        Workspace => workspace_view, workspace_preload => pages::workspace::WorkspacePage,
    }
}
