-- Version 3 of annotation_token_assign_next (migration 0007). Changed from v2: the request's strategy draw is
-- passed on to annotation_assign_next, and the strategy it was served by is in the result.
-- Another argument and result type makes another function to PostgreSQL: v2's is dropped first.
DROP FUNCTION IF EXISTS annotation_token_assign_next(varchar, varchar, varchar, timestamptz, boolean,
                                                     double precision, varchar);

-- The API's "next comparison" in one round trip: token (401), role (403), Datanet by slug (404), then the
-- assignment, in that order, as REST framework and the view check them elsewhere.
CREATE OR REPLACE FUNCTION annotation_token_assign_next(
    p_token varchar, p_role varchar, p_slug varchar, p_now timestamptz, p_resume boolean,
    p_gold_draw double precision, p_shown_left varchar, p_strategy_draw double precision
) RETURNS TABLE (auth text, user_id integer, datanet_id bigint, status text, live integer, assignment_id bigint,
                 comparison_id bigint, shown_left varchar, served_at timestamptz, expires_at timestamptz,
                 strategy varchar, prompt text, text_a text, text_b text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_auth text;
    v_user integer;
    v_datanet bigint;
BEGIN
    SELECT who.auth, who.user_id INTO v_auth, v_user FROM annotation_token_user(p_token, p_role) who;
    IF v_auth <> 'ok' THEN
        RETURN QUERY SELECT v_auth, v_user, NULL::bigint, NULL::text, NULL::integer, NULL::bigint, NULL::bigint,
                            NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::varchar, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    SELECT d.id INTO v_datanet FROM annotation_datanet d WHERE d.slug = p_slug;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_datanet'::text, v_user, NULL::bigint, NULL::text, NULL::integer, NULL::bigint,
                            NULL::bigint, NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::varchar, NULL::text,
                            NULL::text, NULL::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'ok'::text, v_user, v_datanet, next.*
                 FROM annotation_assign_next(v_user, v_datanet, p_now, p_resume, p_gold_draw, p_shown_left,
                                               p_strategy_draw) next;
END;
$$;
