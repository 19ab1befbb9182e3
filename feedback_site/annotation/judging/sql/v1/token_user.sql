-- Version 1 of annotation_token_user, as migration 0004 created it: kept as it was.
-- Who may use an API token for a role; its Python twin is accounts.authentication.token_outcome.
CREATE OR REPLACE FUNCTION annotation_token_user(p_token varchar, p_role varchar)
RETURNS TABLE (auth text, user_id integer)
LANGUAGE plpgsql STABLE AS $$
#variable_conflict use_column
DECLARE
    v_user integer;
    v_active boolean;
    v_superuser boolean;
BEGIN
    SELECT u.id, u.is_active, u.is_superuser INTO v_user, v_active, v_superuser
    FROM authtoken_token t JOIN auth_user u ON u.id = t.user_id WHERE t.key = p_token;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'bad_token'::text, NULL::integer;
    ELSIF NOT v_active THEN
        RETURN QUERY SELECT 'inactive'::text, v_user;
    ELSIF NOT v_superuser AND NOT EXISTS (
            SELECT 1 FROM auth_user_groups m JOIN auth_group g ON g.id = m.group_id
            WHERE m.user_id = v_user AND g.name = p_role) THEN
        RETURN QUERY SELECT 'forbidden'::text, v_user;
    ELSE
        RETURN QUERY SELECT 'ok'::text, v_user;
    END IF;
END;
$$;
