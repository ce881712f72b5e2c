-- Filled in by its slice.
SELECT 1;
