"""The judging API's two requests in one round trip each, token check included.

`annotation_token_assign_next` and `annotation_token_submit` check an API token and the role it needs
(the user exists and is active, is a superuser or in the role's group), find the Datanet by slug, and
then call the functions of migration 0003. Under load, the token query and the Datanet lookup that
REST framework and the view did before were three of a judgment's five round trips (benchmarks/bench_load.py).
The checks and their order are those of the API: token (401), role (403), Datanet (404), then the
service's own rules. The gold draw is made here from a uniform number the site sends, because the
Datanet's gold rate is read here.
"""

from django.db import migrations

from ._postgres import run_on_postgresql

PG_FORWARD = r"""
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

CREATE OR REPLACE FUNCTION annotation_token_assign_next(
    p_token varchar, p_role varchar, p_slug varchar, p_now timestamptz, p_resume boolean,
    p_gold_draw double precision, p_shown_left varchar
) RETURNS TABLE (auth text, user_id integer, datanet_id bigint, status text, live integer, assignment_id bigint,
                 comparison_id bigint, shown_left varchar, served_at timestamptz, expires_at timestamptz,
                 prompt text, text_a text, text_b text)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    v_auth text;
    v_user integer;
    v_datanet bigint;
    v_gold_rate double precision;
BEGIN
    SELECT who.auth, who.user_id INTO v_auth, v_user FROM annotation_token_user(p_token, p_role) who;
    IF v_auth <> 'ok' THEN
        RETURN QUERY SELECT v_auth, v_user, NULL::bigint, NULL::text, NULL::integer, NULL::bigint, NULL::bigint,
                            NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    SELECT d.id, d.gold_rate INTO v_datanet, v_gold_rate FROM annotation_datanet d WHERE d.slug = p_slug;
    IF NOT FOUND THEN
        RETURN QUERY SELECT 'no_datanet'::text, v_user, NULL::bigint, NULL::text, NULL::integer, NULL::bigint,
                            NULL::bigint, NULL::varchar, NULL::timestamptz, NULL::timestamptz, NULL::text, NULL::text,
                            NULL::text;
        RETURN;
    END IF;
    RETURN QUERY SELECT 'ok'::text, v_user, v_datanet, next.*
                 FROM annotation_assign_next(v_user, v_datanet, p_now, p_resume,
                                             v_gold_rate > 0 AND p_gold_draw < v_gold_rate, p_shown_left) next;
END;
$$;

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
"""
PG_BACKWARD = """
DROP FUNCTION IF EXISTS annotation_token_assign_next(varchar, varchar, varchar, timestamptz, boolean,
                                                     double precision, varchar);
DROP FUNCTION IF EXISTS annotation_token_submit(varchar, varchar, bigint, varchar, varchar, integer, text, text,
                                                integer, timestamptz, varchar);
DROP FUNCTION IF EXISTS annotation_token_user(varchar, varchar);
"""


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0003_judging_hot_path_functions"),
        ("authtoken", "0003_tokenproxy"),
        ("auth", "0012_alter_user_first_name_max_length"),
    ]
    operations = [run_on_postgresql(PG_FORWARD, PG_BACKWARD)]
