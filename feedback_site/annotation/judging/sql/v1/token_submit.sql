-- Version 1 of annotation_token_submit, as migration 0004 created it: kept as it was.
CREATE OR REPLACE FUNCTION annotation_token_submit(
    p_token varchar, p_role varchar, p_assignment bigint, p_choice_if_left_a varchar, p_choice_if_left_b varchar,
    p_strength integer, p_rationale text, p_edited_reply text, p_time_spent_ms integer, p_now timestamptz,
    p_idempotency_key varchar
) RETURNS TABLE (auth text, user_id integer, status text, judgment_id bigint, comparison_id bigint,
                 datanet_id bigint, choice varchar, shown_left varchar)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_auth text;
    v_user integer;
BEGIN
    SELECT who.auth, who.user_id INTO v_auth, v_user FROM annotation_token_user(p_token, p_role) who;
    IF v_auth <> 'ok' THEN
        RETURN QUERY SELECT v_auth, v_user, NULL::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::varchar,
                            NULL::varchar;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'ok'::text, v_user, submitted.*
                 FROM annotation_submit(p_assignment, v_user, p_choice_if_left_a, p_choice_if_left_b, p_strength,
                                        p_rationale, p_edited_reply, p_time_spent_ms, p_now,
                                        p_idempotency_key) submitted;
END;
$$;
