// The Train form outlives the view (leave for Browse and come back: the values are kept).
import { defaultForm, type TrainForm } from "./progress";

export const trainForm = $state<{ form: TrainForm | null }>({ form: null });

export function resetForm(schemas: string[], splits: string[]): TrainForm {
  trainForm.form = defaultForm(schemas, splits);
  return trainForm.form;
}
