-- Schema version 19: `reviews` holds only decisions a person made (accepted, rejected,
-- flagged). The states without a decision (unlabelled, pre-labelled, labelled) follow from
-- the labels (labels::review), so rows that stored one of them are not decisions.
DELETE FROM reviews WHERE status NOT IN ('accepted', 'rejected', 'flagged');
