//! `/`: one search box, facets with counts beside the results, sort, pages, badges, and the
//! catalog revision; live notices of changes.

use std::sync::Arc;
use std::time::Duration;

use axum::{
    extract::{RawQuery, State},
    http::StatusCode,
    response::Response,
};
use maud::{Markup, html};
use nestor_catalog::{FacetKey, Hit, IndexPage, IndexQuery, Sort, TextQuery};
use nestor_model::{Component, ComponentFilter, ErrorCode, Problem};

use super::{Page, Section, error_page, html_response, query_string};
use crate::app::AppState;

/// Results per page.
const PAGE_SIZE: usize = 20;
/// The label key shown as a facet (teams own components).
const TEAM_LABEL: &str = "team";

/// The page's parameters, as given.
#[derive(Default)]
struct Params {
    q: String,
    sort: Option<String>,
    cursor: Option<String>,
    fragment: bool,
    /// The filter pairs, in order (kept for links).
    filters: Vec<(String, String)>,
}

fn params(raw: Option<&str>) -> Result<(Params, ComponentFilter), Problem> {
    let pairs: Vec<(String, String)> =
        serde_html_form::from_str(raw.unwrap_or_default()).map_err(|e| {
            Problem::new(
                ErrorCode::InvalidParameter,
                format!("unreadable query string: {e}"),
            )
        })?;
    let mut p = Params::default();
    let mut filter = ComponentFilter::default();
    for (k, v) in pairs {
        match k.as_str() {
            "q" => p.q = v,
            "sort" if !v.is_empty() => p.sort = Some(v),
            "cursor" if !v.is_empty() => p.cursor = Some(v),
            "fragment" => p.fragment = v == "results",
            "sort" | "cursor" => {}
            _ => match filter.set(&k, &v) {
                Ok(true) => p.filters.push((k, v)),
                Ok(false) => {
                    return Err(Problem::new(
                        ErrorCode::InvalidParameter,
                        format!("{k:?} is not a parameter of this page"),
                    ));
                }
                Err(e) => return Err(Problem::new(ErrorCode::InvalidParameter, e.to_string())),
            },
        }
    }
    Ok((p, filter))
}

/// The home page: search and browse.
pub(crate) async fn page(State(state): State<Arc<AppState>>, RawQuery(raw): RawQuery) -> Response {
    let (p, filter) = match params(raw.as_deref()) {
        Ok(x) => x,
        Err(problem) => return error_page(problem.into()),
    };
    let text = match p.q.trim() {
        "" => Ok(None),
        q => TextQuery::parse(q).map(Some),
    };
    let sort = p.sort.as_deref().and_then(Sort::parse);
    let outcome = match &text {
        Ok(text) => {
            let query = IndexQuery {
                text: text.clone(),
                filter,
                include_prerelease: false,
                all_versions: false,
                sort: match (sort, text) {
                    (Some(Sort::Relevance), None) => None,
                    (s, _) => s,
                },
                facets: ["provider", "category", "engine", "maturity"]
                    .into_iter()
                    .map(FacetKey::Field)
                    .chain([FacetKey::Label(TEAM_LABEL.into())])
                    .collect(),
                cursor: p.cursor.clone(),
                limit: PAGE_SIZE,
            };
            Some(state.catalog.query(&query, None, Duration::ZERO).await)
        }
        Err(_) => None,
    };
    let page = match outcome {
        Some(Ok(page)) => Some(page),
        Some(Err(e)) => return error_page(e.into()),
        None => None,
    };
    let syntax = text.as_ref().err().map(|e| e.to_string());
    let results = results(&p, page.as_ref(), syntax.as_deref());
    if p.fragment {
        return html_response(StatusCode::OK, results.into_string());
    }
    let title = if p.q.trim().is_empty() {
        "Catalog".to_owned()
    } else {
        format!("{} — search", p.q.trim())
    };
    Page {
        title,
        section: Section::Catalog,
        live: Some("*".into()),
        kind: "home",
        revision: page.as_ref().map(|pg| pg.revision.0),
        body: html! {
            form.search method="get" action="/" role="search" {
                label.skip for="q" { "Search the catalog" }
                input #q type="search" name="q" value=(p.q) placeholder="Search components: postgres, name:vpc, \"private subnets\"…" autocomplete="off" autofocus;
                @for (k, v) in &p.filters { input type="hidden" name=(k) value=(v); }
                @if let Some(s) = &p.sort { input type="hidden" name="sort" value=(s); }
                button.primary type="submit" { "Search" }
            }
            div.notice #live-notice hidden role="status" {
                span { "The catalog changed since this page loaded" } " · "
                a href="" { "Refresh" }
            }
            div.layout {
                aside.facets aria-label="Filters" {
                    @if let Some(page) = &page { (facets(&p, page)) }
                }
                section #results aria-live="polite" aria-busy="false" { (results) }
            }
        },
    }
    .render(StatusCode::OK)
}

/// A link to this page with `change` applied to its parameters (the cursor dropped).
fn link(p: &Params, change: impl FnOnce(&mut Vec<(String, String)>)) -> String {
    let mut pairs: Vec<(String, String)> = Vec::new();
    if !p.q.trim().is_empty() {
        pairs.push(("q".into(), p.q.clone()));
    }
    pairs.extend(p.filters.iter().cloned());
    if let Some(s) = &p.sort {
        pairs.push(("sort".into(), s.clone()));
    }
    change(&mut pairs);
    format!(
        "/?{}",
        query_string(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
    )
}

fn facets(p: &Params, page: &IndexPage) -> Markup {
    html! {
        @for facet in &page.facets {
            @let (key, title) = match facet.key.as_str() {
                "label:team" => ("label", "Team"),
                "provider" => ("provider", "Provider"),
                "category" => ("category", "Category"),
                "engine" => ("engine", "Engine"),
                _ => ("maturity", "Maturity"),
            };
            @if !facet.values.is_empty() {
                h2 { (title) }
                ul {
                    @for (value, count) in &facet.values {
                        @let param = if key == "label" { format!("{TEAM_LABEL}:{value}") } else { value.clone() };
                        @let on = p.filters.iter().any(|(k, v)| k == key && *v == param);
                        @let href = link(p, |pairs| {
                            pairs.retain(|(k, v)| !(k == key && (key != "label" || v.starts_with(&format!("{TEAM_LABEL}:")))));
                            if !on { pairs.push((key.to_owned(), param.clone())); }
                        });
                        li {
                            a href=(href) aria-current=[on.then_some("true")] {
                                span { (value) }
                                span.count { (count) }
                            }
                        }
                    }
                }
            }
        }
    }
}

fn results(p: &Params, page: Option<&IndexPage>, syntax: Option<&str>) -> Markup {
    let words: Vec<String> = nestor_words(&p.q);
    html! {
        @if let Some(message) = syntax {
            p.notice role="alert" { "This search cannot be read: " (message) }
        }
        @if let Some(page) = page {
            div.toolbar {
                span.muted {
                    (page.total) @if page.total == 1 { " component" } @else { " components" }
                    @if !p.filters.is_empty() {
                        " · " a href=(link(p, |pairs| pairs.retain(|(k, _)| k == "q" || k == "sort"))) { "clear filters" }
                    }
                }
                form.row method="get" action="/" {
                    @if !p.q.trim().is_empty() { input type="hidden" name="q" value=(p.q); }
                    @for (k, v) in &p.filters { input type="hidden" name=(k) value=(v); }
                    label for="sort" { "Sort" }
                    select #sort name="sort" {
                        @for (value, label) in [("", "Default"), ("relevance", "Best match"), ("name", "Name"), ("-published_at", "Newest"), ("published_at", "Oldest")] {
                            @if p.sort.as_deref().unwrap_or("") == value {
                                option value=(value) selected { (label) }
                            } @else {
                                option value=(value) { (label) }
                            }
                        }
                    }
                    button type="submit" { "Apply" }
                }
            }
            @if page.hits.is_empty() {
                div.panel {
                    p { "Nothing matches." }
                    p.muted.small { "Try fewer words, or remove a filter. The last word matches as a prefix; words of five letters or more forgive one typo." }
                }
            }
            ol.results {
                @for hit in &page.hits { (result(hit, &words)) }
            }
            nav.pager aria-label="Pages" {
                @if p.cursor.is_some() {
                    a.button href=(link(p, |_| {})) { "First page" }
                }
                @if let Some(next) = &page.next_cursor {
                    a.button href=(format!("{}&{}", link(p, |_| {}), query_string([("cursor", next.as_str())]))) rel="next" { "Next page" }
                }
            }
        }
    }
}

/// The query's words, for highlighting (field prefixes and quotes dropped).
fn nestor_words(q: &str) -> Vec<String> {
    q.split_whitespace()
        .map(|w| w.rsplit_once(':').map_or(w, |(_, w)| w))
        .flat_map(|w| {
            w.split(|c: char| !c.is_alphanumeric())
                .filter(|t| !t.is_empty())
                .map(str::to_lowercase)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// `text` with the words that start with a query word marked.
pub(crate) fn highlight(text: &str, words: &[String]) -> Markup {
    let mut parts: Vec<(bool, &str)> = Vec::new();
    let mut start = 0;
    let mut in_word = false;
    for (i, c) in text.char_indices() {
        let alnum = c.is_alphanumeric();
        if alnum != in_word {
            if i > start {
                parts.push((in_word, &text[start..i]));
            }
            start = i;
            in_word = alnum;
        }
    }
    if start < text.len() {
        parts.push((in_word, &text[start..]));
    }
    html! {
        @for (is_word, part) in parts {
            @if is_word && words.iter().any(|w| part.to_lowercase().starts_with(w.as_str())) {
                mark { (part) }
            } @else {
                (part)
            }
        }
    }
}

/// The badges of a version: deprecated, yanked, pre-release, maturity, support.
pub(crate) fn badges(c: &Component) -> Markup {
    let pre = c.semver().is_ok_and(|v| !v.pre.is_empty());
    html! {
        @if c.yanked { span.badge.bad { "yanked" } " " }
        @if c.deprecated.is_some() { span.badge.warn { "deprecated" } " " }
        @if pre { span.badge.info { "pre-release" } " " }
        @match c.spec.maturity {
            nestor_model::Maturity::Stable => span.badge.ok { "stable" },
            nestor_model::Maturity::Deprecated => span.badge.warn { "maturity: deprecated" },
            m => span.badge { (m.as_str()) },
        }
        " "
        @if c.spec.support_level == nestor_model::SupportLevel::Supported {
            span.badge.info { "supported" }
        }
    }
}

fn result(hit: &Hit, words: &[String]) -> Markup {
    let c = &hit.component;
    let s = &c.spec;
    html! {
        li {
            div.row {
                a.title href=(format!("/components/{}", s.name)) { (highlight(&s.name, words)) }
                span.mono.muted { (s.version) }
                (badges(c))
            }
            @if !s.description.is_empty() {
                p { (highlight(&s.description, words)) }
            }
            div.row.small.muted {
                span { (s.provider) " · " (s.category) }
                @if !s.resource_type.is_empty() { span.mono { (s.resource_type) } }
                @if !s.deployment_engines.is_empty() { span { "engines: " (s.deployment_engines.join(", ")) } }
                @for (k, v) in &s.labels {
                    span.label { (k) ": " (highlight(v, words)) }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highlights_whole_words_by_prefix_and_escapes_the_rest() {
        let out = highlight("Managed <PostgreSQL> db", &["postgres".into()]).into_string();
        assert_eq!(out, "Managed &lt;<mark>PostgreSQL</mark>&gt; db");
    }

    #[test]
    fn query_words_lose_field_prefixes_and_quotes() {
        assert_eq!(
            nestor_words("name:vpc \"Private Subnets\""),
            ["vpc", "private", "subnets"]
        );
    }
}
