-- Version 3 of annotation_assign_next (migration 0007). Changed from v2: the request's strategy is drawn here
-- (annotation_strategy_drawn, from the Datanet's assignment_strategy and the request's p_strategy_draw) and orders
-- the open comparisons of equal judgment count: by shuffle_key under random, by uncertainty (not scored first),
-- then shuffle_key, under uncertainty; each order walks its own index. The assignment records its strategy, and the
-- result says it. Its Python twin is judging.orm.assignment_next.

-- Another argument type makes another function to PostgreSQL: v1's is dropped, not left callable.
DROP FUNCTION IF EXISTS annotation_assign_next(integer, bigint, timestamptz, boolean, double precision, varchar);

CREATE OR REPLACE FUNCTION annotation_assign_next(
    p_annotator integer, p_datanet bigint, p_now timestamptz, p_resume boolean, p_gold_draw double precision,
    p_shown_left varchar, p_strategy_draw double precision
) RETURNS TABLE (status text, live integer, assignment_id bigint, comparison_id bigint, shown_left varchar,
                 served_at timestamptz, expires_at timestamptz, strategy varchar, prompt text, text_a text,
                 text_b text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    d annotation_datanet%ROWTYPE;
    v_live integer;
    v_held annotation_assignment%ROWTYPE;
    v_gold_first boolean;
    v_pass boolean;
    v_attempt integer;
    v_comparison bigint;
    v_seen boolean;
    v_busy boolean := false;
    v_judged integer;
    v_locks integer;
    v_new bigint;
    v_strategy varchar;
    v_candidates refcursor;
BEGIN
    SELECT * INTO d FROM annotation_datanet WHERE id = p_datanet;
    IF NOT EXISTS (SELECT 1 FROM annotation_datanet_members m
                   WHERE m.datanet_id = p_datanet AND m.user_id = p_annotator) THEN
        RETURN QUERY SELECT 'not_member'::text, 0, NULL::bigint, NULL::bigint, NULL::varchar, NULL::timestamptz,
                            NULL::timestamptz, NULL::varchar, NULL::text, NULL::text, NULL::text;
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
                                v_held.served_at, v_held.expires_at, v_held.strategy, texts.prompt, texts.text_a, texts.text_b
                         FROM annotation_comparison_texts(v_held.comparison_id) texts;
            RETURN;
        END IF;
    END IF;
    IF v_live >= d.max_pending THEN
        RETURN QUERY SELECT 'too_many_pending'::text, v_live, NULL::bigint, NULL::bigint, NULL::varchar,
                            NULL::timestamptz, NULL::timestamptz, NULL::varchar, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    v_gold_first := annotation_gold_first(d.gold_rate, p_gold_draw);
    v_strategy := annotation_strategy_drawn(d.assignment_strategy, d.random_share, p_strategy_draw);
    FOREACH v_pass IN ARRAY ARRAY[v_gold_first, NOT v_gold_first] LOOP
        FOR v_attempt IN 1..8 LOOP
            v_seen := false;
            -- Least-judged first, then in the strategy's order. The scan takes no lock; each candidate is then
            -- locked alone, and one that another request holds (a submit or an assignment in flight) is skipped,
            -- not waited for. Two plain queries, not one ORDER BY with a CASE, so that each walks its index.
            IF v_strategy = 'uncertainty' THEN
                OPEN v_candidates FOR
                    SELECT o.comparison_id FROM annotation_comparisons_open(p_datanet, d.overlap, p_annotator, p_now) o
                    WHERE o.gold = v_pass
                    ORDER BY o.judged, o.uncertainty DESC NULLS FIRST, o.shuffle_key, o.comparison_id
                    LIMIT 32;
            ELSE
                OPEN v_candidates FOR
                    SELECT o.comparison_id FROM annotation_comparisons_open(p_datanet, d.overlap, p_annotator, p_now) o
                    WHERE o.gold = v_pass
                    ORDER BY o.judged, o.shuffle_key, o.comparison_id
                    LIMIT 32;
            END IF;
            LOOP
                FETCH v_candidates INTO v_comparison;
                EXIT WHEN NOT FOUND;
                v_seen := true;
                SELECT c.judgment_count INTO v_judged FROM annotation_comparison c
                WHERE c.id = v_comparison FOR UPDATE SKIP LOCKED;
                CONTINUE WHEN NOT FOUND;
                -- Under the row lock, with a fresh snapshot: every writer of this comparison's
                -- assignments holds the same lock first, so this count is exact.
                SELECT count(*) INTO v_locks FROM annotation_assignment a
                WHERE a.comparison_id = v_comparison AND a.submitted_at IS NULL AND a.expires_at > p_now;
                CONTINUE WHEN v_judged + v_locks >= d.overlap;
                INSERT INTO annotation_assignment
                    (comparison_id, annotator_id, shown_left, served_at, expires_at, submitted_at, strategy)
                VALUES (v_comparison, p_annotator, p_shown_left, p_now,
                        p_now + make_interval(mins => d.lock_minutes), NULL, v_strategy)
                ON CONFLICT ON CONSTRAINT assignment_once_per_annotator DO NOTHING
                RETURNING id INTO v_new;
                IF v_new IS NOT NULL THEN
                    RETURN QUERY SELECT 'assigned'::text, v_live + 1, v_new, v_comparison, p_shown_left, p_now,
                                        p_now + make_interval(mins => d.lock_minutes), v_strategy, texts.prompt,
                                        texts.text_a, texts.text_b
                                 FROM annotation_comparison_texts(v_comparison) texts;
                    RETURN;
                END IF;
            END LOOP;
            CLOSE v_candidates;
            EXIT WHEN NOT v_seen;
        END LOOP;
        -- Still open, yet nothing could be locked: other requests hold it for the moment (milliseconds).
        v_busy := v_busy OR v_seen;
    END LOOP;
    -- Answer "busy", not "nothing left", so that the caller asks again instead of telling the annotator
    -- they are done.
    RETURN QUERY SELECT CASE WHEN v_busy THEN 'busy' ELSE 'none' END::text, v_live, NULL::bigint, NULL::bigint,
                        NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::varchar, NULL::text, NULL::text, NULL::text;
END;
$$;
