// The oracle teacher of the shapes world (`halo-label --teacher oracle`): decodes a sample's
// video, parses its prompt with the world's grammar and scores the video and every patch on the
// five aspects from pixels (src/teachers/oracle-judge.ts; docs/oracle.md). In: a label request
// (a sample record, with patch boxes when patch labels are asked); out: Labels with
// source {teacher: 'oracle', version: 'oracle@1'} and per-video `facts`. A prompt outside the
// grammar is a DataError naming the record's line and `prompt`: the oracle does not guess.
import { DataError, HaloError, type Place } from '../cli/errors.js';
import type { Box } from '../halo/patches.js';
import { readPatchedVideo } from '../halo/patchify.js';
import { MediaError, readVideo, type Video } from '../media/video.js';
import type { Labels, PatchGeometry } from '../records/schemas.js';
import { parsePrompt, PromptError, type Scene } from '../world/grammar.js';
import { ORACLE_NAME, ORACLE_VERSION, judgeVideo } from './oracle-judge.js';
import type { TeacherContext } from './registry.js';
import type { LabelRequest, Teacher } from './teacher.js';

export {
  DEFECT_THRESHOLD,
  isDefective,
  judgeVideo,
  ORACLE_CONSTANTS,
  ORACLE_NAME,
  ORACLE_VERSION,
  type Judgement,
  type ObjectFacts,
  type PatchScores,
  type VideoFacts,
  type VideoScores,
} from './oracle-judge.js';

/** The scene of a record's prompt, or a DataError naming the place and `prompt`. */
export function sceneOfPrompt(prompt: string, place: Place): Scene {
  try {
    return parsePrompt(prompt);
  } catch (e) {
    if (e instanceof PromptError) throw new DataError(place, 'prompt', `not a prompt of the shapes world, so the oracle cannot judge it: ${e.detail}`);
    throw e;
  }
}

/** Check patch boxes against the decoded video; a DataError names the bad field. */
function checkBoxes(patches: PatchGeometry, video: Video, place: Place): Box[] {
  const [T, H, W] = patches.video;
  patches.boxes.forEach((b, i) => {
    const [t0, t1, y0, y1, x0, x1] = b;
    if (!(t0 >= 0 && t0 < t1 && t1 <= T && y0 >= 0 && y0 < y1 && y1 <= H && x0 >= 0 && x0 < x1 && x1 <= W)) {
      throw new DataError(place, `patches.boxes[${i}]`, `expected a box inside the ${T}×${H}×${W} video, got [${b.join(', ')}]`);
    }
  });
  return patches.boxes as Box[];
}

export class OracleTeacher implements Teacher {
  readonly name = ORACLE_NAME;
  private videos = 0;
  private patches = 0;
  private judgeSeconds = 0;
  private decodeSeconds = 0;

  constructor(_context?: TeacherContext) {}

  async label(request: LabelRequest): Promise<Labels> {
    const { record, place, videoPath } = request;
    const scene = sceneOfPrompt(record.prompt, place);
    const patches = request.wantPatches ? record.patches : undefined;
    if (request.wantPatches && !patches) throw new DataError(place, 'patches', 'patch labels were asked but the record has no patches (run halo-patchify first)');
    const started = performance.now();
    let video: Video;
    try {
      // with patches, decode the frames halo-patchify cut (its sampling: frames, rate, size)
      video = patches ? await readPatchedVideo(videoPath, patches) : await readVideo(videoPath);
    } catch (e) {
      if (e instanceof MediaError) throw new DataError(place, 'video', e.reason);
      if (e instanceof HaloError) throw new DataError(place, 'patches.video', e.message);
      throw e;
    }
    const decoded = performance.now();
    const boxes = patches ? checkBoxes(patches, video, place) : undefined;
    const judged = judgeVideo(scene, video, boxes);
    this.judgeSeconds += (performance.now() - decoded) / 1000;
    this.decodeSeconds += (decoded - started) / 1000;
    this.videos++;
    if (boxes) this.patches += boxes.length;
    const labels: Labels = {
      source: { teacher: ORACLE_NAME, version: ORACLE_VERSION },
      video: request.wantVideo === false ? {} : judged.video,
      facts: judged.facts,
    };
    if (boxes) labels.patch = judged.patch;
    return labels;
  }

  summary(): string[] {
    if (this.videos === 0) return [];
    const secs = this.judgeSeconds;
    const rate = secs > 0 ? (this.patches > 0 ? `${Math.round(this.patches / secs)} patches/s` : `${Math.round(this.videos / secs)} videos/s`) : 'no time';
    return [
      `oracle: ${this.videos} videos, ${this.patches} patches judged in ${secs.toFixed(2)} s (${rate}), decoding took ${this.decodeSeconds.toFixed(2)} s`,
    ];
  }
}

/** The factory halo-label's teacher registry calls. */
export function createOracleTeacher(context?: TeacherContext): Teacher {
  return new OracleTeacher(context);
}
