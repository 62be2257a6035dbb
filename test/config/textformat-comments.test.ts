/**
 * The text-format codec carries comments (src/config/textformat/comments.ts): each stays with its field when the
 * canonical printer reorders fields, one whose field is gone moves to the end of the enclosing message, and over
 * Triton's own configs (220 of which have comments, mostly license headers) none is lost and the output without
 * them is exactly the canonical print.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, test } from 'node:test';
import { type ConfigComments, parseModelConfig, printModelConfig } from '../../src/config/index.js';
import { skipWithout, testdata } from '../helpers/paths.js';

function roundTrip(text: string, edit?: (c: ReturnType<typeof parseModelConfig>) => void): string {
  const comments: ConfigComments = new Map();
  const config = parseModelConfig(text, { comments });
  edit?.(config);
  return printModelConfig(config, { comments });
}

const count = (comments: ConfigComments) =>
  [...comments.values()].reduce((n, c) => n + c.before.length + (c.after !== undefined ? 1 : 0), 0);

describe('comments in config.pbtxt', () => {
  test('above a field, after it, before a closing brace; a field moved by canonical order takes its comment', () => {
    const text = [
      '# owner: team-vision',
      'max_batch_size: 8   # do not raise above 32',
      'name: "m"',
      'instance_group [ { # the GPU group',
      '  count: 2 },',
      '  { kind: KIND_CPU } ]',
      'dynamic_batching {',
      '  max_queue_delay_microseconds: 100',
      '  # tuned on A100',
      '} # batching',
      '# end of file',
      '',
    ].join('\n');
    assert.equal(
      roundTrip(text),
      [
        'name: "m"',
        '# owner: team-vision',
        'max_batch_size: 8  # do not raise above 32',
        'instance_group {',
        '  # the GPU group',
        '  count: 2',
        '}',
        'instance_group {',
        '  kind: KIND_CPU',
        '}',
        'dynamic_batching {',
        '  max_queue_delay_microseconds: 100',
        '  # tuned on A100',
        '}  # batching',
        '# end of file',
        '',
      ].join('\n'),
    );
  });

  test('the comment of a removed field (or one set to its default) goes to the end of the enclosing message', () => {
    const text = [
      'name: "m"',
      'dynamic_batching {',
      '  # short queue',
      '  max_queue_delay_microseconds: 100',
      '  preserve_ordering: true # keep order',
      '}',
      'instance_group { count: 2 } # two',
      'instance_group { count: 1 } # one',
      '',
    ].join('\n');
    const out = roundTrip(text, (c) => {
      c.dynamicBatching = { maxQueueDelayMicroseconds: 0, preserveOrdering: true };
      c.instanceGroup = c.instanceGroup?.slice(0, 1);
    });
    assert.equal(
      out,
      [
        'name: "m"',
        'instance_group {',
        '  count: 2',
        '}  # two',
        'dynamic_batching {',
        '  preserve_ordering: true  # keep order',
        '  # short queue',
        '}',
        '# one',
        '',
      ].join('\n'),
    );
    // Nothing dropped, even with the whole message gone.
    const gone = roundTrip(text, (c) => {
      delete c.dynamicBatching;
    });
    for (const c of ['# short queue', '# keep order', '# two', '# one']) assert.ok(gone.includes(c), gone);
  });

  test('map entries by position; a "#" inside a string is no comment; without the map, output is canonical', () => {
    const text = 'name: "a#b"\nparameters { key: "k" value { string_value: "v" } } # the k\n';
    assert.equal(
      roundTrip(text),
      'name: "a#b"\nparameters {\n  key: "k"\n  value {\n    string_value: "v"\n  }\n}  # the k\n',
    );
    assert.equal(printModelConfig(parseModelConfig(text)), printModelConfig(parseModelConfig(roundTrip(text))));
  });

  test('every Triton config in the corpus keeps all its comments, and without them prints canonically', {
    skip: skipWithout(testdata('triton-configs')),
  }, () => {
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const name of readdirSync(dir)) {
        const p = path.join(dir, name);
        if (statSync(p).isDirectory()) walk(p);
        else if (name.endsWith('.pbtxt')) files.push(p);
      }
    };
    walk(testdata('triton-configs'));
    let withComments = 0;
    let total = 0;
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      const comments: ConfigComments = new Map();
      let config: ReturnType<typeof parseModelConfig>;
      try {
        config = parseModelConfig(text, { comments });
      } catch {
        continue; // the corpus test checks that these are refused as protoc refuses them
      }
      const printed = printModelConfig(config, { comments });
      const again: ConfigComments = new Map();
      const reparsed = parseModelConfig(printed, { comments: again });
      assert.equal(count(again), count(comments), `${file}: every comment is printed`);
      assert.equal(printModelConfig(reparsed, { comments: again }), printed, `${file}: a fixed point`);
      // Taking the comments out again leaves exactly the canonical text.
      const bare = printed
        .split('\n')
        .filter((l) => !/^\s*#/.test(l))
        .map((l) => l.replace(/ {2}#.*$/, ''))
        .join('\n');
      assert.equal(bare, printModelConfig(config), `${file}: canonical without its comments`);
      if (comments.size > 0) withComments++;
      total += count(comments);
    }
    assert.ok(withComments >= 200, `only ${withComments} corpus files had comments`);
    assert.ok(total > withComments);
  });
});
