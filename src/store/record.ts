/**
 * msb's record of a published version, kept in the version directory itself as `.msb-version.json`. It appears in
 * the same rename as the model file, so it can never disagree with the version. Triton ignores it: backends open
 * their model file by name (`model.onnx`, `model.plan`, the `model.savedmodel/` directory, `model.py`, ...) and
 * never list the version directory; a SavedModel's own directory is left untouched, and for the Python backend
 * the file is not a module. It also keeps every version directory non-empty (ensembles included), which makes
 * rename(2) itself refuse a second writer that picked the same number. On an object store it is written after the
 * model file (commit order), with the SHA-256 of each object computed while uploading.
 */
export const VERSION_RECORD = '.msb-version.json';

export interface VersionRecord {
  msb: 1;
  publishKey?: string;
  source?: string;
  /** What was taken off the source to make the published file (an Ultralytics engine's metadata). */
  container?: { kind: string; metadata: Record<string, unknown> };
  publishedAt: string;
  /** Every file of the version with its size, and its SHA-256 where the storage computed it (object stores). */
  files: { path: string; size: number; sha256?: string }[];
}
