-- Version 1 of annotation_submit, as migration 0003 created it: kept as it was.
-- Records a judgment; its Python twin is judging.orm.judgment_submit.
CREATE OR REPLACE FUNCTION annotation_submit(
    p_assignment bigint, p_annotator integer, p_choice_if_left_a varchar, p_choice_if_left_b varchar,
    p_strength integer, p_rationale text, p_edited_reply text, p_time_spent_ms integer,
    p_now timestamptz, p_idempotency_key varchar
) RETURNS TABLE (status text, judgment_id bigint, comparison_id bigint, datanet_id bigint, choice varchar,
                 shown_left varchar)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_comparison bigint;
    v_shown_left varchar;
    v_submitted timestamptz;
    v_expires timestamptz;
    v_judged integer;
    v_datanet bigint;
    v_overlap integer;
    v_choice varchar;
    v_new bigint;
BEGIN
    -- Locks the assignment and its comparison in one statement, in the same order as the ORM path.
    SELECT a.comparison_id, a.shown_left, a.submitted_at, a.expires_at, c.judgment_count, c.datanet_id, d.overlap
    INTO v_comparison, v_shown_left, v_submitted, v_expires, v_judged, v_datanet, v_overlap
    FROM annotation_assignment a
    JOIN annotation_comparison c ON c.id = a.comparison_id
    JOIN annotation_datanet d ON d.id = c.datanet_id
    WHERE a.id = p_assignment AND a.annotator_id = p_annotator
    FOR UPDATE OF a, c;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'not_assigned'::text, NULL::bigint, NULL::bigint, NULL::bigint, NULL::varchar, NULL::varchar;
        RETURN;
    END IF;
    IF v_submitted IS NOT NULL THEN
        status := 'already_submitted';
    ELSIF v_expires <= p_now THEN
        status := 'expired';
    ELSIF v_judged >= v_overlap THEN
        status := 'full';
    END IF;
    IF status IS NOT NULL THEN
        RETURN QUERY SELECT status, NULL::bigint, v_comparison, v_datanet, NULL::varchar, v_shown_left;
        RETURN;
    END IF;
    v_choice := CASE WHEN v_shown_left = 'a' THEN p_choice_if_left_a ELSE p_choice_if_left_b END;
    INSERT INTO annotation_judgment
        (assignment_id, comparison_id, datanet_id, annotator_id, choice, strength, rationale, edited_reply,
         shown_left, time_spent_ms, submitted_at, revision_of_id, idempotency_key)
    VALUES (p_assignment, v_comparison, v_datanet, p_annotator, v_choice, p_strength, p_rationale, p_edited_reply,
            v_shown_left, p_time_spent_ms, p_now, NULL, p_idempotency_key)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id INTO v_new;
    IF v_new IS NULL THEN
        RETURN QUERY SELECT 'duplicate_key'::text, NULL::bigint, v_comparison, v_datanet, NULL::varchar, v_shown_left;
        RETURN;
    END IF;
    UPDATE annotation_assignment SET submitted_at = p_now WHERE id = p_assignment;
    UPDATE annotation_comparison SET judgment_count = judgment_count + 1 WHERE id = v_comparison;
    RETURN QUERY SELECT 'ok'::text, v_new, v_comparison, v_datanet, v_choice, v_shown_left;
END;
$$;
