//! The pages' language: the user's for pages about their link, else the browser's
//! `Accept-Language` (q-values honoured, with fallbacks), else the default; `<html lang>`, the
//! words and the reasons for a refused input follow it.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use super::form::form_html;
use super::{Harness, csrf_in, post, text};
use crate::store::testing::{Backend, on_both_backends};

on_both_backends!(
    async
    a_page_without_a_token_follows_accept_language,
    the_users_language_comes_before_the_browsers,
    a_refused_password_is_explained_in_the_users_language,
);

/// A GET of `uri` with `Accept-Language: accept`.
fn get_in(uri: &str, accept: &str) -> Request<Body> {
    Request::get(uri)
        .header("accept-language", accept)
        .body(Body::empty())
        .expect("request")
}

/// The `lang` of an HTML page.
fn lang_of(html: &str) -> &str {
    let start = html.find("<html lang=\"").expect("<html lang>") + "<html lang=\"".len();
    &html[start..start + html[start..].find('"').expect("closing quote")]
}

async fn a_page_without_a_token_follows_accept_language(backend: Backend) {
    let h = Harness::new(backend);
    for (accept, lang, words) in [
        (
            "pl-PL,pl;q=0.9,en;q=0.8",
            "pl",
            "Wpisz kod resetowania hasła",
        ),
        (
            "en;q=0.5, id-ID;q=0.9",
            "id",
            "Masukkan kode pengaturan ulang",
        ),
        ("fr-CA, de;q=0.7", "en", "Enter your reset code"),
        ("pl;q=0, en", "en", "Enter your reset code"),
    ] {
        let html = text(h.send(get_in("/reset-password/code", accept)).await).await;
        assert_eq!(lang_of(&html), lang, "{accept}");
        assert!(html.contains(words), "{accept}: {html}");
    }
    let response = h.send(get_in("/reset-password/nowhere", "id")).await;
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let html = text(response).await;
    assert!(html.contains("Halaman tidak ditemukan"), "{html}");
    let html = text(h.send(get_in("/reset-password/done", "pl")).await).await;
    assert!(
        html.contains("Resetowanie hasła"),
        "neutral without a change: {html}"
    );
}

/// The form for a new user who reads `locale`, opened by a browser asking for `accept`.
async fn form_for(h: &Harness, name: &str, locale: &str, accept: &str) -> String {
    let user = h.user_in(name, Some(locale));
    let session = h.session(&h.link(&user)).await;
    let request = Request::get("/reset-password")
        .header("cookie", format!("pwreset_session={session}"))
        .header("accept-language", accept)
        .body(Body::empty())
        .expect("request");
    text(h.send(request).await).await
}

async fn the_users_language_comes_before_the_browsers(backend: Backend) {
    let h = Harness::new(backend);
    let html = form_for(&h, "siti", "id", "pl").await;
    assert_eq!(lang_of(&html), "id");
    assert!(html.contains("Buat kata sandi baru"), "{html}");
    // A language without pages (pt-BR, pt) gives way to the browser's.
    let html = form_for(&h, "joao", "pt-BR", "pl").await;
    assert_eq!(lang_of(&html), "pl");
}

async fn a_refused_password_is_explained_in_the_users_language(backend: Backend) {
    let h = Harness::new(backend);
    let jan = h.user_in("jan", Some("pl"));
    let session = h.session(&h.link(&jan)).await;
    let html = form_html(&h, &session).await;
    assert!(html.contains("Użyj od 12 do 128 znaków."), "{html}");
    let csrf = csrf_in(&html);
    let cookie = format!("pwreset_session={session}");
    for (password, confirm, reason) in [
        (
            "short",
            "short",
            "Nowe hasło jest za krótkie: użyj co najmniej 12 znaków.",
        ),
        ("violet-harbour-tractor-41", "other", "Hasła się różnią"),
    ] {
        let fields = [
            ("password", password),
            ("confirm", confirm),
            ("csrf", &csrf),
        ];
        let response = h.send(post("/reset-password", &cookie, &fields, &[])).await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = text(response).await;
        assert!(html.contains(reason), "{html}");
        assert_eq!(lang_of(&html), "pl");
    }
}
