-- Version 1 of annotation_assign_next, as migration 0003 created it: kept as it was.
CREATE OR REPLACE FUNCTION annotation_assign_next(
    p_annotator integer, p_datanet bigint, p_now timestamptz, p_resume boolean, p_gold_first boolean,
    p_shown_left varchar
) RETURNS TABLE (status text, live integer, assignment_id bigint, comparison_id bigint, shown_left varchar,
                 served_at timestamptz, expires_at timestamptz, prompt text, text_a text, text_b text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    d annotation_datanet%ROWTYPE;
    v_live integer;
    v_held annotation_assignment%ROWTYPE;
    v_pass boolean;
    v_attempt integer;
    v_comparison bigint;
    v_judged integer;
    v_locks integer;
    v_new bigint;
BEGIN
    SELECT * INTO d FROM annotation_datanet WHERE id = p_datanet;
    IF NOT EXISTS (SELECT 1 FROM annotation_datanet_members m
                   WHERE m.datanet_id = p_datanet AND m.user_id = p_annotator) THEN
        RETURN QUERY SELECT 'not_member'::text, 0, NULL::bigint, NULL::bigint, NULL::varchar, NULL::timestamptz,
                            NULL::timestamptz, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    -- The annotator's live locks in every Datanet count against the pending cap.
    SELECT count(*)::integer INTO v_live FROM (
        SELECT 1 FROM annotation_assignment a
        WHERE a.annotator_id = p_annotator AND a.submitted_at IS NULL AND a.expires_at > p_now
        LIMIT d.max_pending + 1) held;
    IF p_resume AND v_live > 0 THEN
        SELECT a.* INTO v_held FROM annotation_assignment a
        JOIN annotation_comparison c ON c.id = a.comparison_id
        WHERE a.annotator_id = p_annotator AND a.submitted_at IS NULL AND a.expires_at > p_now
          AND c.datanet_id = p_datanet
        ORDER BY a.served_at, a.id LIMIT 1;
        IF FOUND THEN
            RETURN QUERY SELECT 'held'::text, v_live, v_held.id, v_held.comparison_id, v_held.shown_left,
                                v_held.served_at, v_held.expires_at, texts.prompt, texts.text_a, texts.text_b
                         FROM annotation_comparison_texts(v_held.comparison_id) texts;
            RETURN;
        END IF;
    END IF;
    IF v_live >= d.max_pending THEN
        RETURN QUERY SELECT 'too_many_pending'::text, v_live, NULL::bigint, NULL::bigint, NULL::varchar,
                            NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    FOREACH v_pass IN ARRAY ARRAY[p_gold_first, NOT p_gold_first] LOOP
        FOR v_attempt IN 1..8 LOOP
            -- Least-judged first; a comparison locked by another request is skipped, not waited for.
            SELECT c.id, c.judgment_count INTO v_comparison, v_judged
            FROM annotation_comparison c
            WHERE c.datanet_id = p_datanet AND c.judgment_count < d.overlap
              AND (c.gold_choice <> '') = v_pass
              AND NOT EXISTS (SELECT 1 FROM annotation_assignment a
                              WHERE a.comparison_id = c.id AND a.annotator_id = p_annotator)
              AND c.judgment_count < d.overlap - (
                  SELECT count(*) FROM annotation_assignment a
                  WHERE a.comparison_id = c.id AND a.submitted_at IS NULL AND a.expires_at > p_now)
            ORDER BY c.judgment_count, c.id
            LIMIT 1
            FOR UPDATE OF c SKIP LOCKED;
            EXIT WHEN NOT FOUND;
            -- Under the row lock, with a fresh snapshot: every writer of this comparison's
            -- assignments holds the same lock first, so this count is exact.
            SELECT count(*) INTO v_locks FROM annotation_assignment a
            WHERE a.comparison_id = v_comparison AND a.submitted_at IS NULL AND a.expires_at > p_now;
            IF v_judged + v_locks < d.overlap THEN
                INSERT INTO annotation_assignment
                    (comparison_id, annotator_id, shown_left, served_at, expires_at, submitted_at)
                VALUES (v_comparison, p_annotator, p_shown_left, p_now,
                        p_now + make_interval(mins => d.lock_minutes), NULL)
                ON CONFLICT ON CONSTRAINT assignment_once_per_annotator DO NOTHING
                RETURNING id INTO v_new;
                IF v_new IS NOT NULL THEN
                    RETURN QUERY SELECT 'assigned'::text, v_live + 1, v_new, v_comparison, p_shown_left, p_now,
                                        p_now + make_interval(mins => d.lock_minutes), texts.prompt,
                                        texts.text_a, texts.text_b
                                 FROM annotation_comparison_texts(v_comparison) texts;
                    RETURN;
                END IF;
            END IF;
        END LOOP;
    END LOOP;
    -- Nothing could be locked. If a comparison is still open to this annotator, another request holds it
    -- for the moment (a submit or an assignment in flight, milliseconds): answer "busy", not "nothing
    -- left", so the caller asks again instead of telling the annotator they are done.
    IF EXISTS (SELECT 1 FROM annotation_comparison c
               WHERE c.datanet_id = p_datanet AND c.judgment_count < d.overlap
                 AND NOT EXISTS (SELECT 1 FROM annotation_assignment a
                                 WHERE a.comparison_id = c.id AND a.annotator_id = p_annotator)
                 AND c.judgment_count < d.overlap - (
                     SELECT count(*) FROM annotation_assignment a
                     WHERE a.comparison_id = c.id AND a.submitted_at IS NULL AND a.expires_at > p_now)) THEN
        RETURN QUERY SELECT 'busy'::text, v_live, NULL::bigint, NULL::bigint, NULL::varchar, NULL::timestamptz,
                            NULL::timestamptz, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'none'::text, v_live, NULL::bigint, NULL::bigint, NULL::varchar, NULL::timestamptz,
                        NULL::timestamptz, NULL::text, NULL::text, NULL::text;
END;
$$;
