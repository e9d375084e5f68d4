const BETA1 = 0.9;
const BETA2 = 0.999;

/**
 * Adam (Kingma & Ba, 2015), its moments kept for one fit. `step` moves every weight; a sparse
 * learner calls `tick` once per step and `update` for the weights that have a gradient, so that
 * a weight moves only at a step that gives it one (TensorFlow's LazyAdam).
 */
export class Adam {
  private readonly m: Float64Array;
  private readonly v: Float64Array;
  private correction1 = 1;
  private correction2 = 1;
  private t = 0;

  constructor(
    size: number,
    private readonly rate: number,
  ) {
    this.m = new Float64Array(size);
    this.v = new Float64Array(size);
  }

  /** One step over every weight, by `gradient` × `scale`. */
  step(weights: Float64Array, gradient: Float64Array, scale: number): void {
    this.tick();
    for (let i = 0; i < weights.length; i++) this.update(weights, i, gradient[i] * scale);
  }

  /** Starts a step. */
  tick(): void {
    this.t++;
    this.correction1 = 1 - BETA1 ** this.t;
    this.correction2 = 1 - BETA2 ** this.t;
  }

  /** Moves weight `i` of `weights` by its gradient `g` at this step. */
  update(weights: Float64Array, i: number, g: number): void {
    this.m[i] = BETA1 * this.m[i] + (1 - BETA1) * g;
    this.v[i] = BETA2 * this.v[i] + (1 - BETA2) * g * g;
    weights[i] -= (this.rate * (this.m[i] / this.correction1)) / (Math.sqrt(this.v[i] / this.correction2) + 1e-8);
  }
}
