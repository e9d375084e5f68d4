/** Classification metrics of one /test answer, per PROTOCOL.md's integer class ids. */
export interface ClassificationMetrics {
  /** Test samples scored. */
  samples: number;
  accuracy: number;
  /** Class ids, in the order of every per-class list and of the confusion matrix. */
  classes: number[];
  precision: number[];
  recall: number[];
  f1: number[];
  /** Share of the class's samples predicted as it: TP / (TP + FN), as torchmetrics' per-class accuracy. */
  classAccuracy: number[];
  /** How often the model says this class where the label says otherwise: FP / (FP + TN). */
  labelDisagreement: number[];
  macroPrecision: number;
  macroRecall: number;
  macroF1: number;
  /** confusion[i][j]: samples labeled classes[i] and predicted classes[j]. */
  confusion: number[][];
}

// A ratio whose denominator is 0 is undefined; the report shows it as 0.
const ratio = (num: number, den: number): number => (den === 0 ? 0 : num / den);
const sum = (values: readonly number[]): number => values.reduce((a, b) => a + b, 0);
/** The arithmetic mean; 0 for no values, as every undefined ratio of the report. */
export const mean = (values: readonly number[]): number => ratio(sum(values), values.length);

/**
 * Metrics from the predictions and labels that /test returned (keyed by test index, on the same
 * indices). Throws when a value is not an integer class id: other problems need other metrics.
 */
export function classificationMetrics(
  predictions: Record<string, unknown>,
  labels: Record<string, unknown>,
): ClassificationMetrics {
  const keys = Object.keys(labels);
  const pairs = keys.map((key) => [classId(labels[key], 'label', key), classId(predictions[key], 'prediction', key)]);
  const classes = [...new Set(pairs.flat())].sort((a, b) => a - b);
  const position = new Map(classes.map((c, i) => [c, i]));
  const confusion = classes.map(() => classes.map(() => 0));
  for (const [label, predicted] of pairs) confusion[position.get(label)!][position.get(predicted)!]++;

  const n = pairs.length;
  const tp = classes.map((_, i) => confusion[i][i]);
  const labeledAs = classes.map((_, i) => sum(confusion[i]));
  const predictedAs = classes.map((_, j) => confusion.reduce((a, row) => a + row[j], 0));
  const precision = classes.map((_, i) => ratio(tp[i], predictedAs[i]));
  const recall = classes.map((_, i) => ratio(tp[i], labeledAs[i]));
  const f1 = classes.map((_, i) => ratio(2 * precision[i] * recall[i], precision[i] + recall[i]));
  const labelDisagreement = classes.map((_, i) => {
    const fp = predictedAs[i] - tp[i];
    const tn = n - labeledAs[i] - fp;
    return ratio(fp, fp + tn);
  });
  return {
    samples: n,
    accuracy: ratio(sum(tp), n),
    classes,
    precision,
    recall,
    f1,
    classAccuracy: recall.slice(),
    labelDisagreement,
    macroPrecision: mean(precision),
    macroRecall: mean(recall),
    macroF1: mean(f1),
    confusion,
  };
}

function classId(value: unknown, what: string, key: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) {
    throw new Error(`test ${what} for index ${key} is ${JSON.stringify(value)}, not an integer class id`);
  }
  return value;
}
