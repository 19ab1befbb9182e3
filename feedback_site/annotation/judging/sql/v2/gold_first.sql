-- New in version 2 (migration 0006).
-- Whether a judgment request serves a gold item first: the twin of judging.rules.gold_first.
CREATE OR REPLACE FUNCTION annotation_gold_first(p_gold_rate double precision, p_draw double precision)
RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_gold_rate > 0 AND p_draw < p_gold_rate
$$;
