//! The code path: a right code opens a session, wrong ones are 422, the fifth revokes the link.

use axum::http::StatusCode;

use super::{Harness, browse, cookie, csrf_in, get_with, page_of, post, text};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    a_right_code_opens_the_form_like_the_link,
    wrong_codes_are_422_and_the_fifth_revokes_the_link,
    an_unknown_user_gets_the_same_answer_and_csrf_is_checked,
    an_unknown_login_gets_the_same_sequence_of_answers_as_a_real_user,
);

/// The form cookie and CSRF value of a fresh code form.
pub(super) async fn code_form(h: &Harness) -> (String, String) {
    let response = h.send(browse("/reset-password/code")).await;
    let form = cookie(&response, "pwreset_form").expect("a form cookie");
    let csrf = csrf_in(&text(response).await);
    (format!("pwreset_form={form}"), csrf)
}

pub(super) fn submit(
    cookie: &str,
    csrf: &str,
    login: &str,
    code: &str,
) -> axum::http::Request<axum::body::Body> {
    post(
        "/reset-password/code",
        cookie,
        &[("login", login), ("code", code), ("csrf", csrf)],
        &[],
    )
}

async fn a_right_code_opens_the_form_like_the_link(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let (form, csrf) = code_form(&h).await;
    let typed = link.code.to_lowercase().replace('-', " ");
    let response = h
        .send(submit(&form, &csrf, "ALICE@example.com", &typed))
        .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/reset-password");
    let session = cookie(&response, "pwreset_session").expect("a session");
    let page = h
        .send(get_with(
            "/reset-password",
            &format!("pwreset_session={session}"),
        ))
        .await;
    assert_eq!(page_of(&text(page).await), "form");
    assert_eq!(
        h.state(&link.token),
        "live",
        "a code consumes nothing either"
    );
}

async fn wrong_codes_are_422_and_the_fifth_revokes_the_link(backend: Backend) {
    let h = Harness::new(backend);
    let alice = h.user("alice");
    let link = h.link(&alice);
    let (form, csrf) = code_form(&h).await;
    for _ in 0..4 {
        let response = h.send(submit(&form, &csrf, "alice", "AAAA-AAAA")).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = text(response).await;
        assert_eq!(page_of(&html), "code");
        assert!(html.contains("id=\"code-error\" role=\"alert\""));
        assert!(html.contains("value=\"alice\""), "the login is kept");
    }
    assert_eq!(h.state(&link.token), "live");
    let response = h.send(submit(&form, &csrf, "alice", "AAAA-AAAA")).await;
    assert_eq!(response.status(), StatusCode::GONE);
    let html = text(response).await;
    assert_eq!(page_of(&html), "gone");
    assert!(html.contains("too many times"));
    assert_eq!(h.state(&link.token), "revoked");
    // From another address (this one has used up its failures).
    let late = h
        .send_from("192.0.2.50:1", submit(&form, &csrf, "alice", &link.code))
        .await;
    assert_eq!(
        late.status(),
        StatusCode::GONE,
        "the right code is dead now: too many wrong codes, still"
    );
}

async fn an_unknown_user_gets_the_same_answer_and_csrf_is_checked(backend: Backend) {
    let h = Harness::new(backend);
    let (form, csrf) = code_form(&h).await;
    let response = h.send(submit(&form, &csrf, "nobody", "AAAA-AAAA")).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let response = h.send(submit(&form, "", "nobody", "AAAA-AAAA")).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let response = h
        .send(submit("pwreset_form=00ff", &csrf, "nobody", "AAAA-AAAA"))
        .await;
    assert_eq!(
        response.status(),
        StatusCode::FORBIDDEN,
        "the value is bound to the cookie"
    );
}

/// Settings where one address may fail often (the sequences below are per login).
fn lenient() -> crate::web::PageSettings {
    let mut settings = super::settings();
    settings.limits.max_failures_per_client = 1000;
    settings
}

/// The statuses and pages of seven wrong codes for `login`.
async fn seven_wrong(h: &Harness, login: &str) -> Vec<(StatusCode, String)> {
    let (form, csrf) = code_form(h).await;
    let mut answers = Vec::new();
    for _ in 0..7 {
        let response = h.send(submit(&form, &csrf, login, "AAAA-AAAA")).await;
        let status = response.status();
        answers.push((status, page_of(&text(response).await).to_string()));
    }
    answers
}

async fn an_unknown_login_gets_the_same_sequence_of_answers_as_a_real_user(backend: Backend) {
    let h = Harness::with(backend, lenient());
    let alice = h.user("alice");
    let bob = h.user("bob"); // a user without a live link
    let link = h.link(&alice);
    let real = seven_wrong(&h, "alice").await;
    let wrong = (StatusCode::UNPROCESSABLE_ENTITY, "code".to_string());
    let too_many = (StatusCode::GONE, "gone".to_string());
    let mut expected = vec![wrong; 4];
    expected.extend(vec![too_many; 3]);
    assert_eq!(real, expected, "the real user's link");
    assert_eq!(h.state(&link.token), "revoked");
    assert_eq!(seven_wrong(&h, "nobody").await, real, "an unknown login");
    assert_eq!(seven_wrong(&h, &bob.username).await, real, "no live link");
    assert_eq!(
        seven_wrong(&h, " Nobody2@Example.com ").await,
        real,
        "an unknown email"
    );
}

/// Both backends by hand: `on_both_backends!` runs on tokio's default runtime, and this test
/// needs several workers.
mod concurrent_wrong_codes_and_the_right_one_never_give_500 {
    use super::Backend;

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn sqlite() {
        super::concurrent_wrong_codes_and_the_right_one_never_give_500(Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    #[cfg_attr(
        not(pwreset_pg),
        ignore = "needs PostgreSQL: eval \"$(.ci/pg-server start)\""
    )]
    async fn postgres() {
        super::concurrent_wrong_codes_and_the_right_one_never_give_500(Backend::Postgres).await;
    }
}

async fn concurrent_wrong_codes_and_the_right_one_never_give_500(backend: Backend) {
    for _ in 0..5 {
        let h = std::sync::Arc::new(Harness::with(backend, lenient()));
        let alice = h.user("alice");
        let link = h.link(&alice);
        let (form, csrf) = code_form(&h).await;
        let mut tasks = Vec::new();
        for n in 0..9 {
            let code = if n == 4 {
                link.code.clone()
            } else {
                "AAAA-AAAA".into()
            };
            let (h, form, csrf) = (h.clone(), form.clone(), csrf.clone());
            tasks.push(tokio::spawn(async move {
                let response = h.send(submit(&form, &csrf, "alice", &code)).await;
                (code == "AAAA-AAAA", response.status())
            }));
        }
        for task in tasks {
            let (wrong, status) = task.await.expect("task");
            let allowed: &[StatusCode] = if wrong {
                &[StatusCode::UNPROCESSABLE_ENTITY, StatusCode::GONE]
            } else {
                &[
                    StatusCode::SEE_OTHER,
                    StatusCode::GONE,
                    StatusCode::UNPROCESSABLE_ENTITY,
                ]
            };
            assert!(allowed.contains(&status), "wrong: {wrong}, {status}");
        }
        assert_eq!(h.state(&link.token), "revoked", "eight wrong codes");
        let late = h.send(submit(&form, &csrf, "alice", &link.code)).await;
        assert_ne!(
            late.status(),
            StatusCode::SEE_OTHER,
            "never after the fifth wrong"
        );
    }
}
