"""The judging loop's two hot paths as PostgreSQL functions: one round trip each.

`annotation_assign_next` serves a comparison and `annotation_submit` records a judgment. They do
exactly what the ORM code in `annotation/services.py` does on SQLite (the same tests run against
both), but in one statement from the site's side instead of seven to ten round trips, which is
most of the time a judgment costs under load. The Python side keeps everything that is not about
rows and locks: validating input, drawing the side shown on the left, mapping errors to messages.

Why a function and not one SQL statement: after the chosen comparison is locked, its live locks
must be counted again with a snapshot taken *after* the lock (another transaction may have
committed an assignment for it meanwhile). Inside a PL/pgSQL function each statement takes a new
snapshot, as the ORM's separate statements do; within a single statement it would not.
"""

from django.db import migrations

from ._postgres import run_on_postgresql

PG_FORWARD = r"""
-- What the judging page shows, sent back with the assignment: one round trip fewer per comparison.
CREATE OR REPLACE FUNCTION annotation_comparison_texts(p_comparison bigint)
RETURNS TABLE (prompt text, text_a text, text_b text)
LANGUAGE sql STABLE AS $$
    SELECT p.text, ra.text, rb.text FROM annotation_comparison c
    JOIN annotation_prompt p ON p.id = c.prompt_id
    JOIN annotation_response ra ON ra.id = c.response_a_id
    JOIN annotation_response rb ON rb.id = c.response_b_id
    WHERE c.id = p_comparison
$$;

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
"""
PG_BACKWARD = """
DROP FUNCTION IF EXISTS annotation_comparison_texts(bigint);
DROP FUNCTION IF EXISTS annotation_assign_next(integer, bigint, timestamptz, boolean, boolean, varchar);
DROP FUNCTION IF EXISTS annotation_submit(bigint, integer, varchar, varchar, integer, text, text, integer,
                                          timestamptz, varchar);
"""


class Migration(migrations.Migration):
    dependencies = [("annotation", "0002_judgment_append_only")]
    operations = [run_on_postgresql(PG_FORWARD, PG_BACKWARD)]
