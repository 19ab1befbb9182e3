DROP FUNCTION IF EXISTS annotation_comparison_texts(bigint);
DROP FUNCTION IF EXISTS annotation_assign_next(integer, bigint, timestamptz, boolean, boolean, varchar);
DROP FUNCTION IF EXISTS annotation_submit(bigint, integer, varchar, varchar, integer, text, text, integer,
                                          timestamptz, varchar);
