// nestjs-alectio/simulator: the platform's active-learning loop, played against any server that
// speaks the protocol. Plain Node, no Nest; the `nestjs-alectio simulate` command is built on it.

/** `runLoops`: the loop itself (train, test, infer, select, loop after loop) against a ProtocolClient. */
export { runLoops } from './loop.simulator.js';
/** A run's settings, the loop's callbacks and phases, and the record of each run and of each of its loops. */
export type { LoopEvents, LoopRecord, Phase, RunRecord, RunSettings } from './loop.simulator.js';
/** `classificationMetrics`: accuracy, per-class precision/recall/F1 and the confusion matrix of a /test answer. */
export { classificationMetrics } from './metrics.js';
/** Detection metrics: mAP at IoU 0.5 (VOC), COCO mAP, AP per class, the confusion with background. */
export type { DetectionMetrics } from './detection-metrics.js';
export { averagePrecision, detectionMetrics, iou } from './detection-metrics.js';
/** The tasks scored, and each one's headline figure (accuracy, mAP@0.5). */
export type { LoopMetrics, SimulatedTask } from './headline.js';
export { HEADLINE, headline, TASKS } from './headline.js';
/** What `classificationMetrics` returns. */
export type { ClassificationMetrics } from './metrics.js';
/** `ProtocolClient`: the platform's side of the HTTP protocol; `SimulationError`: a server that broke it. */
export { ProtocolClient, SimulationError } from './protocol.client.js';
/** One answer of the server, with its sizes and its duration. */
export type { Exchange } from './protocol.client.js';
/** The query strategies: `STRATEGIES`, `selectNext` (the next batch), `uncertainty`, and which need the labeled outputs. */
export { AGGREGATES, needsLabeledOutputs, selectNext, SHORTLIST_FACTOR, STRATEGIES, uncertainty } from './query-strategies.js';
/** The name of a query strategy. */
export type { Aggregate, SelectionSettings, StrategyName, UncertaintyName } from './query-strategies.js';
/** Reading /infer's outputs: `softmax`, `logitsOf`, `preSoftmaxRowsOf`, and `vectorsOf` (what core-set measures). */
export { logitsOf, preSoftmaxRowsOf, softmax, vectorsOf } from './infer-outputs.js';
/** `kCenterGreedy`: the core-set selection over plain vectors. */
export { kCenterGreedy } from './k-center.js';
/** `reportHtml`: the report as a self-contained HTML page, the learning curve and the tables. */
export { reportHtml } from './report.html.js';
/** `summaryMarkdown`: the report's summary as the Markdown table the command prints. */
export { summaryMarkdown } from './report.markdown.js';
/** `buildReport`: the report of the runs so far; `summarize`: its rows of each strategy's figure (mean and spread) per labeled count. */
export { buildReport, summarize } from './report.model.js';
/** The comparison: `compareStrategies`, and its figures `spreadOf`, `areaUnderCurve`, `labelsToReach`. */
export type { Comparison, CurvePoint, LabelsToTarget, Spread, StrategyComparison } from './comparison.js';
export { areaUnderCurve, compareStrategies, labelsToReach, spreadOf } from './comparison.js';
/** The report's model: its configuration, its summary rows and the whole report (report.json). */
export type { SimulationConfig, SimulationReport, SummaryRow } from './report.model.js';
/** `writeReport`: writes report.json and report.html into a folder, each file replaced whole. */
export { writeReport } from './report.writer.js';
/** `seededRandom`: the repeatable generator runs draw from; `sample`: a uniform draw without replacement. */
export { sample, seededRandom } from './seeded-random.js';
/** `simulateCommand`: `nestjs-alectio simulate` as a function returning the exit status; `SIMULATE_HELP`: its help. */
export { SIMULATE_HELP, simulateCommand } from './simulate.command.js';
/** Where `simulateCommand` prints, and the signal that interrupts it. */
export type { SimulateIo } from './simulate.command.js';
