export const log = (line: string) => process.stderr.write(`bench: ${line}\n`);
export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
export const round = (value: number, digits = 0) => Number(value.toFixed(digits));
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
export const n = (value: number) => value.toLocaleString('en-US');
export const pct = (value: number) => `${(value * 100).toFixed(0)}%`;
