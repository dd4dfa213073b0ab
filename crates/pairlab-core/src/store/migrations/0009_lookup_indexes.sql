-- Lookups by pair that the sample view makes on every open: the other images of its study
-- and its split parts (without these, each scanned the whole table: 45 ms at 1M pairs).
CREATE INDEX IF NOT EXISTS pairs_study ON pairs(study_id);
CREATE INDEX IF NOT EXISTS split_members_pair ON split_members(pair_id);
-- A split's part sizes (the browse filter lists them) from the index alone.
CREATE INDEX IF NOT EXISTS split_members_part ON split_members(split_id, part);
