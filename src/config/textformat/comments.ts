/**
 * Comments of a config.pbtxt, carried through parse → edit → print so an edited config keeps what its owners wrote
 * in it. Protobuf's own text format drops them; Triton ignores them. Each comment belongs to one field, named by its
 * path in proto field names with an index for each element of a repeated field (`instance_group[0].count`, the
 * same form `msb config set --set` takes):
 *
 * - `before`: the comment lines right above the field (after the previous field);
 * - `after`: a comment on the same line as the field's end (for a message: its closing `}`);
 * - comments before a message's closing `}` (or the end of the file) belong to the message, under `PATH#end`
 *   (`#end` for the file).
 *
 * When the printer reorders fields (canonical order is by field number) a comment moves with its field. When its
 * field is gone from the config (removed, or printed no more because it was set to its default), the comment is not
 * dropped: it goes to the end of the innermost enclosing message that is still printed, else the end of the file.
 * Elements of repeated fields and map entries are named by position, so a comment stays with the element at its
 * index.
 */
export interface FieldComments {
  before: string[];
  after?: string;
}

/** Comments by field path (see above). */
export type ConfigComments = Map<string, FieldComments>;

/** Key suffix of the comments before a message's closing brace (alone: the end of the file). */
export const END = '#end';
