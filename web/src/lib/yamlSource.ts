// YAML typed by a person: read it, and find the line where a field of it is written, so that
// an error about the field can point there.
import { LineCounter, isMap, isNode, isScalar, isSeq, parseDocument } from "yaml";

/** A field's place in a document: keys of mappings and indexes of sequences. */
export type FieldPath = readonly (string | number)[];

export type ParsedYaml =
  | { ok: true; value: unknown }
  | { ok: false; message: string; line: number };

/** The document's value, or its first syntax error and the line it is on (1-based). */
export function parseYaml(text: string): ParsedYaml {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false });
  const [error] = document.errors;
  if (error) {
    return { ok: false, message: error.message, line: lineAt(lineCounter, error.pos[0]) };
  }
  try {
    return { ok: true, value: document.toJS() };
  } catch (failure) {
    // toJS refuses what cannot be a JSON value, e.g. an alias expanded too many times
    return { ok: false, message: failure instanceof Error ? failure.message : String(failure), line: 1 };
  }
}

/** The line (1-based) where `path` is written in `text`: the line of its key (or of its item
 * in a sequence). When the path goes on past what the document holds (a field that is
 * missing), the line of the deepest part that is there; undefined when not even the first
 * part is there, or the text does not parse. */
export function lineOfPath(text: string, path: FieldPath): number | undefined {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter });
  if (document.errors.length) {
    return undefined;
  }
  let node: unknown = document.contents;
  let offset: number | undefined;
  for (const part of path) {
    if (isMap(node)) {
      const pair = node.items.find((item) => isScalar(item.key) && String(item.key.value) === String(part));
      if (!pair || !isScalar(pair.key)) {
        break;
      }
      offset = pair.key.range?.[0] ?? offset;
      node = pair.value;
    } else if (isSeq(node) && typeof part === "number") {
      const item: unknown = node.items[part];
      if (!isNode(item)) {
        break;
      }
      offset = item.range?.[0] ?? offset;
      node = item;
    } else {
      break;
    }
  }
  return offset === undefined ? undefined : lineAt(lineCounter, offset);
}

function lineAt(lineCounter: LineCounter, offset: number): number {
  return Math.max(lineCounter.linePos(offset).line, 1);
}

/** Where line `line` (1-based) of `text` starts and ends, as string offsets. */
export function lineRange(text: string, line: number): [number, number] {
  let start = 0;
  for (let n = 1; n < line; n++) {
    const newline = text.indexOf("\n", start);
    if (newline < 0) {
      break;
    }
    start = newline + 1;
  }
  const end = text.indexOf("\n", start);
  return [start, end < 0 ? text.length : end];
}
