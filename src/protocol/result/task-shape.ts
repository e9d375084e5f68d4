import { ResultContractError } from '../../alectio.errors.js';
import type { AlectioTask } from '../../interfaces/alectio-options.interface.js';
import { isList } from '../../util/value-guards.js';
import { show } from '../value-display.js';

/** Which value of a result is checked: a test prediction or label, or an infer output. */
export type ResultRole = 'prediction' | 'label' | 'output';

/**
 * Checks each value of one result against the shape of the task (PROTOCOL.md's values), and
 * across values what must agree: output lists, or pre-softmax rows, all of one length.
 */
export interface ShapeCheck {
  check(value: unknown, role: ResultRole, index: number | string): void;
}

const SUBJECT: Record<ResultRole, string> = { prediction: 'test prediction', label: 'test label', output: 'infer output' };

/** A fresh check for one result of `task`, or none when no task is set. */
export function shapeCheck(task: AlectioTask | null): ShapeCheck | undefined {
  if (task === 'classification') return classificationCheck();
  if (task === 'detection') return detectionCheck();
  return undefined;
}

function classificationCheck(): ShapeCheck {
  let length: number | undefined;
  return {
    check(value, role, index) {
      const broken = (rule: string) => shapeError(role, index, 'classification', rule);
      if (role !== 'output') {
        if (!isClassId(value)) throw broken(`${show(value)} is not an integer class id`);
        return;
      }
      if (!isList(value) || value.length === 0) throw broken('it is not a list of scores (logits)');
      const scores = value as ArrayLike<unknown>;
      for (let i = 0; i < scores.length; i++) {
        if (!isFiniteNumber(scores[i])) throw broken(`[${i}] is ${show(scores[i])}, not a finite number`);
      }
      length ??= scores.length;
      if (scores.length !== length) throw broken(`it has ${scores.length} scores where the ones before have ${length}`);
    },
  };
}

function detectionCheck(): ShapeCheck {
  let rowLength: number | undefined;
  return {
    check(value, role, index) {
      const broken = (rule: string) => shapeError(role, index, 'detection', rule);
      const fields =
        role === 'prediction' ? 'boxes, objects, scores' : role === 'label' ? 'boxes, objects' : 'boxes, pre_softmax, scores';
      const record = wireView(value);
      if (!record) throw broken(`it is not an object {${fields}}`);
      const boxes = record.boxes;
      if (!isList(boxes)) throw broken(`boxes is ${show(boxes)}, not a list of [x1, y1, x2, y2] boxes`);
      for (let b = 0; b < boxes.length; b++) {
        const problem = boxProblem(boxes[b]);
        if (problem) throw broken(`boxes[${b}] ${problem}`);
      }
      const perBox = (field: string, [one, many]: [string, string], isItem: (item: unknown) => boolean, itemRule: string) => {
        const list = record[field];
        if (!isList(list)) throw broken(`${field} is ${show(list)}, not a list of ${many}, one per box`);
        if (list.length !== boxes.length)
          throw broken(`${field} has ${list.length} entries for ${boxes.length} boxes: one ${one} per box`);
        for (let i = 0; i < list.length; i++)
          if (!isItem(list[i])) throw broken(`${field}[${i}] is ${show(list[i])}, ${itemRule}`);
        return list;
      };
      if (role !== 'output') perBox('objects', ['integer class id', 'integer class ids'], isClassId, 'not an integer class id');
      if (role !== 'label') perBox('scores', ['score', 'scores'], isFiniteNumber, 'not a finite number');
      if (role !== 'output') return;
      const isRow = (row: unknown) => isList(row) && row.length > 0;
      const rows = perBox('pre_softmax', ['row of class scores', 'rows of class scores'], isRow, 'not a list of class scores');
      for (let r = 0; r < rows.length; r++) {
        const row = rows[r] as ArrayLike<unknown>;
        for (let c = 0; c < row.length; c++) {
          if (!isFiniteNumber(row[c])) throw broken(`pre_softmax[${r}][${c}] is ${show(row[c])}, not a finite number`);
        }
        rowLength ??= row.length;
        if (row.length !== rowLength) {
          throw broken(`pre_softmax[${r}] has ${row.length} class scores where the rows before have ${rowLength}`);
        }
      }
    },
  };
}

/** What is wrong with a box, or undefined: four finite numbers with x1 ≤ x2 and y1 ≤ y2. */
function boxProblem(box: unknown): string | undefined {
  if (!isList(box) || box.length !== 4 || !Array.from(box as ArrayLike<unknown>).every(isFiniteNumber)) {
    return `is ${show(box)}, not four finite numbers [x1, y1, x2, y2]`;
  }
  const [x1, y1, x2, y2] = Array.from(box as ArrayLike<number>);
  if (x1 > x2) return `has x1 > x2 (${x1} > ${x2})`;
  if (y1 > y2) return `has y1 > y2 (${y1} > ${y2})`;
  return undefined;
}

function shapeError(role: ResultRole, index: number | string, task: AlectioTask, rule: string): ResultContractError {
  return new ResultContractError(`${SUBJECT[role]} for index ${index} breaks the ${task} shape: ${rule}`);
}

function isFiniteNumber(value: unknown): boolean {
  return typeof value === 'number' && Number.isFinite(value);
}

function isClassId(value: unknown): boolean {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * A detection value's fields as they go on the wire, read once: what its `toJSON` returns, a
 * Map's entries, an object's own enumerable fields (a class's getters and inherited fields are
 * not sent, so they are not checked either). Undefined for what is no object.
 */
function wireView(value: unknown): Record<string, unknown> | undefined {
  let view = value;
  if (view !== null && typeof view === 'object' && typeof (view as { toJSON?: unknown }).toJSON === 'function') {
    view = (view as { toJSON(): unknown }).toJSON();
  }
  if (view instanceof Map) return Object.fromEntries([...view].map(([key, field]) => [String(key), field]));
  if (view === null || typeof view !== 'object' || isList(view)) return undefined;
  const fields: Record<string, unknown> = {};
  for (const key of Object.keys(view)) fields[key] = (view as Record<string, unknown>)[key];
  return fields;
}
