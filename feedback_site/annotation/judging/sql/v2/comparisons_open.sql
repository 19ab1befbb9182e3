-- New in version 2 (migration 0006).
-- Who may be served what: the comparisons of a Datanet still open to one annotator at p_now (fewer than k
-- judgments plus live locks, none assigned to this annotator before). The twin of
-- judging.orm.comparisons_open. LANGUAGE sql, STABLE and not STRICT, so that the planner inlines it into
-- the query that reads it: the assignment's scan walks the comparison_queue index as if written in place.
CREATE OR REPLACE FUNCTION annotation_comparisons_open(
    p_datanet bigint, p_overlap integer, p_annotator integer, p_now timestamptz
) RETURNS TABLE (comparison_id bigint, judged integer, gold boolean)
LANGUAGE sql STABLE AS $$
    SELECT c.id, c.judgment_count, c.gold_choice <> ''
    FROM annotation_comparison c
    WHERE c.datanet_id = p_datanet AND c.judgment_count < p_overlap
      AND NOT EXISTS (SELECT 1 FROM annotation_assignment a
                      WHERE a.comparison_id = c.id AND a.annotator_id = p_annotator)
      AND c.judgment_count < p_overlap - (
          SELECT count(*) FROM annotation_assignment a
          WHERE a.comparison_id = c.id AND a.submitted_at IS NULL AND a.expires_at > p_now)
$$;
