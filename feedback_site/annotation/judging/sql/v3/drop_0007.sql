-- Migration 0007 on its way back drops what v2 did not have (the v3 signatures of annotation_assign_next,
-- annotation_token_assign_next and annotation_comparisons_open included), then loads v2's versions again.
DROP FUNCTION IF EXISTS annotation_token_assign_next(varchar, varchar, varchar, timestamptz, boolean,
                                                     double precision, varchar, double precision);
DROP FUNCTION IF EXISTS annotation_assign_next(integer, bigint, timestamptz, boolean, double precision, varchar,
                                               double precision);
DROP FUNCTION IF EXISTS annotation_comparisons_open(bigint, integer, integer, timestamptz);
DROP FUNCTION IF EXISTS annotation_strategy_drawn(varchar, double precision, double precision);
