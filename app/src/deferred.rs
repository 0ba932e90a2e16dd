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
//!   [`seeded`] resources resolved to goes to the browser in the part's own markup (a JSON data
//!   block after it).
//! - **Browser, first load:** the wrapper hydrates as an empty element around the server's
//!   markup — readable, links working, no handlers. The first sign of use inside it (the
//!   pointer over it or pressed, focus, a key, a submit) fetches the module; the part is built
//!   (its seeded resources start from the server's values: it renders complete at once, without
//!   requests) and replaces the markup, keeping what was typed, checked, chosen or opened, the
//!   focus and the caret, and replaying in order the buttons clicked and the forms submitted
//!   meanwhile (a form sent twice, once). While it loads the part is `aria-busy`; a press
//!   inside it holds the swap until its click has landed.
//! - **Browser, after a navigation:** the module is fetched at once ("Loading…" until then) and
//!   the part rendered; its resources fetch as usual.
//!
//! A module that cannot be fetched (or has not come after 20 s) leaves the server's markup in
//! place with a notice; a form submitted meanwhile is then submitted as the browser would without
//! the WASM.
//!
//! The rule for a part: it creates its resources as it is built, not inside `Suspense`
//! children (those run as the page renders, outside `with_no_hydration`, and would take places
//! the browser does not give them). The part's views are the same on both sides, and its seeded
//! resources make the browser's first render the server's, so the carried state finds its
//! elements again by position: controls among the part's controls (checked by tag, type and
//! name), the focused element and the buttons and forms among all of the part's elements.

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

    /// A future of a seeded resource's value, as JSON.
    type Value = Box<dyn Fn() -> BoxFuture<'static, Option<String>> + Send + Sync>;

    /// The part's seeded resources, in creation order: their source, and their value.
    #[derive(Clone, Default)]
    struct Seeds(Arc<Mutex<Vec<(String, Value)>>>);

    impl Seeds {
        /// `[[source, value], …]` once every seeded resource has resolved; `<` escaped, so the
        /// text cannot end the element it is in.
        async fn json(&self) -> String {
            let pending: Vec<(String, BoxFuture<'static, Option<String>>)> = self
                .0
                .lock()
                .map(|s| {
                    s.iter()
                        .map(|(key, value)| (key.clone(), value()))
                        .collect()
                })
                .unwrap_or_default();
            let (keys, values): (Vec<String>, Vec<_>) = pending.into_iter().unzip();
            let seeds: Vec<(String, Option<String>)> =
                keys.into_iter().zip(join_all(values).await).collect();
            serde_json::to_string(&seeds)
                .unwrap_or_default()
                .replace('<', "\\u003c")
        }
    }

    pub fn part(name: &'static str, load: impl FnOnce() -> PartFuture + 'static) -> AnyView {
        let owner = Owner::new();
        let seeds = Seeds::default();
        let (content, seeds_view) = owner.with(move || {
            provide_context(seeds.clone());
            Owner::with_no_hydration(move || {
                let content = load().now_or_never();
                // The part's seeds, in its own markup after it, once its resources have
                // resolved: the browser does not hydrate the part, so they take no place among
                // the page's hydration data (a resource would, once per build of the part — and
                // a suspense builds its children twice on the server). The suspense is made
                // here, so it takes none either.
                let seeds_view = view! {
                    <Suspense fallback=|| ()>
                        {move || {
                            let seeds = seeds.clone();
                            Suspend::new(async move {
                                let json = seeds.json().await;
                                view! {
                                    <script type="application/json" data-seeds="" nonce=leptos::nonce::use_nonce() inner_html=json></script>
                                }
                            })
                        }}
                    </Suspense>
                };
                (content, seeds_view)
            })
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
        on_cleanup(move || drop(owner));
        view! {
            <div class="deferred" data-part=name>
                {content}
                {seeds_view}
            </div>
        }
        .into_any()
    }

    pub fn keep_seed<T>(key: String, resource: Resource<T>)
    where
        T: serde::Serialize + Clone + Send + Sync + 'static,
    {
        let Some(Seeds(seeds)) = use_context::<Seeds>() else {
            return;
        };
        let value = move || -> BoxFuture<'static, Option<String>> {
            Box::pin(async move { serde_json::to_string(&resource.await).ok() })
        };
        if let Ok(mut seeds) = seeds.lock() {
            seeds.push((key, Box::new(value)));
        }
    }
}

#[cfg(all(feature = "hydrate", not(feature = "ssr")))]
mod browser {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use leptos::ev;
    use leptos::prelude::*;
    use leptos::tachys::view::any_view::AnyViewState;
    use leptos::tachys::view::{Mountable, Render};
    use wasm_bindgen::JsCast;
    use web_sys::{
        Element, Event, EventInit, HtmlDetailsElement, HtmlElement, HtmlFormElement,
        HtmlInputElement, HtmlSelectElement, HtmlTextAreaElement,
    };

    use super::PartFuture;
    use crate::routes::Hydrated;

    /// A module that has not come by then is taken as failed: the forms submitted meanwhile go
    /// as they would without the WASM, instead of waiting without an end.
    const GIVE_UP: Duration = Duration::from_secs(20);

    /// A seeded resource's source, and its value when the server had one, as JSON.
    type Seed = (String, Option<String>);

    /// The server's seeds of the part being built, in creation order.
    #[derive(Clone, Default)]
    struct Seeds(Arc<Mutex<VecDeque<Seed>>>);

    #[derive(PartialEq)]
    enum Phase {
        /// The server's markup, waiting for a sign of use.
        Inert,
        Loading,
        Live,
        /// The module could not be fetched: the markup stays, forms submit natively.
        Failed,
    }

    /// What the visitor did before the part was live, replayed in order once it is: elements by
    /// position among the part's elements.
    enum Action {
        /// A click on a button that does not submit.
        Click(usize),
        /// A form submitted, and the button that submitted it.
        Submit(usize, Option<usize>),
    }

    struct State {
        /// The wrapper's owner: the live part's is its child (the page's contexts reach it).
        owner: Owner,
        phase: Phase,
        load: Option<Box<dyn FnOnce() -> PartFuture>>,
        actions: Vec<Action>,
        /// A pointer is down inside the part: the swap waits for its click (the pressed
        /// element must still be there to receive it).
        pressed: bool,
        /// The part's view, arrived while a pointer was down.
        arrived: Option<(Owner, AnyView)>,
        /// The live part: its owner and its view's state, kept as long as the wrapper.
        mounted: Option<(Owner, AnyViewState)>,
        /// Times the swap waited for the wrapper to be built.
        waits: u8,
    }

    type Root = NodeRef<leptos::html::Div>;
    type Shared = StoredValue<State, LocalStorage>;

    pub fn part(name: &'static str, load: impl FnOnce() -> PartFuture + 'static) -> AnyView {
        let hydrating =
            use_context::<Hydrated>().is_some_and(|Hydrated(done)| !done.get_untracked());
        let root = Root::new();
        let state = StoredValue::new_local(State {
            owner: Owner::current().unwrap_or_default(),
            phase: Phase::Inert,
            load: Some(Box::new(load)),
            actions: Vec::new(),
            pressed: false,
            arrived: None,
            mounted: None,
            waits: 0,
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
            // After a navigation the element may not be built yet; it has no seeds then.
            let el = root.get_untracked();
            if let Some(el) = &el {
                let _ = el.set_attribute("aria-busy", "true");
            }
            let seeds = el.map(|el| seeds_in(&el)).unwrap_or_default();
            let owner = live.clone();
            live.with(|| {
                provide_context(Seeds(Arc::new(Mutex::new(seeds))));
                leptos::task::spawn_local_scoped_with_cancellation(async move {
                    match load().await {
                        Ok(view) => arrive(root, state, owner, view),
                        Err(_) => fail(root, state),
                    }
                });
            });
            set_timeout(
                move || {
                    let waiting = state.try_with_value(|s| s.phase == Phase::Loading);
                    if waiting == Some(true) {
                        fail(root, state);
                    }
                },
                GIVE_UP,
            );
        };
        if !hydrating {
            // After a navigation: no markup to wait in, the part is rendered once it is in.
            Effect::new(move |_| activate());
        }

        let waiting = move || {
            state
                .try_with_value(|s| matches!(s.phase, Phase::Inert | Phase::Loading))
                .unwrap_or(false)
        };
        let on_pointerdown = move |_| {
            state.try_update_value(|s| s.pressed = true);
            activate();
        };
        // Both end a press; a click, if any, comes after `pointerup`.
        let released = move || {
            state.try_update_value(|s| s.pressed = false);
            set_timeout(move || swap_if_arrived(root, state), Duration::ZERO);
        };
        let on_click = move |ev: ev::MouseEvent| {
            if waiting()
                && let (Some(root), Some(button)) = (root.get_untracked(), button_of(&ev))
                && let Some(at) = position_in(&root, &button)
            {
                state.try_update_value(|s| s.actions.push(Action::Click(at)));
            }
            activate();
        };
        let on_submit = move |ev: ev::SubmitEvent| {
            if !waiting() {
                return;
            }
            ev.prevent_default();
            if let (Some(root), Some(form)) = (
                root.get_untracked(),
                ev.target().and_then(|t| t.dyn_into::<Element>().ok()),
            ) && let Some(at) = position_in(&root, &form)
            {
                let submitter = ev.submitter().and_then(|s| position_in(&root, s.as_ref()));
                state.try_update_value(|s| {
                    // A form sent twice while waiting is sent once.
                    s.actions
                        .retain(|a| !matches!(a, Action::Submit(f, _) if *f == at));
                    s.actions.push(Action::Submit(at, submitter));
                });
            }
            activate();
        };
        macro_rules! wrapper {
            ($($children:tt)*) => {
                view! {
                    <div class="deferred" data-part=name node_ref=root
                        on:pointerover=move |_| activate()
                        on:pointerdown=on_pointerdown
                        on:pointerup=move |_| released()
                        on:pointercancel=move |_| released()
                        on:focusin=move |_| activate()
                        on:keydown=move |_| activate()
                        on:click=on_click
                        on:submit=on_submit>
                        $($children)*
                    </div>
                }
                .into_any()
            };
        }
        if hydrating {
            // No children at all: hydration then leaves the server's markup inside unread.
            wrapper!()
        } else {
            wrapper!(<p class="muted">"Loading…"</p>)
        }
    }

    /// The server's seeds, from the part's markup (none after a navigation).
    fn seeds_in(root: &Element) -> VecDeque<Seed> {
        root.query_selector("script[data-seeds]")
            .ok()
            .flatten()
            .and_then(|script| script.text_content())
            .and_then(|json| serde_json::from_str(&json).ok())
            .unwrap_or_default()
    }

    /// The part's view is in: swapped in now, or once the pointer pressed inside it is released.
    fn arrive(root: Root, state: Shared, owner: Owner, view: AnyView) {
        let pressed = state.try_update_value(|s| {
            s.arrived = Some((owner, view));
            s.pressed
        });
        match pressed {
            Some(false) => swap_if_arrived(root, state),
            // Released outside the part, `pointerup` never comes here: do not wait for ever.
            Some(true) => set_timeout(
                move || {
                    state.try_update_value(|s| s.pressed = false);
                    swap_if_arrived(root, state);
                },
                Duration::from_secs(1),
            ),
            None => {}
        }
    }

    fn swap_if_arrived(root: Root, state: Shared) {
        let arrived = state
            .try_update_value(|s| if s.pressed { None } else { s.arrived.take() })
            .flatten();
        if let Some((owner, view)) = arrived {
            swap_in(root, state, owner, view);
        }
    }

    /// Replaces the server's markup with the live part, carrying over what was done meanwhile.
    fn swap_in(root_ref: Root, state: Shared, owner: Owner, view: AnyView) {
        let root = root_ref;
        let Some(root) = root.get_untracked() else {
            // Not built yet (just after a navigation): again in a moment, for a second at
            // most (a wrapper that is never built — a suspense's discarded first build — stays
            // unbuilt).
            let again = state
                .try_update_value(|s| {
                    s.waits += 1;
                    let again = s.waits <= 20;
                    if again {
                        s.arrived = Some((owner, view));
                    }
                    again
                })
                .unwrap_or(false);
            if again {
                set_timeout(
                    move || swap_if_arrived(root_ref, state),
                    Duration::from_millis(50),
                );
            }
            return;
        };
        let still_loading = state.try_with_value(|s| s.phase == Phase::Loading);
        if still_loading != Some(true) {
            return;
        }
        let root: &Element = &root;
        let before = Snapshot::take(root);
        root.set_inner_html("");
        let mut built = owner.with(|| view.build());
        built.mount(root, None);
        before.restore(root);
        let _ = root.remove_attribute("aria-busy");
        let _ = root.set_attribute("data-live", "true");
        let actions = state
            .try_update_value(|s| {
                s.phase = Phase::Live;
                s.mounted = Some((owner, built));
                std::mem::take(&mut s.actions)
            })
            .unwrap_or_default();
        for action in actions {
            match action {
                Action::Click(at) => {
                    if let Some(button) =
                        element_at(root, at).and_then(|e| e.dyn_into::<HtmlElement>().ok())
                    {
                        button.click();
                    }
                }
                Action::Submit(form, submitter) => submit_again(root, form, submitter),
            }
        }
    }

    /// The module did not come: the markup stays as the server drew it, saying that its buttons
    /// wait for a reload, and the forms submitted meanwhile go as the browser would send them
    /// without the WASM.
    fn fail(root: Root, state: Shared) {
        let actions = state
            .try_update_value(|s| {
                if s.phase != Phase::Loading {
                    return None;
                }
                s.phase = Phase::Failed;
                Some(std::mem::take(&mut s.actions))
            })
            .flatten();
        let (Some(actions), Some(root)) = (actions, root.get_untracked()) else {
            return;
        };
        let _ = root.remove_attribute("aria-busy");
        // Before the notice: the positions were taken without it. A page leaves with the
        // first form sent.
        if let Some((form, submitter)) = actions.into_iter().find_map(|a| match a {
            Action::Submit(form, submitter) => Some((form, submitter)),
            Action::Click(_) => None,
        }) {
            submit_again(&root, form, submitter);
        }
        let drawn = root
            .query_selector("script[data-seeds]")
            .ok()
            .flatten()
            .is_some();
        // Static text: nothing of the page's in it.
        let what = if drawn {
            "Its forms still send; its other buttons need a <a href=\"\" rel=\"external\">reload \
             of the page</a>."
        } else {
            root.set_inner_html("");
            "<a href=\"\" rel=\"external\">Reload the page</a>."
        };
        let notice = format!(
            "<p class=\"error\" role=\"alert\" data-not-loaded=\"true\">This part of the page \
             could not be loaded: Galaxy may have been updated since this tab opened, or the \
             connection dropped. {what}</p>"
        );
        let _ = root.insert_adjacent_html("afterbegin", &notice);
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

    /// The server's next seed for the part being built: its source, and its value, as JSON.
    pub fn next_seed() -> Option<(String, String)> {
        let Seeds(seeds) = use_context::<Seeds>()?;
        let (key, value) = seeds.lock().ok()?.pop_front()?;
        Some((key, value?))
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
            // A control the live part disables (a live mode without a key) is not set.
            if now.identity != self.identity
                || now == *self
                || e.matches(":disabled").unwrap_or(true)
            {
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
            let Some((start, end)) = caret else {
                return;
            };
            place_caret(&e, start, end);
            // The part's own handlers then write the value back (their `prop:value`, a moment
            // later), which puts the caret at the end: placed again after them — unless the
            // visitor typed or moved meanwhile.
            let typed = Control::read(&e).value;
            set_timeout(
                move || {
                    let focused = document().active_element().is_some_and(|a| a == e);
                    if focused && Control::read(&e).value == typed {
                        place_caret(&e, start, end);
                    }
                },
                Duration::ZERO,
            );
        }
    }

    fn place_caret(e: &Element, start: u32, end: u32) {
        if let Some(i) = e.dyn_ref::<HtmlInputElement>() {
            let _ = i.set_selection_range(start, end);
        } else if let Some(t) = e.dyn_ref::<HtmlTextAreaElement>() {
            let _ = t.set_selection_range(start, end);
        }
    }
}
