-- New in version 3 (migration 0007).
-- The strategy one request is served by, from the Datanet's setting and the request's uniform draw: the twin of
-- rlhf.active.strategy_drawn (under uncertainty, a share p_random_share of requests is served at random).
CREATE OR REPLACE FUNCTION annotation_strategy_drawn(
    p_strategy varchar, p_random_share double precision, p_draw double precision
) RETURNS varchar
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_strategy = 'uncertainty' AND p_draw >= p_random_share THEN 'uncertainty'
                ELSE 'random' END::varchar
$$;
