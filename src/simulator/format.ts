/** A share (0 to 1) as people read it in the summary, the progress lines and the page: one decimal and a % sign. */
export const percent = (value: number): string => `${(value * 100).toFixed(1)}%`;
