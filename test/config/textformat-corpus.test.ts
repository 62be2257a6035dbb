import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parseModelConfig, printModelConfig, TextFormatError } from '../../src/config/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';
import { protocCanonical } from '../helpers/protoc.js';

/** Every text-format file of the corpus: configs, partial configs, and Triton's completed `expected` configs. */
function corpusFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const p = path.join(dir, name);
      if (statSync(p).isDirectory()) walk(p);
      else if (name.endsWith('.pbtxt') || (name === 'expected' && p.includes('autofill_noplatform_success')))
        out.push(p);
    }
  };
  walk(testdata('triton-configs'));
  return out.sort();
}

const countMapEntries = (canonical: string) => (canonical.match(/^\s*key: /gm) ?? []).length;

test('every Triton config in the corpus reads and prints exactly as protoc does, and printing is a fixed point', {
  skip: skipWithout(testdata('triton-configs')),
}, () => {
  const files = corpusFiles();
  assert.ok(files.length >= 300, `corpus too small: ${files.length}`);
  let agreed = 0;
  let rejectedByBoth = 0;
  let lastKeyWins = 0;
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const reference = protocCanonical(text);
    if (!reference.ok) {
      assert.throws(() => parseModelConfig(text), TextFormatError, `${file}: protoc rejects it, so must we`);
      rejectedByBoth++;
      continue;
    }
    const printed = printModelConfig(parseModelConfig(text, { source: file }));
    if (printed !== reference.text) {
      // protoc's dynamic message keeps every entry of a map key given twice; Triton's generated map keeps the last
      // (its own suite relies on that: ensemble/tensor_to_input_overmapped). That is the only difference allowed.
      assert.equal(printed, printModelConfig(parseModelConfig(reference.text)), `${file}: differs from protoc's`);
      assert.notEqual(countMapEntries(reference.text), countMapEntries(printed), `${file}: differs from protoc's`);
      lastKeyWins++;
    } else {
      agreed++;
    }
    assert.equal(printModelConfig(parseModelConfig(printed)), printed, `${file}: print is not a fixed point`);
  }
  assert.equal(agreed + lastKeyWins + rejectedByBoth, files.length);
  process.stdout.write(
    `# corpus: ${files.length} files, ${agreed} identical to protoc, ${rejectedByBoth} rejected by both, ${lastKeyWins} with a repeated map key (last wins)\n`,
  );
});
