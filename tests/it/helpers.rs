//! `spawn_app()` and friends: the real application on port 0 with a temporary database.

use redfolder_server::store::Store;
use redfolder_server::{Application, Config};
use serde_json::{Value, json};

/// A running server and a client for it. The temporary directory (database and web
/// root) lives as long as this value.
#[derive(Debug)]
pub(crate) struct TestApp {
    /// `http://127.0.0.1:PORT`
    pub(crate) address: String,
    pub(crate) port: u16,
    pub(crate) database_url: String,
    pub(crate) client: reqwest::Client,
    pub(crate) store: Store,
    /// Kept for the test's lifetime; its path shows in a failing test's `{:?}` output.
    _dir: tempfile::TempDir,
}

/// The real application with `--demo` data in a fresh SQLite file.
pub(crate) async fn spawn_app() -> TestApp {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let db_path = dir.path().join("redfolder.db");
    let url = format!("sqlite://{}", db_path.display());
    spawn_app_at(dir, url).await
}

/// The real application with `--demo` data in a fresh SQLite file, with `configure`
/// applied to its configuration (limits a test wants to reach quickly, say).
pub(crate) async fn spawn_app_with(configure: impl FnOnce(&mut Config)) -> TestApp {
    let dir = tempfile::tempdir().expect("creating a temporary directory");
    let db_path = dir.path().join("redfolder.db");
    let url = format!("sqlite://{}", db_path.display());
    spawn_app_configured(dir, url, configure).await
}

/// The real application with `--demo` data on the given database.
pub(crate) async fn spawn_app_at(dir: tempfile::TempDir, database_url: String) -> TestApp {
    spawn_app_configured(dir, database_url, |_| {}).await
}

async fn spawn_app_configured(
    dir: tempfile::TempDir,
    database_url: String,
    configure: impl FnOnce(&mut Config),
) -> TestApp {
    let web = dir.path().join("web");
    std::fs::create_dir_all(&web).unwrap();
    std::fs::write(
        web.join("index.html"),
        "<!doctype html><title>Red Folder</title>",
    )
    .unwrap();
    std::fs::write(web.join("sw.js"), "// service worker").unwrap();
    std::fs::write(web.join("app.js"), "// app").unwrap();

    let mut config = Config::new("127.0.0.1:0".parse().unwrap(), database_url.clone());
    config.demo = true;
    config.web_dir = web;
    configure(&mut config);
    let app = Application::build(config).await.unwrap_or_else(|e| {
        panic!(
            "building the application on {}: {e:#}",
            dir.path().display()
        )
    });
    let port = app.port();
    let store = app.store().clone();
    tokio::spawn(app.run_until(std::future::pending()));
    TestApp {
        address: format!("http://127.0.0.1:{port}"),
        port,
        database_url,
        client: reqwest::Client::new(),
        store,
        _dir: dir,
    }
}

/// A fresh database on the PostgreSQL server named by `REDFOLDER_TEST_POSTGRES`, or
/// `None` (after saying so) when PostgreSQL tests are off. Returns its URL and name.
pub(crate) async fn fresh_postgres_database() -> Option<(String, String)> {
    let Ok(base) = std::env::var("REDFOLDER_TEST_POSTGRES") else {
        eprintln!("REDFOLDER_TEST_POSTGRES is not set: skipping a PostgreSQL test");
        return None;
    };
    let name = format!("redfolder_test_{}", uuid::Uuid::new_v4().simple());
    let admin = sqlx::PgPool::connect(&base)
        .await
        .expect("connecting to REDFOLDER_TEST_POSTGRES");
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let (prefix, _) = base.rsplit_once('/').expect("a URL with a database name");
    Some((format!("{prefix}/{name}"), name))
}

/// The real application with `--demo` data on a fresh PostgreSQL database (and the
/// database's name), or `None` when PostgreSQL tests are off.
pub(crate) async fn spawn_postgres_app() -> Option<(TestApp, String)> {
    let (url, name) = fresh_postgres_database().await?;
    Some((spawn_app_at(tempfile::tempdir().unwrap(), url).await, name))
}

/// Drops a test database once its test has passed (a failed test leaves it to inspect).
pub(crate) async fn drop_database(name: &str) {
    let base = std::env::var("REDFOLDER_TEST_POSTGRES").unwrap();
    let admin = sqlx::PgPool::connect(&base).await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&admin)
    .await
    .unwrap();
}

/// A response as tests look at it.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {self:?}"))
    }
}

impl TestApp {
    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub(crate) fn ws_url(&self) -> String {
        format!("ws://127.0.0.1:{}/api/v1/sync", self.port)
    }

    pub(crate) async fn get(&self, path: &str, token: Option<&str>) -> Reply {
        let mut request = self.client.get(self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        reply(request).await
    }

    pub(crate) async fn post_json(&self, path: &str, body: &Value) -> Reply {
        reply(self.client.post(self.url(path)).json(body)).await
    }

    /// Any request, with an optional bearer token and JSON body.
    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Reply {
        let mut request = self.client.request(method, self.url(path));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        reply(request).await
    }

    /// Signs in with a password and returns the whole response body.
    pub(crate) async fn login_with(&self, username: &str, password: &str) -> Value {
        let reply = self.try_login(username, password).await;
        assert_eq!(reply.status, 200, "login as {username}: {reply:?}");
        reply.json()
    }

    /// Creates a user directly (as `redfolder admin create-user` does).
    pub(crate) async fn create_user(
        &self,
        username: &str,
        org_code: &str,
        roles: &[&str],
        password: &str,
    ) {
        let roles: Vec<String> = roles.iter().map(|r| (*r).to_owned()).collect();
        redfolder_server::admin::create_user(
            &self.store,
            redfolder_server::admin::Operator::Cli,
            username,
            &format!("{username} (test)"),
            org_code,
            &roles,
            Some(password.to_owned()),
        )
        .await
        .unwrap_or_else(|e| panic!("creating {username}: {e}"));
    }

    /// Creates an organisation directly (as `redfolder admin create-org` does).
    pub(crate) async fn create_org(&self, code: &str, name: &str, kind: &str) -> String {
        redfolder_server::admin::create_organisation(
            &self.store,
            redfolder_server::admin::Operator::Cli,
            code,
            name,
            kind,
        )
        .await
        .unwrap_or_else(|e| panic!("creating {code}: {e}"))
        .id
    }

    pub(crate) async fn try_login(&self, username: &str, password: &str) -> Reply {
        self.post_json(
            "/api/v1/auth/login",
            &json!({ "username": username, "password": password }),
        )
        .await
    }

    /// Signs in a demo user and returns the access token.
    pub(crate) async fn login(&self, username: &str) -> String {
        let reply = self.try_login(username, "demo").await;
        assert_eq!(reply.status, 200, "login as {username}: {reply:?}");
        reply.json()["token"].as_str().expect("a token").to_owned()
    }

    /// `cm1.demo`'s caseload.
    pub(crate) async fn caseload(&self) -> Vec<Value> {
        let token = self.login("cm1.demo").await;
        let reply = self.get("/api/v1/patients", Some(&token)).await;
        assert_eq!(reply.status, 200, "{reply:?}");
        reply.json().as_array().cloned().expect("an array")
    }

    /// Every audit event with this action, oldest first.
    pub(crate) async fn audit_of(&self, action: &str) -> Vec<redfolder_server::audit::AuditEvent> {
        self.store
            .recent_audit(100_000)
            .await
            .expect("reading the audit log")
            .into_iter()
            .filter(|r| r.event.action == action)
            .map(|r| r.event)
            .collect()
    }

    pub(crate) async fn emergency_summary(&self, nhs_number: &str, token: Option<&str>) -> Reply {
        self.get(&format!("/api/v1/emergency/summary/{nhs_number}"), token)
            .await
    }
}

async fn reply(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("sending a request");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.expect("reading a body");
    Reply {
        status,
        headers,
        body,
    }
}
