//! The authorizer's decision for every kind of bad token, and the response API Gateway reads.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use jsonwebtoken::Algorithm;
use serde_json::{json, Value};
use time::OffsetDateTime;
use upload_processor::auth::{self, AuthError, ClaimError, Claims, ContextError, Role, Verifier};

const SECRET: &[u8] = b"a-test-secret-of-reasonable-length";
const NOW: i64 = 1_750_000_000;

fn now() -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(NOW).unwrap()
}

fn verifier() -> Verifier {
    Verifier::new(SECRET, true).unwrap()
}

fn good_claims() -> Value {
    json!({
        "id": "6109d2a86e6fa01e5bf3219f",
        "role": "ADMIN",
        "mentorIds": ["6196af5e068d43dc686194f8", "12345"],
        "iat": NOW - 10,
        "exp": NOW + 3600,
        "expirationDate": "2025-06-15T16:06:40.000Z",
    })
}

fn with(claims: Value, key: &str, value: Value) -> Value {
    let mut c = claims;
    c[key] = value;
    c
}

fn without(claims: Value, key: &str) -> Value {
    let mut c = claims;
    c.as_object_mut().unwrap().remove(key);
    c
}

fn sign(claims: &Value) -> String {
    sign_with(claims, Algorithm::HS256, SECRET)
}

/// Signed here with `hmac` (RFC 7518 §3.2), not by the crate under test, and in the HMAC
/// algorithms the verifier must refuse too.
fn sign_with(claims: &Value, alg: Algorithm, secret: &[u8]) -> String {
    fn mac<M: Mac + hmac::digest::KeyInit>(secret: &[u8], input: &str) -> Vec<u8> {
        let mut m = <M as Mac>::new_from_slice(secret).unwrap();
        m.update(input.as_bytes());
        m.finalize().into_bytes().to_vec()
    }
    let header = json!({"alg": format!("{alg:?}"), "typ": "JWT"});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = match alg {
        Algorithm::HS256 => mac::<Hmac<sha2::Sha256>>(secret, &input),
        Algorithm::HS384 => mac::<Hmac<sha2::Sha384>>(secret, &input),
        Algorithm::HS512 => mac::<Hmac<sha2::Sha512>>(secret, &input),
        other => panic!("no test signer for {other:?}"),
    };
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// A token assembled by hand, for headers `jsonwebtoken` will not produce.
fn hand_built(header: &Value, claims: &Value, signature: &[u8]) -> String {
    format!(
        "{}.{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string()),
        URL_SAFE_NO_PAD.encode(signature)
    )
}

fn check(token: &str) -> Result<Claims, AuthError> {
    verifier().verify(Some(&format!("Bearer {token}")), now())
}

/// The error for `token`, after checking its message repeats neither the token nor the secret.
fn refused(token: &str) -> AuthError {
    let err = check(token).expect_err("the token should be refused");
    let msg = err.to_string();
    let secret = std::str::from_utf8(SECRET).unwrap();
    assert!(!msg.contains(secret), "{msg}");
    for part in token.split('.').filter(|p| p.len() > 3) {
        assert!(!msg.contains(part), "the message repeats the token: {msg}");
    }
    err
}

#[test]
fn a_good_token_gives_its_claims() {
    let claims = check(&sign(&good_claims())).unwrap();
    assert_eq!(claims.id, "6109d2a86e6fa01e5bf3219f");
    assert_eq!(claims.role, Role::Admin);
    assert_eq!(claims.mentor_ids, ["6196af5e068d43dc686194f8", "12345"]);
    assert!(claims.lists_mentor("12345"));
    assert!(!claims.lists_mentor("6196af5e068d43dc686194f9"));
}

#[test]
fn the_original_unit_tests_valid_payload_passes() {
    let claims = check(&sign(
        &json!({"id": "12345", "role": "ADMIN", "mentorIds": ["12345"], "exp": NOW + 1}),
    ))
    .unwrap();
    assert_eq!(claims.id, "12345");
}

#[test]
fn the_header_must_be_present_and_bearer() {
    let token = sign(&good_claims());
    let v = verifier();
    assert_eq!(v.verify(None, now()), Err(AuthError::MissingHeader));
    assert_eq!(v.verify(Some(""), now()), Err(AuthError::NotBearer));
    assert_eq!(v.verify(Some(&token), now()), Err(AuthError::NotBearer));
    assert_eq!(
        v.verify(Some(&format!("Basic {token}")), now()),
        Err(AuthError::NotBearer)
    );
    assert_eq!(
        v.verify(Some(&format!("Bearer{token}")), now()),
        Err(AuthError::NotBearer)
    );
    assert_eq!(v.verify(Some("Bearer"), now()), Err(AuthError::EmptyToken));
    assert_eq!(v.verify(Some("Bearer "), now()), Err(AuthError::EmptyToken));
    // The original split on single spaces: a double space leaves an empty token.
    assert!(matches!(
        v.verify(Some(&format!("Bearer  {token}")), now()),
        Err(AuthError::Malformed(_))
    ));
    for scheme in ["bearer", "BEARER", "bEaReR"] {
        assert!(
            v.verify(Some(&format!("{scheme} {token}")), now()).is_ok(),
            "{scheme}"
        );
    }
}

#[test]
fn garbage_is_malformed() {
    // The original's `"Bearer invalid jwt"`.
    assert!(matches!(
        verifier().verify(Some("Bearer invalid jwt"), now()),
        Err(AuthError::Malformed(_))
    ));
    for token in ["invalid", "a.b", "a.b.c.d", "!!!.e30.", "e30.e30.e30"] {
        assert!(matches!(refused(token), AuthError::Malformed(_)), "{token}");
    }
    // A payload that is JSON but not an object.
    let t = hand_built(&json!({"alg": "HS256"}), &json!([1, 2]), b"x");
    assert!(matches!(
        refused(&t),
        AuthError::Malformed(_) | AuthError::Signature
    ));
}

#[test]
fn a_wrong_signature_is_refused() {
    let other_secret = sign_with(&good_claims(), Algorithm::HS256, b"another-secret");
    assert_eq!(refused(&other_secret), AuthError::Signature);

    // A genuine signature over different claims.
    let genuine = sign(&good_claims());
    let forged = sign(&with(good_claims(), "role", json!("SUPER_ADMIN")));
    let parts: Vec<&str> = genuine.split('.').collect();
    let forged_parts: Vec<&str> = forged.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
    assert_eq!(refused(&spliced), AuthError::Signature);

    // No signature at all.
    let unsigned = format!("{}.{}.", parts[0], parts[1]);
    assert_eq!(refused(&unsigned), AuthError::Signature);
}

#[test]
fn only_hs256_is_accepted() {
    let none = hand_built(&json!({"alg": "none", "typ": "JWT"}), &good_claims(), b"");
    assert_eq!(refused(&none), AuthError::Algorithm("none".into()));
    let none_upper = hand_built(&json!({"alg": "None"}), &good_claims(), b"");
    assert_eq!(refused(&none_upper), AuthError::Algorithm("None".into()));

    let hs512 = sign_with(&good_claims(), Algorithm::HS512, SECRET);
    assert_eq!(refused(&hs512), AuthError::Algorithm("HS512".into()));
    let hs384 = sign_with(&good_claims(), Algorithm::HS384, SECRET);
    assert_eq!(refused(&hs384), AuthError::Algorithm("HS384".into()));

    // Key confusion: an RS256 header over an HMAC signature made with the shared secret.
    let signed = sign(&good_claims());
    let mac = URL_SAFE_NO_PAD
        .decode(signed.split('.').nth(2).unwrap())
        .unwrap();
    let rs256 = hand_built(&json!({"alg": "RS256", "typ": "JWT"}), &good_claims(), &mac);
    assert_eq!(refused(&rs256), AuthError::Algorithm("RS256".into()));

    let no_alg = hand_built(&json!({"typ": "JWT"}), &good_claims(), &mac);
    assert!(matches!(refused(&no_alg), AuthError::Malformed(_)));
    let odd_alg = hand_built(&json!({"alg": "HS256\"; drop"}), &good_claims(), &mac);
    assert_eq!(
        refused(&odd_alg),
        AuthError::Algorithm("<unrecognised>".into())
    );
}

#[test]
fn exp_is_checked_without_leeway() {
    let expired = sign(&with(good_claims(), "exp", json!(NOW - 1)));
    assert_eq!(
        refused(&expired),
        AuthError::Expired {
            expired_at: NOW - 1
        }
    );
    // Expired from the second `exp` on, as PyJWT has it.
    let at_now = sign(&with(good_claims(), "exp", json!(NOW)));
    assert_eq!(refused(&at_now), AuthError::Expired { expired_at: NOW });
    assert!(check(&sign(&with(good_claims(), "exp", json!(NOW + 1)))).is_ok());
    let text = sign(&with(good_claims(), "exp", json!("tomorrow")));
    assert_eq!(refused(&text), AuthError::TimeClaim("exp"));
}

#[test]
fn nbf_is_checked_without_leeway() {
    let future = sign(&with(good_claims(), "nbf", json!(NOW + 1)));
    assert_eq!(
        refused(&future),
        AuthError::NotYetValid {
            not_before: NOW + 1
        }
    );
    assert!(check(&sign(&with(good_claims(), "nbf", json!(NOW)))).is_ok());
    let text = sign(&with(good_claims(), "nbf", json!(null)));
    assert_eq!(refused(&text), AuthError::TimeClaim("nbf"));
}

#[test]
fn exp_is_required_unless_the_stage_says_otherwise() {
    let token = sign(&without(good_claims(), "exp"));
    assert_eq!(refused(&token), AuthError::MissingExpiry);
    let lenient = Verifier::new(SECRET, false).unwrap();
    let claims = lenient
        .verify(Some(&format!("Bearer {token}")), now())
        .unwrap();
    assert_eq!(claims.id, "6109d2a86e6fa01e5bf3219f");
    // Not required still means checked when present.
    let expired = sign(&with(good_claims(), "exp", json!(NOW - 5)));
    assert!(matches!(
        lenient.verify(Some(&format!("Bearer {expired}")), now()),
        Err(AuthError::Expired { .. })
    ));
}

#[test]
fn a_token_with_an_audience_is_refused() {
    for aud in [json!("mentorpal"), json!(["a", "b"]), json!("")] {
        let token = sign(&with(good_claims(), "aud", aud.clone()));
        assert_eq!(refused(&token), AuthError::Audience, "{aud}");
    }
}

#[test]
fn each_claim_is_required_and_typed() {
    let cases = [
        (without(good_claims(), "id"), ClaimError::Missing("id")),
        (without(good_claims(), "role"), ClaimError::Missing("role")),
        (
            without(good_claims(), "mentorIds"),
            ClaimError::Missing("mentorIds"),
        ),
        (
            with(good_claims(), "id", json!(123456)),
            ClaimError::WrongType {
                claim: "id",
                expected: "a string",
            },
        ),
        (
            with(good_claims(), "role", json!(["ADMIN"])),
            ClaimError::WrongType {
                claim: "role",
                expected: "a string",
            },
        ),
        (
            with(
                good_claims(),
                "mentorIds",
                json!("6196af5e068d43dc686194f8"),
            ),
            ClaimError::WrongType {
                claim: "mentorIds",
                expected: "an array",
            },
        ),
        (
            with(good_claims(), "mentorIds", json!(["12345", 67890])),
            ClaimError::MentorIdType { index: 1 },
        ),
        (
            with(good_claims(), "id", json!("1234")),
            ClaimError::IdLength(4),
        ),
        (
            with(good_claims(), "id", json!("x".repeat(61))),
            ClaimError::IdLength(61),
        ),
        (
            with(good_claims(), "mentorIds", json!(["6"])),
            ClaimError::MentorIdLength { index: 0, chars: 1 },
        ),
        (
            with(good_claims(), "mentorIds", json!(["12345", "m".repeat(61)])),
            ClaimError::MentorIdLength {
                index: 1,
                chars: 61,
            },
        ),
    ];
    for (claims, expected) in cases {
        assert_eq!(
            refused(&sign(&claims)),
            AuthError::Claims(expected.clone()),
            "{claims}"
        );
    }
    // The original unit test's payload: id and mentor id under 5 characters.
    let original = json!({"id": "123", "role": "ADMIN", "mentorIds": ["6"], "exp": NOW + 60});
    assert_eq!(
        refused(&sign(&original)),
        AuthError::Claims(ClaimError::IdLength(3))
    );
}

#[test]
fn claim_lengths_are_counted_in_characters_and_bounds_are_inclusive() {
    for id in ["12345", &"x".repeat(60), "ééééé"] {
        let claims = check(&sign(&with(good_claims(), "id", json!(id)))).unwrap();
        assert_eq!(claims.id, id);
    }
    let empty = check(&sign(&with(good_claims(), "mentorIds", json!([])))).unwrap();
    assert!(empty.mentor_ids.is_empty());
    let other_role = check(&sign(&with(good_claims(), "role", json!("USER")))).unwrap();
    assert_eq!(other_role.role, Role::Other("USER".into()));
    assert!(!other_role.role.manages_content());
}

#[test]
fn roles_follow_the_original() {
    let manages = |r: &str| Role::from(r.to_string()).manages_content();
    let every_org = |r: &str| Role::from(r.to_string()).manages_every_org();
    for r in [
        "CONTENT_MANAGER",
        "ADMIN",
        "SUPER_CONTENT_MANAGER",
        "SUPER_ADMIN",
    ] {
        assert!(manages(r), "{r}");
        assert_eq!(Role::from(r.to_string()).to_string(), r);
    }
    assert!(!manages("USER") && !manages("admin"));
    assert!(every_org("SUPER_ADMIN") && every_org("SUPER_CONTENT_MANAGER"));
    assert!(!every_org("ADMIN") && !every_org("CONTENT_MANAGER"));
}

/// A route handler's event carrying `context` as the authorizer's answer.
fn routed(context: &Value) -> Value {
    json!({
        "version": "2.0",
        "routeKey": "POST /upload/answer",
        "requestContext": {"authorizer": {"lambda": context}},
    })
}

#[test]
fn a_valid_token_is_authorized_with_an_ok_verdict_and_its_claims() {
    let claims = check(&sign(&good_claims())).unwrap();
    assert_eq!(claims.exp, Some(NOW + 3600));
    let allow = auth::response(&Ok(claims.clone()));
    assert_eq!(
        allow,
        json!({"isAuthorized": true, "context": {
            "verdict": "ok",
            "id": claims.id,
            "role": "ADMIN",
            "mentorIds": claims.mentor_ids,
            "exp": NOW + 3600,
        }})
    );
    // What a route handler reads back from `requestContext.authorizer.lambda`.
    assert_eq!(
        Claims::from_context_at(&routed(&allow["context"]), now()).unwrap(),
        claims
    );
}

#[test]
fn an_invalid_token_is_authorized_with_an_invalid_verdict_and_a_reason_code() {
    // API Gateway would answer a denial with 403; the issue wants 401, which the handler gives.
    let cases = [
        (AuthError::MissingHeader, "missing_header"),
        (AuthError::Signature, "signature"),
        (AuthError::Algorithm("none".into()), "algorithm"),
        (AuthError::Expired { expired_at: NOW }, "expired"),
        (AuthError::MissingExpiry, "missing_exp"),
        (AuthError::Claims(ClaimError::Missing("id")), "claims"),
    ];
    for (error, code) in cases {
        let answer = auth::response(&Err(error.clone()));
        assert_eq!(
            answer,
            json!({"isAuthorized": true, "context": {"verdict": "invalid", "reason": code}}),
            "{error}"
        );
        assert_eq!(
            Claims::from_context_at(&routed(&answer["context"]), now()),
            Err(ContextError::Invalid {
                reason: code.into()
            })
        );
    }
}

#[test]
fn the_context_fails_closed() {
    let claims = check(&sign(&good_claims())).unwrap();
    let ok = claims.to_context();
    let at = |event: &Value| Claims::from_context_at(event, now());

    // No authorizer at all, or not a Lambda authorizer's context.
    assert_eq!(at(&json!({"routeKey": "x"})), Err(ContextError::Missing));
    assert_eq!(
        at(&json!({"requestContext": {"authorizer": {"lambda": "x"}}})),
        Err(ContextError::Missing)
    );
    assert_eq!(
        at(&json!({"requestContext": {"authorizer": {"iam": {}}}})),
        Err(ContextError::Missing)
    );
    // Claims without a verdict (the old context shape), or an unknown verdict.
    let mut no_verdict = ok.clone();
    no_verdict.as_object_mut().unwrap().remove("verdict");
    assert_eq!(at(&routed(&no_verdict)), Err(ContextError::Verdict));
    for verdict in [json!("OK"), json!(true), json!(null), json!("allow")] {
        let mut c = ok.clone();
        c["verdict"] = verdict.clone();
        assert_eq!(at(&routed(&c)), Err(ContextError::Verdict), "{verdict}");
    }
    // An `ok` verdict with invalid claims.
    let mut bad = ok.clone();
    bad.as_object_mut().unwrap().remove("mentorIds");
    assert_eq!(
        at(&routed(&bad)),
        Err(ContextError::Claims(ClaimError::Missing("mentorIds")))
    );
    // An invalid verdict whose reason is not a short code is not repeated.
    let odd = json!({"verdict": "invalid", "reason": "Bearer eyJhbGciOi.x.y"});
    assert_eq!(
        at(&routed(&odd)),
        Err(ContextError::Invalid {
            reason: "unrecognised".into()
        })
    );
}

#[test]
fn a_cached_ok_verdict_is_refused_once_the_token_expired() {
    let claims = check(&sign(&with(good_claims(), "exp", json!(NOW + 10)))).unwrap();
    let event = routed(&auth::response(&Ok(claims))["context"]);
    let later = |s: i64| OffsetDateTime::from_unix_timestamp(NOW + s).unwrap();
    assert!(Claims::from_context_at(&event, later(9)).is_ok());
    assert_eq!(
        Claims::from_context_at(&event, later(10)),
        Err(ContextError::Expired {
            expired_at: NOW + 10
        })
    );
    // Without `exp` (a stage with JWT_EXP_REQUIRED=false) nothing expires the verdict here.
    let lenient = Verifier::new(SECRET, false).unwrap();
    let token = sign(&without(good_claims(), "exp"));
    let claims = lenient
        .verify(Some(&format!("Bearer {token}")), now())
        .unwrap();
    let context = auth::response(&Ok(claims))["context"].clone();
    assert!(context.get("exp").is_none());
    assert!(Claims::from_context_at(&routed(&context), later(1_000_000)).is_ok());
}

/// A payload 2.0 REQUEST authorizer event as API Gateway (and the local gateway) sends it.
fn event(authorization: Option<&str>) -> Value {
    let mut headers = json!({"host": "api.example.com", "user-agent": "test"});
    if let Some(a) = authorization {
        headers["authorization"] = json!(a);
    }
    json!({
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:abc/$default/POST/upload/answer",
        "identitySource": authorization.map(|a| vec![a]).unwrap_or_default(),
        "routeKey": "POST /upload/answer",
        "rawPath": "/upload/answer",
        "headers": headers,
        "requestContext": {"http": {"method": "POST", "path": "/upload/answer"}},
    })
}

#[test]
fn the_authorizer_answers_a_gateway_event() {
    let token = sign(&good_claims());
    let header = format!("Bearer {token}");
    let allowed = verifier().authorize(&event(Some(&header)), now());
    assert_eq!(allowed["isAuthorized"], json!(true));
    assert_eq!(allowed["context"]["verdict"], json!("ok"));
    assert_eq!(allowed["context"]["id"], json!("6109d2a86e6fa01e5bf3219f"));

    assert_eq!(
        verifier().authorize(&event(None), now()),
        json!({"isAuthorized": true, "context": {"verdict": "invalid", "reason": "missing_header"}})
    );
    let expired = sign(&with(good_claims(), "exp", json!(NOW - 1)));
    let invalid = verifier().authorize(&event(Some(&format!("Bearer {expired}"))), now());
    assert_eq!(
        invalid,
        json!({"isAuthorized": true, "context": {"verdict": "invalid", "reason": "expired"}})
    );
    // The answer never carries the token.
    assert!(!invalid.to_string().contains(&expired[10..]));

    // Header names are matched in any case.
    let mut e = event(None);
    e["headers"]["Authorization"] = json!(header);
    assert_eq!(auth::authorization_header(&e), Some(header.as_str()));
}

#[test]
fn the_secret_is_neither_empty_nor_printed() {
    assert_eq!(
        Verifier::new(b"", true).unwrap_err(),
        AuthError::EmptySecret
    );
    let debug = format!("{:?}", verifier());
    assert!(
        !debug.contains(std::str::from_utf8(SECRET).unwrap()),
        "{debug}"
    );
}
