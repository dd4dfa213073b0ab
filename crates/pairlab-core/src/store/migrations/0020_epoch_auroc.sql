-- Schema version 20: multi-label runs record each epoch's macro validation AUROC (their
-- accuracy over mostly negative entries says little).
ALTER TABLE run_epochs ADD COLUMN val_auroc REAL;
