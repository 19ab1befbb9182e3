DROP FUNCTION IF EXISTS annotation_token_assign_next(varchar, varchar, varchar, timestamptz, boolean,
                                                     double precision, varchar);
DROP FUNCTION IF EXISTS annotation_token_submit(varchar, varchar, bigint, varchar, varchar, integer, text, text,
                                                integer, timestamptz, varchar);
DROP FUNCTION IF EXISTS annotation_token_user(varchar, varchar);
