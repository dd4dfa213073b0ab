-- Validation accuracy per epoch, beside the losses (NULL when a run has no validation part).
ALTER TABLE run_epochs ADD COLUMN val_accuracy REAL;
