/**
 * A node:test reporter that prints nothing while tests run and, at the end, the tests that were skipped, grouped by
 * reason: a clone without ../shared/testdata passes, and says what it did not test and why. Runs beside the usual
 * reporter (package.json "test": --test-reporter=spec --test-reporter=./test/helpers/skip-summary.mjs). Plain
 * JavaScript: the runner loads reporters before tsx is registered.
 *
 * @param {AsyncIterable<{ type: string, data: { name: string, skip?: string | boolean, file?: string } }>} source
 */
export default async function* skipSummary(source) {
  /** @type {Map<string, string[]>} */
  const byReason = new Map();
  for await (const event of source) {
    if (event.type !== 'test:pass' || event.data.skip === undefined || event.data.skip === false) continue;
    const reason = typeof event.data.skip === 'string' ? event.data.skip : '(no reason given)';
    const where = event.data.file ? `${event.data.file.replace(/^.*\/test\//, 'test/')}: ` : '';
    byReason.set(reason, [...(byReason.get(reason) ?? []), `${where}${event.data.name}`]);
  }
  if (byReason.size === 0) return;
  const total = [...byReason.values()].reduce((n, names) => n + names.length, 0);
  yield `\nskipped: ${total} test${total === 1 ? '' : 's'}\n`;
  for (const [reason, names] of byReason) yield `  ${reason}\n${names.map((n) => `    - ${n}\n`).join('')}`;
}
