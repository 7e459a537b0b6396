//! The dashboard: HTML pages and their JSON twins under `/api/…`, served
//! by the daemon's listener with `[dashboard] enabled` (see
//! docs/dashboard.md).
//!
//! Every request but the login page and the two static files must carry
//! the `[api]` token, as `Authorization: Bearer`, or a session cookie got
//! by typing it into the login form (HttpOnly, SameSite=Strict). A
//! session's actions (quarantine, restore, log out) must also carry its
//! CSRF token, and a request from another origin is refused. Every answer
//! forbids framing, sniffing, caching and any script or style not served
//! here. Store reads run on a blocking thread over a query-only
//! connection; quarantine and restore are done by the keeper. No raw
//! finding value is ever read, so none can be shown.

mod answer;
mod chart;
mod fleet;
mod pages;
mod request;
mod session;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crossbeam_channel::Sender;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::{Method, Request, StatusCode};
use serde::Serialize;

use self::answer::{Answer, asset, bad_request, html, not_found, redirect, secure, too_many};
use self::request::{form_value, host_allowed, parse_filter, same_origin};
use self::session::{COOKIE, Session, Sessions, cookies, csrf_matches};
use crate::http::{Checked, REPLY_TIMEOUT, Token, json, read_body, text};
use crate::nightfall::Message;
use crate::quarantine::Act;
use crate::secret::Secret;
use crate::store::{StoreError, Summary, Views};

/// The largest form body read (a login, an action).
const MAX_FORM: u64 = 4096;
/// Query-only connections to the store, at most: a slow page does not
/// hold up the others.
const READERS: usize = 3;
/// Alerts listed.
const ALERTS_SHOWN: usize = 200;

const CSS: &str = include_str!("assets/dashboard.css");
const JS: &str = include_str!("assets/dashboard.js");

/// The dashboard's state.
pub struct Dashboard {
    token: Token,
    sessions: Mutex<Sessions>,
    readers: Arc<[Mutex<Option<Views>>; READERS]>,
    db_path: PathBuf,
    keeper: Sender<Message>,
    /// The baselines' `k` and interval, to draw their bands.
    k: f64,
    interval_s: u64,
    /// Host names answered besides loopback and `localhost`.
    hosts: Vec<String>,
    /// The detectors and custom rules configured, offered by the files
    /// filter (any other name can be typed).
    detectors: Arc<Vec<String>>,
    /// Set for `dlpd fleet serve`: the pages read the fleet database.
    fleet: Option<Arc<crate::fleet::view::FleetView>>,
}

/// The overview's JSON (`GET /api/summary`).
#[derive(Debug, Serialize)]
pub struct Overview {
    #[serde(flatten)]
    pub summary: Summary,
    pub queue: Queue,
    pub problems: Vec<String>,
    pub unwatched: Option<String>,
    pub roots: Vec<String>,
    pub lag_mean_s: Option<f64>,
    pub lag_p95_s: Option<f64>,
    pub anomalies: Vec<AnomalyView>,
}

#[derive(Debug, Default, Serialize)]
pub struct Queue {
    pub queued: u64,
    pub running: u64,
    pub awaiting_results: u64,
}

#[derive(Debug, Serialize)]
pub struct AnomalyView {
    pub subject: String,
    pub count: u64,
    pub interval_s: u64,
    pub start: String,
    pub mean: f64,
    pub band: f64,
}

/// Who a request is from.
enum Caller {
    /// The bearer token: no cookie, so no CSRF to fear.
    Bearer,
    Session(String, Session),
}

impl Dashboard {
    pub fn new(
        token: &Secret,
        db_path: PathBuf,
        keeper: Sender<Message>,
        config: &crate::config::Config,
    ) -> Dashboard {
        Dashboard {
            token: Token::new(token),
            sessions: Mutex::new(Sessions::new(Duration::from_secs(
                config.dashboard.session_hours.saturating_mul(3600),
            ))),
            readers: Arc::new(std::array::from_fn(|_| Mutex::new(None))),
            db_path,
            keeper,
            k: config.baselines.k,
            interval_s: config.baselines.interval_s,
            hosts: [
                config.webhook.listen.ip().to_string(),
                reqwest::Url::parse(&config.dashboard.url)
                    .ok()
                    .and_then(|u| u.host_str().map(|h| h.trim_matches(['[', ']']).to_string()))
                    .unwrap_or_default(),
            ]
            .into_iter()
            .filter(|h| !h.is_empty())
            .collect(),
            detectors: Arc::new(
                config
                    .scanner
                    .detectors
                    .iter()
                    .map(|d| d.as_str().to_string())
                    .chain(
                        config
                            .scanner
                            .rules
                            .specs()
                            .iter()
                            .filter_map(|r| r.name.clone()),
                    )
                    .collect(),
            ),
            fleet: None,
        }
    }

    /// The fleet view: the same pages over the fleet database, answering
    /// `host` (the listen address) and `dashboard.url` besides loopback
    /// names.
    pub fn for_fleet(
        token: &Secret,
        view: crate::fleet::view::FleetView,
        host: String,
        config: &crate::config::Config,
    ) -> Dashboard {
        // No keeper: nothing is asked of one machine's daemon.
        let (keeper, _) = crossbeam_channel::bounded(0);
        let mut d = Dashboard::new(token, PathBuf::new(), keeper, config);
        // Its own address instead of the daemon's listener; dashboard.url stays.
        d.hosts[0] = host;
        d.fleet = Some(Arc::new(view));
        d
    }

    /// Whether `path` is the dashboard's.
    pub fn serves(path: &str) -> bool {
        matches!(
            path,
            "/" | "/login"
                | "/logout"
                | "/files"
                | "/alerts"
                | "/baselines"
                | "/machines"
                | "/values"
                | "/anomalies"
        ) || ["/files/", "/quarantine/", "/static/", "/api/"]
            .iter()
            .any(|p| path.starts_with(p))
    }

    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Answer {
        let answer = self.route(req).await;
        secure(answer)
    }

    async fn route(self: &Arc<Self>, req: Request<Incoming>) -> Answer {
        if !host_allowed(&req, &self.hosts) {
            return text(
                StatusCode::MISDIRECTED_REQUEST,
                "refused: this Host is not the dashboard's; reach it by its address, localhost, or dashboard.url",
            );
        }
        let path = req.uri().path().to_string();
        let method = req.method().clone();
        match (&method, path.as_str()) {
            (&Method::GET, "/static/dashboard.css") => return asset(CSS, "text/css"),
            (&Method::GET, "/static/dashboard.js") => return asset(JS, "text/javascript"),
            (&Method::GET, "/login") => return html(StatusCode::OK, pages::login(false)),
            (&Method::POST, "/login") => return self.login(req).await,
            _ => {}
        }
        let api = path.starts_with("/api/");
        let caller = match self.caller(&req).await {
            Ok(caller) => caller,
            Err(Checked::Busy) => return too_many(),
            Err(_) => None,
        };
        let Some(caller) = caller else {
            return match api {
                true => json(
                    StatusCode::UNAUTHORIZED,
                    &serde_json::json!({"error": "send Authorization: Bearer <the [api] token>, or log in at /login"}),
                ),
                false => redirect("/login"),
            };
        };
        if method == Method::POST {
            // The fleet view is read-only: only a log-out is acted on.
            if self.fleet.is_some() && path != "/logout" {
                return not_found(api);
            }
            return self.act(req, &path, caller).await;
        }
        if method != Method::GET {
            return text(StatusCode::METHOD_NOT_ALLOWED, "method not allowed");
        }
        let csrf = match &caller {
            Caller::Session(_, s) => s.csrf.clone(),
            Caller::Bearer => String::new(),
        };
        let query = req.uri().query().unwrap_or("").to_string();
        let page = path.strip_prefix("/api").unwrap_or(&path);
        if let Some(view) = &self.fleet {
            return fleet::route(view, api, page, &query, &csrf).await;
        }
        let answer = match page {
            "/" | "/summary" => self.overview().await.map(|o| match api {
                true => json(StatusCode::OK, &o),
                false => html(StatusCode::OK, pages::overview(&o, &csrf)),
            }),
            "/files" => {
                let filter = match parse_filter(&query) {
                    Ok(f) => f,
                    Err(why) => return bad_request(api, &why),
                };
                let detectors = self.detectors.clone();
                self.read(move |v| {
                    let page = v.files(&filter, SystemTime::now())?;
                    Ok(match api {
                        true => json(StatusCode::OK, &page),
                        false => html(
                            StatusCode::OK,
                            pages::files(&page, &filter, &detectors, &csrf),
                        ),
                    })
                })
                .await
            }
            "/alerts" => {
                self.read(move |v| {
                    let alerts = v.alerts(ALERTS_SHOWN)?;
                    Ok(match api {
                        true => json(StatusCode::OK, &alerts),
                        false => html(StatusCode::OK, pages::alerts(&alerts, &csrf)),
                    })
                })
                .await
            }
            "/baselines" => {
                let (k, interval_s) = (self.k, self.interval_s);
                self.read(move |v| {
                    let subjects = v.baselines(k, interval_s)?;
                    Ok(match api {
                        true => json(StatusCode::OK, &subjects),
                        false => html(StatusCode::OK, pages::baselines(&subjects, &csrf)),
                    })
                })
                .await
            }
            other => match other.strip_prefix("/files/").map(str::parse::<i64>) {
                Some(Ok(id)) => {
                    let said = form_value(&query, "said");
                    self.read(move |v| {
                        Ok(match (v.file(id)?, api) {
                            (None, _) => not_found(api),
                            (Some(d), true) => json(StatusCode::OK, &d),
                            (Some(d), false) => {
                                html(StatusCode::OK, pages::file(&d, &csrf, said.as_deref()))
                            }
                        })
                    })
                    .await
                }
                _ => Ok::<_, String>(not_found(api)),
            },
        };
        answer.unwrap_or_else(|e| {
            tracing::warn!("dashboard: cannot read the store: {e}");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the store cannot be read now; try again",
            )
        })
    }

    /// Who sent `req`: the bearer token, or (with no `Authorization`
    /// header at all) a live session's cookie. A wrong bearer token is
    /// wrong whatever cookie comes with it.
    async fn caller<B>(&self, req: &Request<B>) -> Result<Option<Caller>, Checked> {
        if let Some(bearer) = Token::bearer(req) {
            return match self.token.check(&bearer, "dashboard bearer").await {
                Checked::Right => Ok(Some(Caller::Bearer)),
                other => Err(other),
            };
        }
        let Some(header) = req
            .headers()
            .get(header::COOKIE)
            .and_then(|v| v.to_str().ok())
        else {
            return Ok(None);
        };
        let sessions = lock(&self.sessions);
        Ok(cookies(header, COOKIE).find_map(|id| {
            let session = sessions.get(id)?;
            Some(Caller::Session(id.to_string(), session))
        }))
    }

    async fn login(&self, req: Request<Incoming>) -> Answer {
        if !same_origin(&req) {
            return text(
                StatusCode::FORBIDDEN,
                "refused: the form was sent from another site",
            );
        }
        let Ok(body) = read_body(req, MAX_FORM).await else {
            return text(StatusCode::BAD_REQUEST, "the form could not be read");
        };
        let token = form_value(&String::from_utf8_lossy(&body), "token").unwrap_or_default();
        match self.token.check(token.as_bytes(), "dashboard login").await {
            Checked::Right => {}
            Checked::Wrong => return html(StatusCode::UNAUTHORIZED, pages::login(true)),
            Checked::Busy => return too_many(),
        }
        let mut sessions = lock(&self.sessions);
        let Some((id, _)) = sessions.start() else {
            return text(
                StatusCode::SERVICE_UNAVAILABLE,
                "no random numbers to make a session",
            );
        };
        let mut r = redirect("/");
        let cookie = format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
            sessions.ttl().as_secs()
        );
        if let Ok(v) = HeaderValue::from_str(&cookie) {
            r.headers_mut().insert(header::SET_COOKIE, v);
        }
        tracing::info!("dashboard: logged in");
        r
    }

    /// A POST: log out, quarantine or restore. A session must send its
    /// CSRF token (form field `csrf` or header `X-CSRF-Token`) from this
    /// origin; the bearer token needs neither.
    async fn act(&self, req: Request<Incoming>, path: &str, caller: Caller) -> Answer {
        let api = path.starts_with("/api/");
        let header_csrf = req
            .headers()
            .get("x-csrf-token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let origin_ok = same_origin(&req);
        let form = match read_body(req, MAX_FORM).await {
            Ok(b) => String::from_utf8_lossy(&b).into_owned(),
            Err(_) => return bad_request(api, "the form could not be read"),
        };
        if let Caller::Session(id, session) = &caller {
            let presented = header_csrf.or_else(|| form_value(&form, "csrf"));
            if !origin_ok || !presented.is_some_and(|t| csrf_matches(session, &t)) {
                tracing::warn!(
                    path,
                    "dashboard: an action without its CSRF token was refused"
                );
                return json(
                    StatusCode::FORBIDDEN,
                    &serde_json::json!({"error": "refused: the request did not carry this session's CSRF token"}),
                );
            }
            if path == "/logout" {
                lock(&self.sessions).end(id);
                let mut r = redirect("/login");
                r.headers_mut().insert(
                    header::SET_COOKIE,
                    HeaderValue::from_static(
                        "dlpd_session=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0",
                    ),
                );
                return r;
            }
        }
        let page = path.strip_prefix("/api").unwrap_or(path);
        let id_in = |prefix: &str, suffix: &str| {
            page.strip_prefix(prefix)?
                .strip_suffix(suffix)?
                .parse::<i64>()
                .ok()
        };
        let (act, back) = if let Some(file_id) = id_in("/files/", "/quarantine") {
            // The content the asker saw, when the form says.
            let seen = form_value(&form, "sha256").and_then(|s| s.into_bytes().try_into().ok());
            (Act::Quarantine { file_id, seen }, file_id)
        } else if let Some(id) = id_in("/quarantine/", "/restore") {
            // Restoring hands the data back: a session must type the token
            // again (a cookie may have been read by another site on this
            // host, since cookies do not keep to a port).
            if matches!(caller, Caller::Session(..)) {
                let retyped = form_value(&form, "token").unwrap_or_default();
                match self
                    .token
                    .check(retyped.as_bytes(), "dashboard restore")
                    .await
                {
                    Checked::Right => {}
                    Checked::Wrong => {
                        return text(
                            StatusCode::FORBIDDEN,
                            "a restore needs the token typed again; go back and type it",
                        );
                    }
                    Checked::Busy => return too_many(),
                }
            }
            let back = form_value(&form, "file")
                .and_then(|f| f.parse().ok())
                .unwrap_or(0);
            (Act::Restore { id }, back)
        } else {
            return not_found(api);
        };
        let (tx, rx) = tokio::sync::oneshot::channel();
        let _ = self.keeper.send(Message::Act { act, reply: tx });
        let done = match tokio::time::timeout(REPLY_TIMEOUT, rx).await {
            Ok(Ok(done)) => Some(done),
            Ok(Err(_)) => Some(Err("the daemon is stopping".into())),
            // Still queued for the keeper: it is done when its turn comes.
            Err(_) => None,
        };
        match (api, done) {
            (true, Some(Ok(said))) => json(StatusCode::OK, &serde_json::json!({"done": said})),
            (true, Some(Err(why))) => {
                json(StatusCode::CONFLICT, &serde_json::json!({"error": why}))
            }
            (true, None) => json(
                StatusCode::ACCEPTED,
                &serde_json::json!({"queued": "the daemon is busy; it is done when its turn comes"}),
            ),
            (false, said) => {
                let said = match said {
                    Some(Ok(said)) => said,
                    Some(Err(e)) => format!("not done: {e}"),
                    None => "queued: the daemon is busy; look again shortly".into(),
                };
                let to = format!("/files/{back}?said={}", pages::query_value(&said));
                redirect(&to)
            }
        }
    }

    async fn overview(&self) -> Result<Overview, String> {
        let health = crate::nightfall::ask_health(&self.keeper, false).await;
        let (summary, anomalies) = self
            .read(|v| Ok((v.summary(SystemTime::now())?, v.anomalies(10)?)))
            .await?;
        let answered = health.is_some();
        let mut h = health.unwrap_or_default();
        if !answered {
            h.problems.push(format!(
                "the daemon did not answer within {} s: it is busy or stuck",
                REPLY_TIMEOUT.as_secs()
            ));
        }
        Ok(Overview {
            summary,
            queue: Queue {
                queued: h.queue.queued,
                running: h.queue.running,
                awaiting_results: h.queue.awaiting,
            },
            problems: h.problems,
            unwatched: h.unwatched,
            roots: h
                .roots
                .iter()
                .map(|r| r.to_string_lossy().into_owned())
                .collect(),
            lag_mean_s: h.lag.map(|l| l.0),
            lag_p95_s: h.lag.map(|l| l.1).filter(|v| v.is_finite()),
            anomalies: anomalies
                .into_iter()
                .map(|a| AnomalyView {
                    start: crate::report::rfc3339(a.start()),
                    subject: a.subject,
                    count: a.count,
                    interval_s: a.interval_s,
                    mean: a.mean,
                    band: a.band,
                })
                .collect(),
        })
    }

    /// Runs `f` on a query-only connection, on a blocking thread: the
    /// first free of [`READERS`], or the first one once it is; an error
    /// says why the store could not be read.
    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Views) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, String> {
        let (readers, db_path) = (self.readers.clone(), self.db_path.clone());
        let run = tokio::task::spawn_blocking(move || {
            let mut guard = readers
                .iter()
                .find_map(|r| r.try_lock().ok())
                .unwrap_or_else(|| lock(&readers[0]));
            let views = match guard.as_mut() {
                Some(v) => v,
                None => guard.insert(Views::open(&db_path)?),
            };
            f(views)
        });
        match run.await {
            Ok(result) => result.map_err(|e| e.to_string()),
            Err(e) => Err(format!("the reader failed: {e}")),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_dashboard_path_is_claimed_and_nothing_else() {
        for p in [
            "/",
            "/files",
            "/files/3",
            "/api/summary",
            "/static/dashboard.js",
            "/login",
        ] {
            assert!(Dashboard::serves(p), "{p}");
        }
        for p in ["/ingest", "/v3/scan", "/healthz", "/metrics", "/ping"] {
            assert!(!Dashboard::serves(p), "{p}");
        }
    }
}
