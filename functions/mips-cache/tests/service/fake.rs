//! A fake MIPS built from the protocol as the issue states it (docs/mips-cache.md), not from
//! the client's code: every matcher names the exact path, header and body MIPS expects, so a
//! request of another shape gets wiremock's 404.

use serde_json::{json, Value};
use wiremock::matchers::{body_json, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

pub const TOKEN: &str = "tok-8c1f";
pub const LOGIN: &str = "/api/v1/sso/mipadv/login";
pub const SEGMENTS: &str = "/api/coa/segments";
pub const ACCOUNTS: &str = "/api/coa/segments/accounts";
pub const BALANCES: &str = "/api/model/CBODispBal/methods/GetAccountBalances";
pub const LOGOUT: &str = "/api/security/logout";

/// The body of GetAccountBalances as the issue gives it, with FROM and TO to fill in.
const BALANCES_BODY: &str = r#"{"BOInformation": {"constructor": {}, "ModelFields": {"fields": [{"DISPBAL_DATEFROM": FROM}, {"DISPBAL_DATETO": TO}], "DISPBAL_SEGINFO": [{"fields": [{"GRID_PHY_ID": 0}, {"FILTER_SELECT": true}, {"FILTER_ORDER": -1}, {"FILTER_FIX": false}, {"FILTER_DATATYPE": 10}, {"FILTER_FIELDTYPE": 40}, {"FILTER_ITEM": "GL"}, {"FILTER_OPERATOR": "<>"}, {"FILTER_CRITERIA1": "<Blank>"}, {"FILTER_CRITERIA2": ""}]}]}}, "MethodParameters": {"strJson": "{\"level\":1}"}}"#;

pub fn balances_body(from: &str, to: &str) -> Value {
    let text = BALANCES_BODY
        .replace(": FROM}", &format!(": \"{from}\"}}"))
        .replace(": TO}", &format!(": \"{to}\"}}"));
    serde_json::from_str(&text).unwrap()
}

pub struct Mips {
    pub server: MockServer,
}

/// Segments with `Program` (id 2) and `GL` (id 3).
pub fn segments() -> Value {
    json!({"COA_SEGID": [
        {"COA_SEGID": 1, "TITLE": "Fund"},
        {"COA_SEGID": 2, "TITLE": "Program"},
        {"COA_SEGID": 3, "TITLE": "GL"}
    ]})
}

pub fn accounts() -> Value {
    json!({"COA_SEGID": [
        {"COA_SEGID": 2, "COA_CODE": "101300", "COA_STATUS": "A", "COA_TITLE": "Leadership Academy"},
        {"COA_SEGID": 2, "COA_CODE": "200100", "COA_STATUS": "A", "COA_TITLE": "Residency (NYC)"},
        {"COA_SEGID": 1, "COA_CODE": "300300", "COA_STATUS": "A", "COA_TITLE": "A fund"},
        {"COA_SEGID": 3, "COA_CODE": "1000", "COA_STATUS": "A", "COA_TITLE": "Cash"},
        {"COA_SEGID": 3, "COA_CODE": "4100", "COA_STATUS": "I", "COA_TITLE": "Grants, Restricted"}
    ]})
}

/// A level-1 item of GetAccountBalances' answer.
pub fn item(account: &str, kind: i64, amount: f64, desc: &str) -> Value {
    json!({
        "DBDETAIL_SUM_SEGMENT_N0": account,
        "DBDETAIL_SUM_TYPE": kind,
        "DBDETAIL_SUM_POSTEDAMT": amount,
        "DBDETAIL_SUM_DESC": desc
    })
}

pub fn success(items: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "executionResult": "SUCCESS",
        "extraInformation": {"Level1": items}
    }))
}

impl Mips {
    pub async fn start() -> Mips {
        Mips {
            server: MockServer::start().await,
        }
    }

    pub fn uri(&self) -> String {
        self.server.uri()
    }

    /// Login with the test credentials, and logout with the token it hands out.
    pub async fn sessions(&self) {
        Mock::given(method("POST"))
            .and(path(LOGIN))
            .and(body_json(
                json!({"username": "svc", "password": "s3cret-pw", "org": "ORG1"}),
            ))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"AccessToken": TOKEN})))
            .mount(&self.server)
            .await;
        self.logout(ResponseTemplate::new(200)).await;
    }

    pub async fn logout(&self, answer: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(LOGOUT))
            .and(header("Authorization-Token", TOKEN))
            .respond_with(answer)
            .mount(&self.server)
            .await;
    }

    pub async fn get(&self, at: &str, answer: ResponseTemplate) {
        Mock::given(method("GET"))
            .and(path(at))
            .and(header("Authorization-Token", TOKEN))
            .respond_with(answer)
            .mount(&self.server)
            .await;
    }

    /// Segments and accounts as above.
    pub async fn chart(&self) {
        self.get(
            SEGMENTS,
            ResponseTemplate::new(200).set_body_json(segments()),
        )
        .await;
        self.get(
            ACCOUNTS,
            ResponseTemplate::new(200).set_body_json(accounts()),
        )
        .await;
    }

    pub async fn balances(&self, from: &str, to: &str, answer: ResponseTemplate) {
        Mock::given(method("POST"))
            .and(path(BALANCES))
            .and(header("Authorization-Token", TOKEN))
            .and(body_json(balances_body(from, to)))
            .respond_with(answer)
            .mount(&self.server)
            .await;
    }

    /// How many requests reached `at`.
    pub async fn count(&self, at: &str) -> usize {
        self.server
            .received_requests()
            .await
            .unwrap_or_default()
            .iter()
            .filter(|r| r.url.path() == at)
            .count()
    }

    /// Login and logout requests (logouts carrying the session's token).
    pub async fn logins_and_logouts(&self) -> (usize, usize) {
        let requests = self.server.received_requests().await.unwrap_or_default();
        let logins = requests.iter().filter(|r| r.url.path() == LOGIN).count();
        let logouts = requests
            .iter()
            .filter(|r| {
                r.url.path() == LOGOUT
                    && r.headers
                        .get("Authorization-Token")
                        .is_some_and(|v| v == TOKEN)
            })
            .count();
        (logins, logouts)
    }
}
