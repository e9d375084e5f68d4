// The simulator's seeded generator (mulberry32), shared rather than copied: the same seed gives
// the same data and the same model on every machine.
export { seededRandom as mulberry32 } from 'nestjs-alectio/simulator';

/** Shuffles `order` in place (Fisher-Yates) with `random`. */
export function shuffle(order: Int32Array, random: () => number): void {
  for (let i = order.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
}
