//! Parts of a page whose code is fetched when they are first used: hydration on demand.
//!
//! The agent page's builder, test panel and "Call this agent" are most of its code: hydrating
//! them on load made the page's first load 506 KB against a 300 KB budget; deferred, it is 273 KB
//! (BENCHMARKS.md "Bundle size"). [`deferred`] shows such a part at once and runs it when it is
//! used. Its view comes from `load`, a `#[wasm_split]` function: its code is in a module of its
//! own.
//!
//! - **Server:** the part renders in place, complete, like any view — but under
//!   `Owner::with_no_hydration`, so nothing it creates (resources, suspense boundaries) takes a
//!   place among the page's hydration data: the browser, which does not run the part's code
//!   while it hydrates, finds every later resource where the server put it. What the part's
//!   [`seeded`] resources resolved to goes to the browser in a resource of the wrapper's own.
//! - **Browser, first load:** the wrapper hydrates as an empty element around the server's
//!   markup — readable, links working, no handlers. The first sign of use inside it (the
//!   pointer over it or pressed, focus, a key, a submit) fetches the module; the part is built
//!   (its seeded resources start from the server's values: it renders complete at once, without
//!   requests) and replaces the markup, keeping what was typed, checked, chosen or opened, the
//!   focus and the caret, and replaying the buttons clicked and the form submitted meanwhile.
//! - **Browser, after a navigation:** the module is fetched at once and the part rendered; its
//!   resources fetch as usual.
//!
//! A module that cannot be fetched leaves the server's markup in place; a form submitted
//! meanwhile is then submitted as the browser would without the WASM.
//!
//! The rule for a part: it creates its resources as it is built, not inside `Suspense`
//! children (those run as the page renders, outside `with_no_hydration`, and would take places
//! the browser does not give them). The part's views are the same on both sides, so the carried
//! state finds its elements again by their position among the part's controls.

use std::future::Future;
use std::pin::Pin;

#[cfg(not(feature = "ssr"))]
use futures_util::future::Either;
use leptos::prelude::*;
use leptos::wasm_split::SplitLoaderError;
use serde::Serialize;

/// What a deferred part's loader gives: its view, once its module is in.
pub type PartFuture = Pin<Box<dyn Future<Output = Result<AnyView, SplitLoaderError>>>>;

/// The part at this place of the page, named `name` (`data-part`, for tests and styles), its
/// view from `load`.
pub fn deferred(name: &'static str, load: impl FnOnce() -> PartFuture + 'static) -> AnyView {
    #[cfg(feature = "ssr")]
    {
        server::part(name, load)
    }
    #[cfg(all(feature = "hydrate", not(feature = "ssr")))]
    {
        browser::part(name, load)
    }
    #[cfg(not(any(feature = "ssr", feature = "hydrate")))]
    {
        let _ = load;
        view! { <div class="deferred" data-part=name></div> }.into_any()
    }
}

/// A resource as `Resource::new` makes it, which inside a deferred part also carries its first
/// value from the server to the browser: the browser's copy of the part starts from it (when
/// its source is still the server's) instead of fetching it again.
pub fn seeded<S, T, Fut>(
    source: impl Fn() -> S + Send + Sync + 'static,
    fetcher: impl Fn(S) -> Fut + Send + Sync + 'static,
) -> Resource<T>
where
    S: Serialize + PartialEq + Clone + Send + Sync + 'static,
    T: Serialize + serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    Fut: Future<Output = T> + Send + 'static,
{
    #[cfg(feature = "ssr")]
    {
        let key = serde_json::to_string(&untrack(&source)).unwrap_or_default();
        let resource = Resource::new(source, fetcher);
        server::keep_seed(key, resource);
        resource
    }
    #[cfg(not(feature = "ssr"))]
    {
        // The first fetch, for the source the server had, gives the server's value at once:
        // a future that is ready when first polled resolves the resource as it is created.
        let seed = std::sync::Mutex::new(seed_for::<S, T>(&untrack(&source)));
        Resource::new(source, move |s| {
            match seed.lock().ok().and_then(|mut seed| seed.take()) {
                Some(value) => Either::Left(std::future::ready(value)),
                None => Either::Right(fetcher(s)),
            }
        })
    }
}

/// The server's value for the next seeded resource of the part being built, if its source is
/// the server's.
#[cfg(not(feature = "ssr"))]
fn seed_for<S: Serialize, T: serde::de::DeserializeOwned>(source: &S) -> Option<T> {
    #[cfg(feature = "hydrate")]
    {
        let (key, value) = browser::next_seed()?;
        if serde_json::to_string(source).ok()? == key {
            return serde_json::from_str(&value).ok();
        }
    }
    let _ = source;
    None
}

#[cfg(feature = "ssr")]
mod server {
    use std::sync::{Arc, Mutex};

    use futures_util::FutureExt;
    use futures_util::future::{BoxFuture, join_all};
    use leptos::prelude::*;

    use super::PartFuture;

    /// A seeded resource's `(source, value)`, as JSON, once it has resolved.
    type Seed = BoxFuture<'static, (String, String)>;

    /// The part's seeded resources, in creation order.
    #[derive(Clone, Default)]
    struct Seeds(Arc<Mutex<Vec<Seed>>>);

    pub fn part(name: &'static str, load: impl FnOnce() -> PartFuture + 'static) -> AnyView {
        let owner = Owner::new();
        let seeds = Seeds::default();
        let content = owner.with({
            let seeds = seeds.clone();
            move || {
                provide_context(seeds);
                Owner::with_no_hydration(move || load().now_or_never())
            }
        });
        let content = match content {
            Some(Ok(view)) => Some(view),
            Some(Err(error)) => {
                tracing::error!(part = name, ?error, "a deferred part did not render");
                None
            }
            None => {
                tracing::error!(part = name, "a deferred part's view was not ready");
                None
            }
        };
        // After the part is built, so at the place the browser gives it while hydrating: the
        // part's seeds, in the page's hydration data.
        let pending = seeds.0;
        let _seeds = Resource::new(
            || (),
            move |_| {
                let futures = pending
                    .lock()
                    .map(|mut f| std::mem::take(&mut *f))
                    .unwrap_or_default();
                async move { serde_json::to_string(&join_all(futures).await).unwrap_or_default() }
            },
        );
        on_cleanup(move || drop(owner));
        view! { <div class="deferred" data-part=name>{content}</div> }.into_any()
    }

    pub fn keep_seed<T>(key: String, resource: Resource<T>)
    where
        T: serde::Serialize + Clone + Send + Sync + 'static,
    {
        let Some(Seeds(seeds)) = use_context::<Seeds>() else {
            return;
        };
        let seed = async move {
            let value = resource.await;
            (key, serde_json::to_string(&value).unwrap_or_default())
        };
        if let Ok(mut seeds) = seeds.lock() {
            seeds.push(Box::pin(seed));
        }
    }
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
mod browser {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use leptos::ev;
    use leptos::prelude::*;
    use leptos::tachys::view::{Mountable, Render};
    use wasm_bindgen::JsCast;
    use web_sys::{
        Element, Event, EventInit, HtmlDetailsElement, HtmlElement, HtmlFormElement,
        HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement,
    };

    use super::PartFuture;
    use crate::routes::Hydrated;

    /// The server's seeds of the part being built, in creation order: `(source, value)`.
    #[derive(Clone, Default)]
    struct Seeds(Arc<Mutex<VecDeque<(String, String)>>>);

    #[derive(PartialEq)]
    enum Phase {
        /// The server's markup, waiting for a sign of use.
        Inert,
        Loading,
        Live,
        /// The module could not be fetched: the markup stays, forms submit natively.
        Failed,
    }

    struct State {
        /// The wrapper's owner: the live part's is its child (the page's contexts reach it).
        owner: Owner,
        phase: Phase,
        load: Option<Box<dyn FnOnce() -> PartFuture>>,
        /// Buttons clicked before the part was live, by position among the part's elements.
        clicks: Vec<usize>,
        /// The form submitted before the part was live, and the button that submitted it.
        submit: Option<(usize, Option<usize>)>,
        /// The live part: its owner and its view's state, kept as long as the wrapper.
        mounted: Option<(Owner, leptos::tachys::view::any_view::AnyViewState)>,
    }

    pub fn part(name: &'static str, load: impl FnOnce() -> PartFuture + 'static) -> AnyView {
        let hydrating =
            use_context::<Hydrated>().is_some_and(|Hydrated(done)| !done.get_untracked());
        // The same place among the page's resources as on the server; after a navigation there
        // is no server value, and the part's resources fetch their own.
        let seeds = Resource::new(|| (), |_| async { String::new() });
        let root = NodeRef::<leptos::html::Div>::new();
        let state = StoredValue::new_local(State {
            owner: Owner::current().unwrap_or_default(),
            phase: Phase::Inert,
            load: Some(Box::new(load)),
            clicks: Vec::new(),
            submit: None,
            mounted: None,
        });

        let activate = move || {
            let load = state
                .try_update_value(|s| {
                    if s.phase == Phase::Inert {
                        s.phase = Phase::Loading;
                        s.load.take().map(|load| (load, s.owner.child()))
                    } else {
                        None
                    }
                })
                .flatten();
            let Some((load, live)) = load else { return };
            let from_server: VecDeque<(String, String)> = seeds
                .get_untracked()
                .and_then(|s| serde_json::from_str(&s).ok())
                .unwrap_or_default();
            live.with(|| {
                provide_context(Seeds(Arc::new(Mutex::new(from_server))));
                let live = Owner::current().unwrap_or_default();
                leptos::task::spawn_local_scoped_with_cancellation(async move {
                    match load().await {
                        Ok(view) => swap_in(root, state, live, view),
                        Err(_) => fail(root, state),
                    }
                });
            });
        };
        if !hydrating {
            // After a navigation: no markup to wait in, the part is rendered once it is in.
            Effect::new(move |_| activate());
        }

        let on_click = move |ev: ev::MouseEvent| {
            if let (Some(root), Some(button)) = (root.get_untracked(), button_of(&ev)) {
                state.update_value(|s| {
                    if matches!(s.phase, Phase::Inert | Phase::Loading)
                        && let Some(at) = position_in(&root, &button)
                    {
                        s.clicks.push(at);
                    }
                });
            }
            activate();
        };
        let on_submit = move |ev: ev::SubmitEvent| {
            let waiting = state
                .try_with_value(|s| matches!(s.phase, Phase::Inert | Phase::Loading))
                .unwrap_or(false);
            if !waiting {
                return;
            }
            ev.prevent_default();
            if let (Some(root), Some(form)) = (
                root.get_untracked(),
                ev.target().and_then(|t| t.dyn_into::<Element>().ok()),
            ) {
                let submitter = ev.submitter().and_then(|s| position_in(&root, s.as_ref()));
                if let Some(at) = position_in(&root, &form) {
                    state.update_value(|s| s.submit = Some((at, submitter)));
                }
            }
            activate();
        };
        view! {
            <div class="deferred" data-part=name node_ref=root
                on:pointerover=move |_| activate()
                on:pointerdown=move |_| activate()
                on:focusin=move |_| activate()
                on:keydown=move |_| activate()
                on:click=on_click
                on:submit=on_submit>
            </div>
        }
        .into_any()
    }

    /// Replaces the server's markup with the live part, carrying over what was done meanwhile.
    fn swap_in(
        root: NodeRef<leptos::html::Div>,
        state: StoredValue<State, LocalStorage>,
        owner: Owner,
        view: AnyView,
    ) {
        let Some(root) = root.get_untracked() else {
            return;
        };
        let root: &Element = &root;
        let before = Snapshot::take(root);
        root.set_inner_html("");
        let mut built = view.build();
        built.mount(root, None);
        before.restore(root);
        let _ = root.set_attribute("data-live", "true");
        let pending = state.try_update_value(|s| {
            s.phase = Phase::Live;
            (std::mem::take(&mut s.clicks), s.submit.take())
        });
        state.update_value(|s| s.mounted = Some((owner, built)));
        if let Some((clicks, submit)) = pending {
            for at in clicks {
                if let Some(button) =
                    element_at(root, at).and_then(|e| e.dyn_into::<HtmlElement>().ok())
                {
                    button.click();
                }
            }
            if let Some((form, submitter)) = submit {
                submit_again(root, form, submitter);
            }
        }
    }

    /// The module did not come: the markup stays as the server drew it, saying that its buttons
    /// wait for a reload, and a form submitted meanwhile goes as the browser would send it
    /// without the WASM.
    fn fail(root: NodeRef<leptos::html::Div>, state: StoredValue<State, LocalStorage>) {
        let submit = state
            .try_update_value(|s| {
                s.phase = Phase::Failed;
                s.clicks.clear();
                s.submit.take()
            })
            .flatten();
        let Some(root) = root.get_untracked() else {
            return;
        };
        // Before the notice: the positions were taken without it.
        if let Some((form, submitter)) = submit {
            submit_again(&root, form, submitter);
        }
        let _ = root.insert_adjacent_html(
            "afterbegin",
            "<p class=\"error\" role=\"alert\" data-not-loaded=\"true\">This part of the page \
             could not be loaded: Galaxy may have been updated since this tab opened, or the \
             connection dropped. Its forms still send; its other buttons need a \
             <a href=\"\" rel=\"external\">reload of the page</a>.</p>",
        );
    }

    fn submit_again(root: &Element, form: usize, submitter: Option<usize>) {
        let Some(form) = element_at(root, form).and_then(|e| e.dyn_into::<HtmlFormElement>().ok())
        else {
            return;
        };
        let submitter = submitter
            .and_then(|at| element_at(root, at))
            .and_then(|e| e.dyn_into::<HtmlElement>().ok());
        let _ = form.request_submit_with_submitter(submitter.as_ref());
    }

    /// The server's next seed for the part being built: `(source, value)`, as JSON.
    pub fn next_seed() -> Option<(String, String)> {
        let Seeds(seeds) = use_context::<Seeds>()?;
        seeds.lock().ok()?.pop_front()
    }

    /// A non-submit button the click landed on (submits are carried as submits).
    fn button_of(ev: &ev::MouseEvent) -> Option<Element> {
        let target = ev.target()?.dyn_into::<Element>().ok()?;
        let button = target.closest("button").ok()??;
        (button.get_attribute("type").as_deref() == Some("button")).then_some(button)
    }

    fn elements(root: &Element, selector: &str) -> Vec<Element> {
        let Ok(list) = root.query_selector_all(selector) else {
            return Vec::new();
        };
        (0..list.length())
            .filter_map(|i| list.item(i)?.dyn_into::<Element>().ok())
            .collect()
    }

    fn position_in(root: &Element, element: &Element) -> Option<usize> {
        elements(root, "*").iter().position(|e| e == element)
    }

    fn element_at(root: &Element, at: usize) -> Option<Element> {
        elements(root, "*").into_iter().nth(at)
    }

    const CONTROLS: &str = "input, textarea, select, details";

    /// The state of the part's controls and its focus, as the visitor left them.
    struct Snapshot {
        controls: Vec<Control>,
        focus: Option<(usize, Option<(u32, u32)>)>,
    }

    #[derive(PartialEq)]
    struct Control {
        /// Tag, type and name: the same control on the other side.
        identity: (String, String, String),
        value: String,
        on: bool,
    }

    impl Control {
        fn read(e: &Element) -> Control {
            let identity = (
                e.tag_name(),
                e.get_attribute("type").unwrap_or_default(),
                e.get_attribute("name").unwrap_or_default(),
            );
            let (value, on) = if let Some(i) = e.dyn_ref::<HtmlInputElement>() {
                (i.value(), i.checked())
            } else if let Some(t) = e.dyn_ref::<HtmlTextAreaElement>() {
                (t.value(), false)
            } else if let Some(s) = e.dyn_ref::<HtmlSelectElement>() {
                (s.value(), false)
            } else if let Some(d) = e.dyn_ref::<HtmlDetailsElement>() {
                (String::new(), d.open())
            } else {
                (String::new(), false)
            };
            Control {
                identity,
                value,
                on,
            }
        }

        /// Gives `e` (the same control, newly built) this state, telling its handlers.
        fn write(&self, e: &Element) {
            let now = Control::read(e);
            if now.identity != self.identity || now == *self {
                return;
            }
            if let Some(i) = e.dyn_ref::<HtmlInputElement>() {
                match i.type_().as_str() {
                    // A radio is set by checking the one chosen, not by unchecking the others.
                    "radio" if !self.on => return,
                    "radio" | "checkbox" => i.set_checked(self.on),
                    _ => i.set_value(&self.value),
                }
            } else if let Some(t) = e.dyn_ref::<HtmlTextAreaElement>() {
                t.set_value(&self.value);
            } else if let Some(s) = e.dyn_ref::<HtmlSelectElement>() {
                s.set_value(&self.value);
            } else if let Some(d) = e.dyn_ref::<HtmlDetailsElement>() {
                d.set_open(self.on);
                return;
            }
            for kind in ["input", "change"] {
                let init = EventInit::new();
                init.set_bubbles(true);
                if let Ok(event) = Event::new_with_event_init_dict(kind, &init) {
                    let _ = e.dispatch_event(&event);
                }
            }
        }
    }

    impl Snapshot {
        fn take(root: &Element) -> Snapshot {
            let controls = elements(root, CONTROLS).iter().map(Control::read).collect();
            let focus = document().active_element().and_then(|active| {
                let at = position_in(root, &active)?;
                let caret = active
                    .dyn_ref::<HtmlInputElement>()
                    .and_then(|i| Some((i.selection_start().ok()??, i.selection_end().ok()??)));
                let caret = caret.or_else(|| {
                    let t = active.dyn_ref::<HtmlTextAreaElement>()?;
                    Some((t.selection_start().ok()??, t.selection_end().ok()??))
                });
                Some((at, caret))
            });
            Snapshot { controls, focus }
        }

        fn restore(&self, root: &Element) {
            for (control, e) in self.controls.iter().zip(elements(root, CONTROLS)) {
                control.write(&e);
            }
            let Some((at, caret)) = self.focus else {
                return;
            };
            let Some(e) = element_at(root, at) else {
                return;
            };
            if let Some(e) = e.dyn_ref::<HtmlElement>() {
                let _ = e.focus();
            }
            if let Some((start, end)) = caret {
                if let Some(i) = e.dyn_ref::<HtmlInputElement>() {
                    let _ = i.set_selection_range(start, end);
                } else if let Some(t) = e.dyn_ref::<HtmlTextAreaElement>() {
                    let _ = t.set_selection_range(start, end);
                }
            }
        }
    }
}
