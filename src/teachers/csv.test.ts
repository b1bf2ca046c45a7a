// halo-label --teacher csv: human annotations from a CSV file, averaged over annotators.
import test from 'ava';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ROOT, jsonl, runCli, tempDir } from '../testing/cli.js';
import { makeLabelFixture } from './label-fixtures.js';
import { patchesInBox } from './csv.js';

let dir = '';
let records: Record<string, any>[] = [];

test.before(async () => {
  dir = await tempDir('halo-label-csv-');
  records = await makeLabelFixture(dir, { videos: 3, grid: [2, 2, 2], storyboards: false });
});

async function csv(name: string, text: string): Promise<string> {
  await writeFile(path.join(dir, name), text);
  return name;
}

const label = (file: string, extra: string[] = [], input?: string) =>
  runCli('label', [...(input === undefined ? ['samples.jsonl'] : []), '--teacher', 'csv', '--csv', file, ...extra], { cwd: dir, input });

test('annotators are averaged with their count; patch index, box and video path rows; nulls carry reasons', async (t) => {
  const file = await csv(
    'ratings.csv',
    [
      'video,patch,box,aspect,score,annotator',
      'p0000-s00,,,visual_quality,4,alice',
      'p0000-s00,,,visual_quality,3,bob',
      'p0000-s00,,,visual_quality,2,carol',
      'p0000-s00,,,text_alignment,4,alice',
      'p0000-s00,3,,visual_quality,1,alice',
      'p0000-s00,3,,visual_quality,2,bob',
      'p0000-s00,,"0,8,0,16,0,32",temporal_consistency,2,bob',
      'videos/p0001-s00.mp4,,,dynamic_degree,3,alice',
      'p0001-s00,,,overall,2,alice',
      'p9999-s00,,,visual_quality,3,alice',
    ].join('\n') + '\n',
  );
  const r = await label(file);
  t.is(r.exitCode, 0, r.stderr);
  t.deepEqual(r.records.map((x) => x.sample_id), ['p0000-s00', 'p0001-s00', 'p0002-s00']);
  const [a, b, c] = r.records.map((x) => x.labels) as [any, any, any];
  t.deepEqual(a.source, { teacher: 'csv', version: '1', file: 'ratings.csv', sha256: a.source.sha256 });
  t.is(a.video.visual_quality, 3);
  t.is(a.counts.video.visual_quality, 3);
  t.is(a.video.text_alignment, 4);
  t.is(a.video.dynamic_degree, null);
  t.is(a.missing['video.dynamic_degree'], 'not annotated in ratings.csv');
  t.is(a.video.overall, 3.5, 'overall = mean of the annotated aspects');
  t.is(a.annotators, 3);
  t.is(a.patch.visual_quality[3], 1.5);
  t.is(a.counts.patch.visual_quality[3], 2);
  t.is(a.patch.visual_quality[0], null);
  t.is(a.missing['patch.visual_quality[0]'], 'not annotated in ratings.csv');
  t.deepEqual(a.patch.temporal_consistency, [2, 2, null, null, null, null, null, null], 'the box covers the top half of the first segment');
  t.is(a.missing['patch.factual_consistency'], 'no patch annotated in ratings.csv');
  t.is(b.video.dynamic_degree, 3, 'matched by video path, relative to the CSV');
  t.is(b.video.overall, 2, 'an annotated overall wins over the mean');
  t.is(c.video.visual_quality, null);
  t.is(c.annotators, 0);
  t.regex(r.stderr, /ratings\.csv:11: video: 'p9999-s00' matches no input record/);
  t.regex(r.stderr, /10 rows from 3 annotators; 3 videos labeled, 1 of them with no annotation/);
});

test('--level video ignores patch rows; records without patches get video labels', async (t) => {
  const file = await csv('v.csv', 'sample_id,aspect,score\np0000-s00,visual_quality,2\n');
  const r = await label(file, ['--level', 'video']);
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records[0]!.labels.patch, undefined);
  t.is(r.records[0]!.labels.video.visual_quality, 2);
  const plain = records.map(({ patches, ...x }) => x);
  const p = await label(file, [], jsonl(plain));
  t.is(p.exitCode, 0, p.stderr);
  t.is(p.records[0]!.labels.patch, undefined);
});

test('bad input: out-of-range score names the CSV line and field', async (t) => {
  const file = await csv('range.csv', 'video,aspect,score,annotator\np0000-s00,visual_quality,3,a\np0000-s00,text_alignment,5,a\n');
  const r = await label(file);
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /^halo-label: range\.csv:3: score: expected a number from 1 to 4, got '5'/m);
  t.is(r.records.length, 0);
});

test('bad input: duplicate rows name both lines; --skip-invalid drops them with a warning', async (t) => {
  const text = 'video,patch,aspect,score,annotator\np0000-s00,1,visual_quality,3,a\np0000-s00,1,visual_quality,3,b\np0000-s00,1,visual_quality,4,a\n';
  const file = await csv('dup.csv', text);
  const r = await label(file);
  t.is(r.exitCode, 1);
  t.regex(r.stderr, /dup\.csv:4: duplicate of line 2 \(same video, patch, aspect and annotator\)/);
  const s = await label(file, ['--skip-invalid']);
  t.is(s.exitCode, 0, s.stderr);
  t.regex(s.stderr, /warning: dup\.csv:4: duplicate of line 2 .*\(row skipped\)/);
  t.is(s.records[0]!.labels.patch.visual_quality[1], 3);
});

test('bad input: unknown aspect, bad patch index, bad box, missing column', async (t) => {
  const aspect = await label(await csv('aspect.csv', 'video,aspect,score\np0000-s00,sharpness,3\n'));
  t.regex(aspect.stderr, /aspect\.csv:2: aspect: expected one of visual_quality, .*overall, got 'sharpness'/);
  const index = await label(await csv('index.csv', 'video,patch,aspect,score\np0000-s00,8,visual_quality,3\n'));
  t.is(index.exitCode, 1);
  t.regex(index.stderr, /index\.csv:2: patch: index 8 is out of range for p0000-s00, which has 8 patches/);
  const neg = await label(await csv('neg.csv', 'video,patch,aspect,score\np0000-s00,-1,visual_quality,3\n'));
  t.regex(neg.stderr, /neg\.csv:2: patch: expected a patch index \(an integer ≥ 0\), got '-1'/);
  const box = await label(await csv('box.csv', 'video,box,aspect,score\np0000-s00,0 8 0 16,visual_quality,3\n'));
  t.regex(box.stderr, /box\.csv:2: box: expected 6 integers t0 t1 y0 y1 x0 x1/);
  const column = await label(await csv('column.csv', 'video,aspect,rating\np0000-s00,visual_quality,3\n'));
  t.is(column.exitCode, 1);
  t.regex(column.stderr, /column\.csv:1: score: missing column: expected a header row with the columns video, patch or box \(optional\), aspect, score, annotator \(optional\)/);
});

test('bad input: unreadable and malformed CSV files; --csv missing', async (t) => {
  const gone = await label('no-such.csv');
  t.is(gone.exitCode, 1);
  t.regex(gone.stderr, /no-such\.csv: cannot read the annotation file \(ENOENT\)/);
  const quote = await label(await csv('quote.csv', 'video,aspect,score\np0000-s00,visual_quality,3\n"p0001-s00,visual_quality,3\n'));
  t.is(quote.exitCode, 1);
  t.regex(quote.stderr, /quote\.csv:\d+: not a readable CSV file \(Quote Not Closed/);
  const width = await label(await csv('width.csv', 'video,aspect,score\np0000-s00,visual_quality,3,extra\n'));
  t.regex(width.stderr, /width\.csv:2: not a readable CSV file \(Invalid Record Length/);
  const none = await runCli('label', ['samples.jsonl', '--teacher', 'csv'], { cwd: dir });
  t.is(none.exitCode, 2);
  t.regex(none.stderr, /--teacher csv needs --csv FILE/);
});

test('the shipped fixture and its ratings label cleanly from another folder', async (t) => {
  const r = await runCli('label', ['fixtures/labels/samples.jsonl', '--teacher', 'csv', '--csv', 'fixtures/labels/ratings.csv'], { cwd: ROOT });
  t.is(r.exitCode, 0, r.stderr);
  t.is(r.records.length, 2);
  t.is(r.records[0]!.labels.video.visual_quality, 3.5);
  t.is(r.records[1]!.labels.video.visual_quality, 2, 'the path row matched');
  t.false(/matches no input record/.test(r.stderr));
});

test('boxes select the patches at least half inside them', (t) => {
  const boxes = [
    [0, 4, 0, 8, 0, 8],
    [0, 4, 0, 8, 8, 16],
    [4, 8, 0, 8, 0, 8],
  ];
  t.deepEqual(patchesInBox(boxes, [0, 4, 0, 8, 0, 8]), [0]);
  t.deepEqual(patchesInBox(boxes, [0, 8, 0, 8, 0, 12]), [0, 1, 2]);
  t.deepEqual(patchesInBox(boxes, [0, 8, 0, 8, 0, 11]), [0, 2]);
  t.deepEqual(patchesInBox(boxes, [0, 1, 0, 1, 0, 1]), []);
});
