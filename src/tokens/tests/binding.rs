//! A link is bound to the user it was issued for (TOK-4): a row that later names another user
//! under the same id (an id reused, a row replaced by the application) does not verify.

use super::*;

on_both_backends!(a_link_for_another_incarnation_of_the_user_id_is_not_valid);

fn a_link_for_another_incarnation_of_the_user_id_is_not_valid(backend: Backend) {
    let (mut store, alice) = setup(backend);
    let token = live(&mut store, &alice, T0, 3600);
    assert!(verify(&store, token.expose(), at(T0 + 1)).is_ok());
    // Another user under alice's id, as a replaced row would be: created at another time.
    store
        .conn()
        .execute(
            "UPDATE users SET username = 'frank', created_at = created_at + 1 WHERE id = ?1",
            &crate::vals![alice.id],
        )
        .expect("the application replaces alice");
    let err = verify(&store, token.expose(), at(T0 + 2)).expect_err("bound to alice");
    assert!(matches!(err, TokenError::Invalid), "{err}");
}
