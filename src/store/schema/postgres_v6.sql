-- Schema 6 (SQLite: migration V6 in src/store/migrations.rs): the store protects itself.
-- Whoever changes a user's password hash or email (pwreset, the application, an admin with
-- plain SQL), that user's outstanding links die with reason 'password changed' or
-- 'email changed': every unused, unrevoked link, and one still 'pending delivery' (pwreset
-- only makes a row live while its reason is still that one). Expiry is not looked at: the
-- writer's clock may not be the database's. revoked_at is the row's new updated_at when the
-- statement set one (the writer's clock), else the database's clock.

CREATE FUNCTION users_revoke_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reset_tokens
       SET revoked_at = CASE WHEN NEW.updated_at IS DISTINCT FROM OLD.updated_at
                             THEN NEW.updated_at
                             ELSE CAST(floor(extract(epoch FROM now())) AS BIGINT) END,
           revoked_reason = CASE WHEN NEW.password_hash IS DISTINCT FROM OLD.password_hash
                                 THEN 'password changed' ELSE 'email changed' END
     WHERE user_id = NEW.id AND used_at IS NULL
       AND (revoked_at IS NULL OR revoked_reason = 'pending delivery');
    RETURN NULL;
END $$;
CREATE TRIGGER users_revoke_links AFTER UPDATE OF password_hash, email ON users
    FOR EACH ROW
    WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash
          OR OLD.email IS DISTINCT FROM NEW.email)
    EXECUTE FUNCTION users_revoke_links();
