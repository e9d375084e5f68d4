import { mean } from './metrics.js';

/** `[x1, y1, x2, y2]`, normalized to the image. */
export type Box = readonly [number, number, number, number];

/** Detection metrics of one /test answer, per PROTOCOL.md's detection values. */
export interface DetectionMetrics {
  /** Test images scored. */
  samples: number;
  /** Mean over the classes with ground truth of AP at IoU 0.5, PASCAL VOC 2010+ (all-point interpolation). */
  map50: number;
  /** COCO's mAP: the mean over IoU 0.5, 0.55 ... 0.95 of the mean AP over classes (101-point interpolation). */
  mapCoco: number;
  /** Class ids with ground truth or detections, in the order of every per-class list. */
  classes: number[];
  /** AP at IoU 0.5 (VOC all-point) per class; a class with no ground-truth box has none (null). */
  ap50: (number | null)[];
  /** Ground-truth boxes per class. */
  groundTruth: number[];
  /** The score threshold of `precision`, `recall` and `confusion`. */
  scoreThreshold: number;
  /** Of the detections scored at least `scoreThreshold`: those that match a ground-truth box of their class (IoU ≥ 0.5). */
  precision: number;
  /** Of the ground-truth boxes: those matched so. */
  recall: number;
  /**
   * confusion[i][j]: boxes of class classes[i] detected as classes[j] (IoU ≥ 0.5, whatever the
   * class); the last row and column are the background: a box on nothing (last row), a box
   * missed (last column).
   */
  confusion: number[][];
}

interface Detection {
  image: string;
  box: Box;
  object: number;
  score: number;
}

/** numpy's `linspace(start, stop, n)`, as pycocotools makes its thresholds: `i × step + start`, the last `stop`. */
function linspace(start: number, stop: number, n: number): number[] {
  const step = (stop - start) / (n - 1);
  return Array.from({ length: n }, (_, i) => (i === n - 1 ? stop : i * step + start));
}

// pycocotools' own doubles (its 0.9 is 0.8999999999999999, its recall 0.7 is 0.7000000000000001), so
// that a box or a recall exactly on a threshold counts as it does there.
const IOU_THRESHOLDS = linspace(0.5, 0.95, 10);
const RECALL_POINTS = linspace(0, 1, 101);

/**
 * Metrics from the predictions (`{boxes, objects, scores}`) and labels (`{boxes, objects}`) that
 * /test returned, keyed by test index. Throws on a value of another shape.
 */
export function detectionMetrics(
  predictions: Record<string, unknown>,
  labels: Record<string, unknown>,
  scoreThreshold = 0.5,
): DetectionMetrics {
  const keys = Object.keys(labels);
  const truth = new Map(keys.map((key) => [key, groundTruthOf(labels[key], key)]));
  const detections = keys.flatMap((key) => detectionsOf(predictions[key], key));
  const classes = [...new Set([...[...truth.values()].flatMap((t) => t.objects), ...detections.map((d) => d.object)])].sort(
    (a, b) => a - b,
  );
  const groundTruth = classes.map((c) => [...truth.values()].reduce((n, t) => n + t.objects.filter((o) => o === c).length, 0));
  const withTruth = classes.filter((_, i) => groundTruth[i] > 0);

  const ap50 = classes.map((c, i) => (groundTruth[i] > 0 ? averagePrecision(c, detections, truth, 0.5, 'voc') : null));
  const map50 = mean(ap50.filter((ap): ap is number => ap !== null));
  const mapCoco = mean(IOU_THRESHOLDS.map((t) => mean(withTruth.map((c) => averagePrecision(c, detections, truth, t, 'coco')))));

  const confident = detections.filter((d) => d.score >= scoreThreshold);
  const matched = withTruth.reduce((n, c) => n + matchGreedy(c, confident, truth, 0.5).filter(Boolean).length, 0);
  const totalTruth = groundTruth.reduce((a, b) => a + b, 0);
  return {
    samples: keys.length,
    map50,
    mapCoco,
    classes,
    ap50,
    groundTruth,
    scoreThreshold,
    precision: confident.length === 0 ? 0 : matched / confident.length,
    recall: totalTruth === 0 ? 0 : matched / totalTruth,
    confusion: confusionWithBackground(classes, confident, truth),
  };
}

/**
 * AP of class `c` at one IoU threshold (an overlap equal to it matches, as VOCevaldet.m and
 * pycocotools have it). Detections ranked by score (ties: image, then position), each
 * ground-truth box matched at most once. `voc`: PASCAL VOC's devkit: a detection's best overlap
 * among the image's boxes of its class decides (already matched: a false positive), all-point
 * interpolation. `coco`: pycocotools' rule, the best still unmatched box (of equal overlaps,
 * the last), precision at 101 recall points.
 */
export function averagePrecision(
  c: number,
  detections: readonly Detection[],
  truth: ReadonlyMap<string, { boxes: Box[]; objects: number[] }>,
  threshold: number,
  style: 'voc' | 'coco',
): number {
  const ranked = detections.filter((d) => d.object === c).sort(byScore);
  const total = [...truth.values()].reduce((n, t) => n + t.objects.filter((o) => o === c).length, 0);
  if (total === 0) return 0;
  const used = new Map<string, boolean[]>();
  let tp = 0;
  let fp = 0;
  const precision: number[] = [];
  const recall: number[] = [];
  for (const d of ranked) {
    const t = truth.get(d.image);
    const taken = used.get(d.image) ?? (t ? t.boxes.map(() => false) : []);
    used.set(d.image, taken);
    let best = -1;
    let bestIou = -Infinity;
    t?.boxes.forEach((box, j) => {
      if (t.objects[j] !== c || (style === 'coco' && taken[j])) return;
      const overlap = iou(box, d.box);
      // VOC's argmax keeps the first of equal overlaps; pycocotools' loop, the last.
      if (overlap > bestIou || (style === 'coco' && overlap === bestIou)) {
        bestIou = overlap;
        best = j;
      }
    });
    if (best >= 0 && bestIou >= threshold && !taken[best]) {
      taken[best] = true;
      tp++;
    } else {
      fp++;
    }
    precision.push(tp / (tp + fp));
    recall.push(tp / total);
  }
  return style === 'voc' ? allPointAp(recall, precision) : cocoAp(recall, precision);
}

/** VOC 2010+: the area under the precision-recall curve made monotone (precision at r = the best at recall ≥ r). */
function allPointAp(recall: number[], precision: number[]): number {
  const r = [0, ...recall, 1];
  const p = [0, ...precision, 0];
  for (let i = p.length - 2; i >= 0; i--) p[i] = Math.max(p[i], p[i + 1]);
  let ap = 0;
  for (let i = 1; i < r.length; i++) ap += (r[i] - r[i - 1]) * p[i];
  return ap;
}

/** COCO: the monotone precision sampled at recall 0, 0.01 ... 1 (0 past the highest recall reached), averaged. */
function cocoAp(recall: number[], precision: number[]): number {
  const p = precision.slice();
  for (let i = p.length - 2; i >= 0; i--) p[i] = Math.max(p[i], p[i + 1]);
  let sum = 0;
  let at = 0;
  for (const point of RECALL_POINTS) {
    while (at < recall.length && recall[at] < point) at++;
    if (at < recall.length) sum += p[at];
  }
  return sum / RECALL_POINTS.length;
}

/** For each detection of class `c` (by score), whether it matched a still unmatched box of class `c` at `threshold`. */
function matchGreedy(
  c: number,
  detections: readonly Detection[],
  truth: ReadonlyMap<string, { boxes: Box[]; objects: number[] }>,
  threshold: number,
): boolean[] {
  const used = new Map<string, Set<number>>();
  return detections
    .filter((d) => d.object === c)
    .sort(byScore)
    .map((d) => {
      const t = truth.get(d.image);
      const taken = used.get(d.image) ?? new Set<number>();
      used.set(d.image, taken);
      let best = -1;
      let bestIou = threshold;
      t?.boxes.forEach((box, j) => {
        const overlap = iou(box, d.box);
        if (t.objects[j] === c && !taken.has(j) && overlap >= bestIou) {
          bestIou = overlap;
          best = j;
        }
      });
      if (best >= 0) taken.add(best);
      return best >= 0;
    });
}

/**
 * The confusion matrix with a background row and column: per image, ground-truth boxes and
 * confident detections paired by IoU ≥ 0.5 whatever their classes, highest overlap first, each
 * at most once; what is left is a missed box or a box on nothing.
 */
function confusionWithBackground(
  classes: number[],
  confident: readonly Detection[],
  truth: ReadonlyMap<string, { boxes: Box[]; objects: number[] }>,
): number[][] {
  const at = new Map(classes.map((c, i) => [c, i]));
  const background = classes.length;
  const confusion = Array.from({ length: classes.length + 1 }, () => new Array<number>(classes.length + 1).fill(0));
  const byImage = new Map<string, Detection[]>();
  for (const d of confident) {
    const list = byImage.get(d.image);
    if (list) list.push(d);
    else byImage.set(d.image, [d]);
  }
  for (const [image, t] of truth) {
    const found = byImage.get(image) ?? [];
    const pairs: { g: number; d: number; overlap: number }[] = [];
    t.boxes.forEach((box, g) =>
      found.forEach((detection, d) => {
        const overlap = iou(box, detection.box);
        if (overlap >= 0.5) pairs.push({ g, d, overlap });
      }),
    );
    pairs.sort((a, b) => b.overlap - a.overlap || a.g - b.g || a.d - b.d);
    const usedTruth = new Set<number>();
    const usedFound = new Set<number>();
    for (const { g, d } of pairs) {
      if (usedTruth.has(g) || usedFound.has(d)) continue;
      usedTruth.add(g);
      usedFound.add(d);
      confusion[at.get(t.objects[g])!][at.get(found[d].object)!]++;
    }
    t.objects.forEach((o, g) => usedTruth.has(g) || confusion[at.get(o)!][background]++);
    found.forEach((detection, d) => usedFound.has(d) || confusion[background][at.get(detection.object)!]++);
  }
  return confusion;
}

function byScore(a: Detection, b: Detection): number {
  return b.score - a.score || Number(a.image) - Number(b.image);
}

/** Intersection over union of two boxes; 0 when they do not overlap. */
export function iou(a: Box, b: Box): number {
  const width = Math.min(a[2], b[2]) - Math.max(a[0], b[0]);
  const height = Math.min(a[3], b[3]) - Math.max(a[1], b[1]);
  if (width <= 0 || height <= 0) return 0;
  const inter = width * height;
  return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter);
}

function groundTruthOf(value: unknown, key: string): { boxes: Box[]; objects: number[] } {
  const { boxes, objects } = (value ?? {}) as { boxes?: unknown; objects?: unknown };
  const checked = boxesOf(boxes, `test label for index ${key}`);
  const ids = classIdsOf(objects, checked.length, `test label for index ${key}`);
  return { boxes: checked, objects: ids };
}

function detectionsOf(value: unknown, key: string): Detection[] {
  const { boxes, objects, scores } = (value ?? {}) as { boxes?: unknown; objects?: unknown; scores?: unknown };
  const where = `test prediction for index ${key}`;
  const checked = boxesOf(boxes, where);
  const ids = classIdsOf(objects, checked.length, where);
  if (
    !Array.isArray(scores) ||
    scores.length !== checked.length ||
    !scores.every((s) => typeof s === 'number' && Number.isFinite(s))
  ) {
    throw new Error(`${where} has no list of scores, one finite number per box`);
  }
  return checked.map((box, i) => ({ image: key, box, object: ids[i], score: scores[i] as number }));
}

function boxesOf(boxes: unknown, where: string): Box[] {
  if (!Array.isArray(boxes)) throw new Error(`${where} has no list of boxes: not a detection value {boxes, objects, ...}`);
  boxes.forEach((box, i) => {
    const ok = Array.isArray(box) && box.length === 4 && box.every((v) => typeof v === 'number' && Number.isFinite(v));
    if (!ok || box[0] > box[2] || box[1] > box[3])
      throw new Error(`${where}: boxes[${i}] is not [x1, y1, x2, y2] with x1 ≤ x2, y1 ≤ y2`);
  });
  return boxes as Box[];
}

function classIdsOf(objects: unknown, count: number, where: string): number[] {
  if (!Array.isArray(objects) || objects.length !== count || !objects.every((o) => Number.isInteger(o))) {
    throw new Error(`${where} has no list of objects, one integer class id per box`);
  }
  return objects as number[];
}
