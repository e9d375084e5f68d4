import { show } from '../protocol/value-display.js';

/** A class as /test names it: PROTOCOL.md's integer id, or a class name that a text team may send. */
export type ClassLabel = number | string;

/** Classification metrics of one /test answer. */
export interface ClassificationMetrics {
  /** Test samples scored. */
  samples: number;
  accuracy: number;
  /**
   * The classes seen in the labels or the predictions, in the order of every per-class list and
   * of the confusion matrix: integer ids in increasing order, or class names in JavaScript's string
   * order (by UTF-16 code units).
   */
  classes: ClassLabel[];
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
 * indices). Every value is an integer class id (PROTOCOL.md), or every one a class name (a
 * non-empty string), scored alike; throws on anything else, and on an answer that mixes the two
 * (is 1 the class "1"? the simulator does not guess).
 */
export function classificationMetrics(
  predictions: Record<string, unknown>,
  labels: Record<string, unknown>,
): ClassificationMetrics {
  const keys = Object.keys(labels);
  const pairs = keys.map((key) => [classOf(labels[key], 'label', key), classOf(predictions[key], 'prediction', key)]);
  const seen = [...new Set(pairs.flat())];
  const named = seen.find((c) => typeof c === 'string');
  const numbered = seen.find((c) => typeof c === 'number');
  if (named !== undefined && numbered !== undefined) {
    throw new Error(
      `test values mix class ids and class names (${numbered} and ${show(named)}): give every label and prediction as one or the other`,
    );
  }
  const classes = seen.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
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

function classOf(value: unknown, what: string, key: string): ClassLabel {
  if ((typeof value === 'number' && Number.isInteger(value)) || (typeof value === 'string' && value !== '')) return value;
  throw new Error(
    `test ${what} for index ${key} is ${show(value)}, not a class: an integer class id or a class name (a non-empty string)`,
  );
}
