import type { FieldProblem } from "../api/validation";
import { formatPath } from "../api/validation";
import type { FieldPath } from "../lib/yamlSource";

export type EditorProblem =
  | { kind: "syntax"; message: string; line: number }
  | { kind: "fields"; heading: string; fields: FieldProblem[] }
  | { kind: "message"; heading: string; message: string };

interface EditorProblemNoticeProps {
  id: string;
  problem: EditorProblem | undefined;
  /** The line of the YAML where a field is written, if it is in the YAML at all. */
  lineOf: (path: FieldPath) => number | undefined;
  onGoToLine: (line: number) => void;
}

function LineButton({ line, onGoToLine }: { line: number; onGoToLine: (line: number) => void }) {
  return (
    <button type="button" className="link-button" onClick={() => onGoToLine(line)}>
      line {line}
    </button>
  );
}

/** What is wrong with the YAML or the object: a syntax error, the API's errors against each
 * field (its path, its line in the YAML, the message), or the API's sentence. */
export function EditorProblemNotice({ id, problem, lineOf, onGoToLine }: EditorProblemNoticeProps) {
  if (!problem) {
    return null;
  }
  if (problem.kind === "syntax") {
    return (
      <div id={id} className="notice notice-error" role="alert">
        YAML syntax error on <LineButton line={problem.line} onGoToLine={onGoToLine} />: {problem.message}
      </div>
    );
  }
  if (problem.kind === "message") {
    return (
      <div id={id} className="notice notice-error" role="alert">
        {problem.heading}: {problem.message}
      </div>
    );
  }
  return (
    <div id={id} className="notice notice-error" role="alert">
      <p className="problems-heading">{problem.heading}</p>
      <ul className="field-problems">
        {problem.fields.map((field, index) => {
          const line = lineOf(field.path);
          return (
            <li key={index}>
              <code>{formatPath(field.path) || "the document"}</code>
              {line !== undefined && (
                <>
                  {" "}
                  <span className="nowrap">(<LineButton line={line} onGoToLine={onGoToLine} />)</span>
                </>
              )}
              : {field.message}
            </li>
          );
        })}
      </ul>
    </div>
  );
}
