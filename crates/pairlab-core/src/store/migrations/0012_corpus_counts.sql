-- Each corpus's counts (pairs, images, reports, unpaired, missing, patients, studies,
-- errors) as JSON, written when an index run ends and cleared when one starts: only
-- indexing changes them, and counting them live takes seconds at a million pairs. NULL
-- (never indexed since, or a run that did not finish): counted live.
ALTER TABLE corpora ADD COLUMN counts TEXT;
