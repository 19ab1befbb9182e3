-- Migration 0006 on its way back drops what v1 did not have (annotation_assign_next with v2's arguments
-- included), then loads v1's annotation_assign_next and annotation_token_assign_next again.
DROP FUNCTION IF EXISTS annotation_assign_next(integer, bigint, timestamptz, boolean, double precision, varchar);
DROP FUNCTION IF EXISTS annotation_comparisons_open(bigint, integer, integer, timestamptz);
DROP FUNCTION IF EXISTS annotation_gold_first(double precision, double precision);
