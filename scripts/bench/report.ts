import { TARGETS, type TargetName } from './targets.js';

/** One line of the results table; with a target, `value` is what its check is given. */
export interface Row {
  measure: string;
  result: string;
  target?: TargetName;
  value?: number;
}

export function table(rows: Row[], footer: string): string {
  const cells = rows.map((row) => {
    const target = row.target === undefined ? undefined : TARGETS[row.target];
    const verdict =
      target === undefined || row.value === undefined || Number.isNaN(row.value)
        ? ''
        : target.met(row.value)
          ? 'met'
          : '**missed**';
    return [row.measure, row.result, target?.text ?? '', verdict];
  });
  return [
    '| measure | result | target | |',
    '| --- | --- | --- | --- |',
    ...cells.map((line) => `| ${line.join(' | ')} |`),
    '',
    footer,
    '',
  ].join('\n');
}
