-- Version 1 of annotation_comparison_texts, as migration 0003 created it: kept as it was.
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
