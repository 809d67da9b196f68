//! An authenticated-mode server next to a test's local one, signed-in browsers (cookie and
//! CSRF token), and a cast of outsiders: the first admin, a member of another company, that
//! company's agent.

use paperclip_domain::DeploymentMode;
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use super::TestApp;

/// An authenticated server: base URL and a client with no cookie store (cookies are explicit).
pub struct Auth {
    pub base: String,
    pub http: reqwest::Client,
}

/// A signed-in browser: its cookie and CSRF token.
#[derive(Clone)]
pub struct Browser {
    pub cookie: String,
    pub csrf: String,
    pub user_id: String,
}

pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub set_cookie: Option<String>,
}

impl Auth {
    pub async fn start(
        app: &TestApp,
        tweak: impl FnOnce(&mut paperclip_server::AppConfig),
    ) -> Self {
        static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let base = app
            .replica_with(&format!("auth{n}"), |c| {
                c.deployment_mode = DeploymentMode::Authenticated;
                tweak(c);
            })
            .await;
        Self {
            base,
            http: reqwest::Client::new(),
        }
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
        cookie: Option<&str>,
        csrf: Option<&str>,
        bearer: Option<&str>,
    ) -> Answer {
        let mut req = self.http.request(method, format!("{}{}", self.base, path));
        if let Some(c) = cookie {
            req = req.header("cookie", format!("paperclip_session={c}"));
        }
        if let Some(t) = csrf {
            req = req.header("x-paperclip-csrf", t);
        }
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        let res = req.send().await.unwrap();
        let status = res.status();
        let set_cookie = res
            .headers()
            .get("set-cookie")
            .map(|v| v.to_str().unwrap().to_string());
        let text = res.text().await.unwrap();
        let body = serde_json::from_str(&text)
            .unwrap_or_else(|_| panic!("{status} non-JSON body from {path}: {text}"));
        Answer {
            status,
            body,
            set_cookie,
        }
    }

    /// As a signed-in browser (cookie + CSRF).
    pub async fn as_user(
        &self,
        b: &Browser,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let a = self
            .send(method, path, body, Some(&b.cookie), Some(&b.csrf), None)
            .await;
        (a.status, a.body)
    }

    /// With no credential.
    pub async fn anon(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let a = self.send(method, path, body, None, None, None).await;
        (a.status, a.body)
    }

    /// As a bearer token (board or agent key).
    pub async fn as_key(
        &self,
        key: &str,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let a = self.send(method, path, body, None, None, Some(key)).await;
        (a.status, a.body)
    }

    pub fn browser(a: &Answer) -> Browser {
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        let cookie = a.set_cookie.as_deref().expect("a session cookie");
        let token = cookie
            .split(';')
            .next()
            .unwrap()
            .strip_prefix("paperclip_session=")
            .unwrap()
            .to_string();
        Browser {
            cookie: token,
            csrf: a.body["csrfToken"].as_str().unwrap().to_string(),
            user_id: a.body["user"]["id"].as_str().unwrap().to_string(),
        }
    }

    pub async fn sign_up(&self, email: &str, password: &str, invite: &str) -> Browser {
        let a = self
            .send(
                Method::POST,
                "/auth/sign-up/email",
                Some(json!({"email": email, "password": password, "name": email, "inviteToken": invite})),
                None,
                None,
                None,
            )
            .await;
        Self::browser(&a)
    }

    pub async fn sign_in(&self, email: &str, password: &str) -> Answer {
        self.send(
            Method::POST,
            "/auth/sign-in/email",
            Some(json!({"email": email, "password": password})),
            None,
            None,
            None,
        )
        .await
    }
}

/// A bootstrap invite token, made as `paperclipai auth bootstrap-ceo` makes it.
pub async fn bootstrap_token(app: &TestApp) -> String {
    let mut conn = paperclip_postgres::pool::connect_direct(&app.db.url)
        .await
        .unwrap();
    let (_, token) = paperclip_store::users::members::create_invite(
        &mut conn,
        &paperclip_store::Actor::system(),
        None,
        None,
        3600,
    )
    .await
    .unwrap();
    token
}

pub async fn sql_i64(app: &TestApp, sql: &str) -> i64 {
    let mut conn = paperclip_postgres::pool::connect_direct(&app.db.url)
        .await
        .unwrap();
    sqlx::query_scalar::<_, i64>(sql)
        .persistent(false)
        .fetch_one(&mut conn)
        .await
        .unwrap()
}

pub async fn exec(app: &TestApp, sql: &str) {
    let mut conn = paperclip_postgres::pool::connect_direct(&app.db.url)
        .await
        .unwrap();
    sqlx::query(sql)
        .persistent(false)
        .execute(&mut conn)
        .await
        .unwrap();
}

/// The first admin (by the bootstrap invite), an admin board key, and a second company with a
/// member (operator) and an agent key: the outsiders of the walk.
pub struct Cast {
    pub admin: Browser,
    pub admin_key: String,
    pub member: Browser,
    pub company_b: String,
    pub agent_b_key: String,
}

pub async fn cast(app: &TestApp, srv: &Auth) -> Cast {
    let admin = srv
        .sign_up(
            "admin@example.com",
            "correct horse battery",
            &bootstrap_token(app).await,
        )
        .await;
    let (s, k) = srv
        .as_user(
            &admin,
            Method::POST,
            "/board-api-keys",
            Some(json!({"name": "setup"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{k}");
    let admin_key = k["key"].as_str().unwrap().to_string();
    let (s, b) = srv
        .as_key(
            &admin_key,
            Method::POST,
            "/companies",
            Some(json!({"name": "B Corp"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let company_b = b["id"].as_str().unwrap().to_string();
    let (s, inv) = srv
        .as_key(
            &admin_key,
            Method::POST,
            &format!("/companies/{company_b}/invites"),
            Some(json!({"humanRole": "operator"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{inv}");
    let member = srv
        .sign_up(
            "member@example.com",
            "another good password",
            inv["token"].as_str().unwrap(),
        )
        .await;
    let (_, reqs) = srv
        .as_key(
            &admin_key,
            Method::GET,
            &format!("/companies/{company_b}/join-requests"),
            None,
        )
        .await;
    let rid = reqs[0]["id"].as_str().unwrap();
    let (s, j) = srv
        .as_key(
            &admin_key,
            Method::POST,
            &format!("/companies/{company_b}/join-requests/{rid}/approve"),
            None,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{j}");
    let (s, agent) = srv
        .as_key(&admin_key, Method::POST, &format!("/companies/{company_b}/agents"), Some(json!({"name": "B agent", "adapterType": "process", "adapterConfig": {"command": "true"}})))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{agent}");
    let (s, key) = srv
        .as_key(
            &admin_key,
            Method::POST,
            &format!("/agents/{}/keys", agent["id"].as_str().unwrap()),
            Some(json!({"name": "k"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{key}");
    Cast {
        admin,
        admin_key,
        member,
        company_b,
        agent_b_key: key["key"].as_str().unwrap().to_string(),
    }
}
