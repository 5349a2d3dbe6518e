//! `/components/{name}[/{version}]`: one component, everything the catalog knows of it; and
//! `/components/{name}/diff`: compare two versions.

use std::sync::Arc;
use std::time::Duration;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::Response,
};
use maud::{Markup, html};
use nestor_catalog::DependentsQuery;
use nestor_engines::EngineRegistry;
use nestor_model::{Bump, Component, Input, VersionList};

use super::home::badges;
use super::{Page, Section, error_page, query_string, when};
use crate::{app::AppState, error::ApiError};

#[derive(serde::Deserialize)]
pub(crate) struct ComponentQuery {
    /// A proposed version: the blast radius among dependents.
    target: Option<String>,
}

/// The latest version's page (or the newest, when none qualifies as latest).
pub(crate) async fn latest(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<ComponentQuery>,
) -> Response {
    render(&state, &name, None, q.target).await
}

/// One version's page.
pub(crate) async fn version(
    State(state): State<Arc<AppState>>,
    Path((name, version)): Path<(String, String)>,
    Query(q): Query<ComponentQuery>,
) -> Response {
    render(&state, &name, Some(version), q.target).await
}

async fn render(
    state: &AppState,
    name: &str,
    version: Option<String>,
    target: Option<String>,
) -> Response {
    match component_page(state, name, version, target).await {
        Ok(page) => page.render(StatusCode::OK),
        Err(e) => error_page(e),
    }
}

fn bump_class(b: Bump) -> &'static str {
    match b {
        Bump::Major => "major",
        Bump::Minor => "minor",
        _ => "patch",
    }
}

/// A link to a git host's view of a file, for the hosts whose URL layout is known.
fn provenance_link(c: &Component) -> Option<String> {
    let (repo, commit, path) = (
        c.spec.git_repository.as_deref()?,
        c.spec.git_commit.as_deref()?,
        c.spec.git_path.as_deref()?,
    );
    let base = repo.trim_end_matches('/').trim_end_matches(".git");
    let web = base.starts_with("https://github.com/")
        || base.starts_with("https://gitlab.com/")
        || base.starts_with("https://bitbucket.org/");
    if !web {
        return None;
    }
    let sep = if base.starts_with("https://gitlab.com/") {
        "/-/blob/"
    } else if base.starts_with("https://bitbucket.org/") {
        "/src/"
    } else {
        "/blob/"
    };
    Some(format!("{base}{sep}{commit}/{path}"))
}

fn value_text(v: &serde_json::Value) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

fn inputs_table(caption: &str, inputs: &[Input], optional: bool) -> Markup {
    html! {
        @if !inputs.is_empty() {
            h3 { (caption) }
            div.table-wrap tabindex="0" {
                table {
                    thead { tr {
                        th scope="col" { "Name" } th scope="col" { "Type" }
                        @if optional { th scope="col" { "Default" } }
                        th scope="col" { "Allowed values" } th scope="col" { "Description" }
                    } }
                    tbody {
                        @for i in inputs {
                            tr {
                                td.mono { (i.name) }
                                td.mono { (i.value_type.to_string()) }
                                @if optional { td.mono { @if let Some(d) = &i.default { (value_text(d)) } } }
                                td.mono { @if let Some(a) = &i.allowed_values { (a.iter().map(value_text).collect::<Vec<_>>().join(", ")) } }
                                td { (i.description) }
                            }
                        }
                    }
                }
            }
        }
    }
}

async fn component_page(
    state: &AppState,
    name: &str,
    version: Option<String>,
    target: Option<String>,
) -> Result<Page, ApiError> {
    crate::routes::components::check_name(name)?;
    let versions: VersionList = state.catalog.versions(name).await?;
    let c: Component = match &version {
        Some(v) => state.catalog.version(name, v).await?,
        None => match state.catalog.latest(name, false).await {
            Ok(c) => c,
            Err(_) => versions.items.first().cloned().ok_or_else(|| {
                ApiError::from(nestor_catalog::CatalogError::ComponentNotFound {
                    name: name.to_owned(),
                })
            })?,
        },
    };
    let s = &c.spec;
    let deps = state.catalog.dependencies(name, &s.version).await?;
    let target = target.filter(|t| !t.trim().is_empty());
    let dependents = state
        .catalog
        .dependents(
            name,
            &DependentsQuery {
                version: target.clone(),
                limit: 100,
                ..Default::default()
            },
            None,
            Duration::ZERO,
        )
        .await?;
    let engines = state
        .config
        .engines
        .as_ref()
        .map(|r| r.list())
        .unwrap_or_default();
    let major_minor = c
        .semver()
        .map(|v| format!("^{}.{}", v.major, v.minor))
        .unwrap_or_else(|_| format!("={}", s.version));
    let dep_snippet = format!(
        "dependencies:\n  - name: {}\n    version_req: \"{major_minor}\"",
        s.name
    );
    let client_snippet = format!(
        "let client = nestor_client::Client::new(\"https://nestor.example.com\")?;\nlet {} = client.resolve(\"{}\", \"{major_minor}\").await?;",
        s.name.replace('-', "_"),
        s.name
    );
    // The timeline: each version with the bump over the one before it.
    let ordered: Vec<&Component> = versions.items.iter().rev().collect();
    let mut timeline: Vec<(&Component, Option<Bump>)> = Vec::new();
    for (i, v) in ordered.iter().enumerate() {
        let bump = match (i.checked_sub(1).map(|j| ordered[j]), v.semver()) {
            (Some(prev), Ok(cur)) => prev
                .semver()
                .ok()
                .map(|p| nestor_validation::actual_bump(&p, &cur)),
            _ => None,
        };
        timeline.push((v, bump));
    }
    timeline.reverse();
    let older = versions
        .items
        .iter()
        .find(|v| v.semver().ok() < c.semver().ok())
        .map(|v| v.spec.version.clone());
    let body = html! {
        div.panel {
            div.row {
                h1 { (s.name) }
                span.mono.muted { (s.version) }
                (badges(&c))
            }
            @if !s.description.is_empty() { p { (s.description) } }
            @if let Some(d) = &c.deprecated {
                p.notice role="note" { strong { "Deprecated: " } (d.message) }
            }
            div.row.small {
                @if let Some(from) = &older {
                    a href=(format!("/components/{}/diff?{}", s.name, query_string([("from", from.as_str()), ("to", s.version.as_str())]))) { "Compare with " (from) }
                }
                a href=(format!("/api/v1/components/{}/versions/{}", s.name, s.version)) { "JSON" }
            }
        }
        div.grid2 {
            div {
                section.panel aria-labelledby="interface" {
                    h2 #interface { "Interface" }
                    (inputs_table("Required inputs", &s.required_inputs, false))
                    (inputs_table("Optional inputs", &s.optional_inputs, true))
                    @if !s.outputs.is_empty() {
                        h3 { "Outputs" }
                        div.table-wrap tabindex="0" { table {
                            thead { tr { th scope="col" { "Name" } th scope="col" { "Type" } th scope="col" { "Description" } } }
                            tbody { @for o in &s.outputs { tr { td.mono { (o.name) } td.mono { (o.value_type.to_string()) } td { (o.description) } } } }
                        } }
                    }
                    @if s.required_inputs.is_empty() && s.optional_inputs.is_empty() && s.outputs.is_empty() {
                        p.muted { "No inputs or outputs." }
                    }
                }
                section.panel aria-labelledby="dependencies" {
                    h2 #dependencies { "Dependencies" }
                    @if deps.items.is_empty() { p.muted { "None." } }
                    @else {
                        div.table-wrap tabindex="0" { table {
                            thead { tr { th scope="col" { "Component" } th scope="col" { "Requirement" } th scope="col" { "Resolves to" } } }
                            tbody { @for d in &deps.items { tr {
                                td { a href=(format!("/components/{}", d.name)) { (d.name) } }
                                td.mono { (d.version_req) }
                                td { @match &d.resolved {
                                    Some(r) => a href=(format!("/components/{}/{}", r.spec.name, r.spec.version)) { (r.spec.version) },
                                    None => span.badge.bad { "nothing matches" },
                                } }
                            } } }
                        } }
                    }
                }
                section.panel aria-labelledby="dependents" {
                    h2 #dependents { "Dependents" }
                    form.row method="get" action=(format!("/components/{}/{}", s.name, s.version)) {
                        label for="target" { "Blast radius of publishing version" }
                        input #target name="target" value=(target.clone().unwrap_or_default()) placeholder="e.g. 2.0.0" size="12";
                        button type="submit" { "Show" }
                    }
                    @if let Some((admits, must_change)) = dependents.blast_radius {
                        p role="status" {
                            strong { (must_change) } " of " (admits + must_change) " direct dependents would have to change their requirement to use "
                            span.mono { (target.clone().unwrap_or_default()) } "."
                        }
                    }
                    @if dependents.items.is_empty() { p.muted { "Nothing depends on it." } }
                    @else {
                        p.muted.small { (dependents.total) " direct dependents" }
                        div.table-wrap tabindex="0" { table {
                            thead { tr {
                                th scope="col" { "Component" } th scope="col" { "Version" } th scope="col" { "Requirement" }
                                @if dependents.blast_radius.is_some() { th scope="col" { "Admits" } }
                            } }
                            tbody { @for d in &dependents.items { tr {
                                td { a href=(format!("/components/{}", d.component.spec.name)) { (d.component.spec.name) } }
                                td.mono { (d.component.spec.version) }
                                td.mono { (d.version_req) }
                                @if let Some(a) = d.admits { td { @if a { span.badge.ok { "yes" } } @else { span.badge.bad { "must change" } } } }
                            } } }
                        } }
                    }
                }
                section.panel aria-labelledby="usage" {
                    h2 #usage { "Use it" }
                    h3 { "As a dependency of another definition" }
                    button.copy type="button" data-for="snippet-dep" hidden { "Copy" }
                    pre #snippet-dep tabindex="0" { (dep_snippet) }
                    h3 { "From a processor, with nestor-client" }
                    button.copy type="button" data-for="snippet-client" hidden { "Copy" }
                    pre #snippet-client tabindex="0" { (client_snippet) }
                }
            }
            div {
                section.panel aria-labelledby="facts" {
                    h2 #facts { "About" }
                    dl.facts {
                        dt { "Provider" } dd { (s.provider) }
                        dt { "Category" } dd { (s.category) }
                        dt { "Resource type" } dd.mono { (s.resource_type) }
                        dt { "Maturity" } dd { (s.maturity.as_str()) }
                        dt { "Support" } dd { (s.support_level.as_str()) }
                        dt { "Published" } dd { (when(c.published_at)) }
                        dt { "Revision" } dd { (c.revision.0) }
                        dt { "Content hash" } dd.mono.small { (c.content_hash) }
                    }
                    h3 { "Engines" }
                    ul {
                        @for e in &s.deployment_engines {
                            li {
                                (e) " "
                                @match engines.iter().find(|st| &st.name == e) {
                                    Some(st) => @if st.usable { span.badge.ok { (wire(&st.health)) } } @else { span.badge.bad { (wire(&st.health)) } },
                                    None => span.badge { "not registered" },
                                }
                            }
                        }
                    }
                }
                @if s.git_repository.is_some() {
                    section.panel aria-labelledby="provenance" {
                        h2 #provenance { "Provenance" }
                        dl.facts {
                            dt { "Repository" } dd.small { (s.git_repository.clone().unwrap_or_default()) }
                            @if let Some(commit) = &s.git_commit { dt { "Commit" } dd.mono.small { (commit) } }
                            @if let Some(path) = &s.git_path { dt { "Path" } dd.mono.small {
                                @match provenance_link(&c) { Some(url) => a href=(url) rel="noopener noreferrer" { (path) }, None => (path) }
                            } }
                        }
                    }
                }
                @if !s.labels.is_empty() || !s.annotations.is_empty() {
                    section.panel aria-labelledby="labels" {
                        h2 #labels { "Labels and annotations" }
                        div.row { @for (k, v) in &s.labels { a.label href=(format!("/?{}", query_string([("label", format!("{k}:{v}").as_str())]))) { (k) ": " (v) } } }
                        @if !s.annotations.is_empty() {
                            dl.facts.small { @for (k, v) in &s.annotations { dt { (k) } dd { (v) } } }
                        }
                    }
                }
                section.panel aria-labelledby="history" {
                    h2 #history { "Versions" }
                    ol.timeline {
                        @for (v, bump) in &timeline {
                            li class=[v.yanked.then_some("yanked")] {
                                a href=(format!("/components/{}/{}", v.spec.name, v.spec.version)) { (v.spec.version) }
                                " "
                                @if let Some(b) = bump { span class=(format!("badge {}", match b { Bump::Major => "bad", Bump::Minor => "warn", _ => "ok" })) { (b.as_str()) } " " }
                                @if v.deprecated.is_some() { span.badge.warn { "deprecated" } " " }
                                @if v.yanked { span.badge.bad { "yanked" } " " }
                                br;
                                span.small.muted { (when(v.published_at)) }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(Page {
        title: format!("{} {}", s.name, s.version),
        section: Section::Catalog,
        live: Some(s.name.clone()),
        kind: "component",
        revision: Some(versions.revision.0.max(c.revision.0)),
        body,
    })
}

/// A value's wire name (`healthy`, `failed`, …).
pub(crate) fn wire<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

#[derive(serde::Deserialize)]
pub(crate) struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

/// Compare two versions: every classified change with its rule, bump, before and after.
pub(crate) async fn diff(
    State(state): State<Arc<AppState>>,
    Path(name): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Response {
    match diff_page(&state, &name, q).await {
        Ok(page) => page.render(StatusCode::OK),
        Err(e) => error_page(e),
    }
}

async fn diff_page(state: &AppState, name: &str, q: DiffQuery) -> Result<Page, ApiError> {
    crate::routes::components::check_name(name)?;
    let versions = state.catalog.versions(name).await?;
    let newest = versions
        .items
        .first()
        .map(|c| c.spec.version.clone())
        .unwrap_or_default();
    let second = versions
        .items
        .get(1)
        .map_or(newest.clone(), |c| c.spec.version.clone());
    let from = q.from.filter(|v| !v.is_empty()).unwrap_or(second);
    let to = q.to.filter(|v| !v.is_empty()).unwrap_or(newest);
    let d = state.catalog.diff(name, &from, &to).await?;
    let select = |id: &str, chosen: &str| {
        html! {
            select #(id) name=(id) {
                @for v in &versions.items {
                    @if v.spec.version == chosen { option selected { (v.spec.version) } }
                    @else { option { (v.spec.version) } }
                }
            }
        }
    };
    let body = html! {
        div.panel {
            h1 { "Compare " a href=(format!("/components/{name}")) { (name) } }
            form.row method="get" {
                label for="from" { "From" } (select("from", &from))
                label for="to" { "to" } (select("to", &to))
                button.primary type="submit" { "Compare" }
            }
            p {
                "The changes need a " strong { (d.required_bump.as_str()) } " bump; "
                (d.from) " → " (d.to) " is a " strong { (d.actual_bump.as_str()) } " bump."
                @if d.required_bump > d.actual_bump { " " span.badge.bad { "breaking change in a " (d.actual_bump.as_str()) " release" } }
            }
        }
        div.panel {
            @if d.changes.is_empty() { p.muted { "No differences." } }
            @else {
                div.table-wrap tabindex="0" { table {
                    thead { tr { th scope="col" { "Bump" } th scope="col" { "Rule" } th scope="col" { "Where" } th scope="col" { "Change" } th scope="col" { "Before" } th scope="col" { "After" } } }
                    tbody {
                        @for c in &d.changes {
                            tr class=(bump_class(c.bump)) {
                                td { span class=(format!("badge {}", match c.bump { Bump::Major => "bad", Bump::Minor => "warn", _ => "ok" })) { (c.bump.as_str()) } }
                                td.mono.small { (c.rule) }
                                td.mono.small { (c.path) }
                                td { (c.message) }
                                td.mono.small { @if let Some(b) = &c.before { (value_text(b)) } }
                                td.mono.small { @if let Some(a) = &c.after { (value_text(a)) } }
                            }
                        }
                    }
                } }
            }
        }
    };
    Ok(Page {
        title: format!("{name}: {from} → {to}"),
        section: Section::Catalog,
        live: None,
        kind: "diff",
        revision: Some(versions.revision.0),
        body,
    })
}
