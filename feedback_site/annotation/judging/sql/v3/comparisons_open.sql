-- Version 3 of annotation_comparisons_open (migration 0007). Changed from v2: it also answers each comparison's
-- place in the random order (shuffle_key) and its uncertainty under the Datanet's scoring reward model, which the
-- two strategies order by. Its Python twin is judging.orm.comparisons_open.
-- Another result type makes another function to PostgreSQL: v2's is dropped first.
DROP FUNCTION IF EXISTS annotation_comparisons_open(bigint, integer, integer, timestamptz);

CREATE OR REPLACE FUNCTION annotation_comparisons_open(
    p_datanet bigint, p_overlap integer, p_annotator integer, p_now timestamptz
) RETURNS TABLE (comparison_id bigint, judged integer, gold boolean, shuffle_key double precision,
                 uncertainty double precision)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.judgment_count, c.gold_choice <> '', c.shuffle_key, c.uncertainty
    FROM annotation_comparison c
    WHERE c.datanet_id = p_datanet AND c.judgment_count < p_overlap
      AND NOT EXISTS (SELECT 1 FROM annotation_assignment a
                      WHERE a.comparison_id = c.id AND a.annotator_id = p_annotator)
      AND c.judgment_count < p_overlap - (
          SELECT count(*) FROM annotation_assignment a
          WHERE a.comparison_id = c.id AND a.submitted_at IS NULL AND a.expires_at > p_now)
$$;
