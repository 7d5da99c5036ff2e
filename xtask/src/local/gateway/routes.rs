//! Route selection as API Gateway HTTP APIs do it: the most specific path wins (a literal segment
//! beats `{param}`, which beats `{proxy+}`, compared from the left), a route for the method beats
//! `ANY`, and `$default` catches what nothing else matched.

use std::collections::BTreeMap;

use percent_encoding::percent_decode_str;

use crate::local::wiring::Route;

#[derive(Debug)]
enum Segment {
    Literal(String),
    Param(String),
    Greedy(String),
}

#[derive(Debug)]
struct Compiled {
    /// `None` for `ANY`.
    method: Option<String>,
    /// `None` for `$default`.
    segments: Option<Vec<Segment>>,
}

/// The routes of one API, parsed once.
#[derive(Debug)]
pub struct RouteTable {
    routes: Vec<(Route, Compiled)>,
}

/// The route a request selected and the path parameters it bound.
#[derive(Debug)]
pub struct Selected<'a> {
    pub route: &'a Route,
    pub path_parameters: BTreeMap<String, String>,
}

impl RouteTable {
    pub fn new(routes: &[Route]) -> RouteTable {
        RouteTable {
            routes: routes
                .iter()
                .filter_map(|r| Some((r.clone(), compile(&r.key)?)))
                .collect(),
        }
    }

    pub fn select(&self, method: &str, raw_path: &str) -> Option<Selected<'_>> {
        let request = split(raw_path);
        let mut best: Option<(Vec<u8>, bool, Selected<'_>)> = None;
        for (route, c) in &self.routes {
            let Some(segments) = &c.segments else {
                continue;
            };
            if c.method.as_deref().is_some_and(|m| m != method) {
                continue;
            }
            let Some((rank, path_parameters)) = bind(segments, &request) else {
                continue;
            };
            let any = c.method.is_none();
            let better = match &best {
                None => true,
                Some((best_rank, best_any, _)) => (&rank, any) < (best_rank, *best_any),
            };
            if better {
                let selected = Selected {
                    route,
                    path_parameters,
                };
                best = Some((rank, any, selected));
            }
        }
        if let Some((_, _, selected)) = best {
            return Some(selected);
        }
        self.routes
            .iter()
            .find(|(_, c)| c.segments.is_none())
            .map(|(route, _)| Selected {
                route,
                path_parameters: BTreeMap::new(),
            })
    }
}

fn compile(key: &str) -> Option<Compiled> {
    if key == "$default" {
        return Some(Compiled {
            method: None,
            segments: None,
        });
    }
    let (method, path) = key.split_once(' ')?;
    let segments = split(path)
        .into_iter()
        .map(
            |s| match s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(name) => match name.strip_suffix('+') {
                    Some(greedy) => Segment::Greedy(greedy.to_string()),
                    None => Segment::Param(name.to_string()),
                },
                None => Segment::Literal(s.to_string()),
            },
        )
        .collect();
    Some(Compiled {
        method: (method != "ANY").then(|| method.to_string()),
        segments: Some(segments),
    })
}

/// `/` has no segments; a trailing slash leaves an empty last segment, which only a literal empty
/// segment would match, so `/accounts/` does not select `GET /accounts`.
fn split(path: &str) -> Vec<&str> {
    let path = path.strip_prefix('/').unwrap_or(path);
    if path.is_empty() {
        Vec::new()
    } else {
        path.split('/').collect()
    }
}

fn decode(s: &str) -> String {
    percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// The rank of a match is the kind of route segment that covers each request segment (0 literal,
/// 1 parameter, 2 greedy): compared left to right, the smaller is the more specific route.
fn bind(route: &[Segment], request: &[&str]) -> Option<(Vec<u8>, BTreeMap<String, String>)> {
    let mut rank = Vec::with_capacity(request.len());
    let mut params = BTreeMap::new();
    for (i, segment) in route.iter().enumerate() {
        match segment {
            Segment::Greedy(name) => {
                let rest = request.get(i..).filter(|r| !r.is_empty())?;
                if rest.iter().all(|s| s.is_empty()) {
                    return None;
                }
                params.insert(name.clone(), decode(&rest.join("/")));
                rank.resize(request.len(), 2);
                return Some((rank, params));
            }
            Segment::Literal(literal) => {
                if decode(request.get(i)?) != *literal {
                    return None;
                }
                rank.push(0);
            }
            Segment::Param(name) => {
                let value = request.get(i).filter(|v| !v.is_empty())?;
                params.insert(name.clone(), decode(value));
                rank.push(1);
            }
        }
    }
    (route.len() == request.len()).then_some((rank, params))
}
