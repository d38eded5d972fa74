-- Schema 10 in PostgreSQL's dialect: the SQLite migration V10 (src/store/schema/sqlite.rs),
-- rules an application cannot break (TOK-4, TOK-7). Ids are identity columns, never given
-- again, and foreign keys always cascade here, so `users` is not rebuilt. Each link records its
-- user's created_at, which verifying checks; a deactivation revokes the user's outstanding
-- links, so reactivating revives none; and every trigger function runs with a fixed
-- search_path (pg_catalog, then the store's schema), so a same-named table in a schema the
-- caller put first cannot stand in for pwreset's.

ALTER TABLE reset_tokens ADD COLUMN user_created_at BIGINT;
UPDATE reset_tokens t SET user_created_at = u.created_at FROM users u WHERE u.id = t.user_id;

CREATE FUNCTION users_deactivation_revokes_links() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE reset_tokens
       SET revoked_at = CASE WHEN NEW.updated_at IS DISTINCT FROM OLD.updated_at
                             THEN NEW.updated_at
                             ELSE CAST(floor(extract(epoch FROM now())) AS BIGINT) END,
           revoked_reason = 'user deactivated'
     WHERE user_id = NEW.id AND used_at IS NULL
       AND (revoked_at IS NULL OR revoked_reason = 'pending delivery');
    RETURN NULL;
END $$;
CREATE TRIGGER users_deactivation_revokes_links AFTER UPDATE OF active ON users
    FOR EACH ROW
    WHEN (OLD.active = 1 AND NEW.active = 0)
    EXECUTE FUNCTION users_deactivation_revokes_links();

DO $$
DECLARE
    name TEXT;
BEGIN
    FOREACH name IN ARRAY ARRAY['audit_log_refuse_change', 'audit_log_next_id',
                                'users_revoke_links', 'users_deactivation_revokes_links'] LOOP
        EXECUTE format('ALTER FUNCTION %I() SET search_path = pg_catalog, %I',
                       name, current_schema());
    END LOOP;
END $$;
