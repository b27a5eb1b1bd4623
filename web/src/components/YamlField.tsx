import { forwardRef, useImperativeHandle, useRef } from "react";
import { lineRange } from "../lib/yamlSource";

export interface YamlFieldHandle {
  /** Focuses the text and selects line `line` (1-based). */
  goToLine: (line: number) => void;
}

interface YamlFieldProps {
  id: string;
  label: string;
  value: string;
  onChange: (value: string) => void;
  /** Lines to mark in the line numbers (errors). */
  markedLines?: ReadonlySet<number>;
  describedBy?: string;
  invalid?: boolean;
}

/** A textarea for YAML with line numbers beside it, so that "line 12" can be found. Lines do
 * not wrap (a wrapped line would put the numbers out of step); Tab keeps moving the focus. */
export const YamlField = forwardRef<YamlFieldHandle, YamlFieldProps>(function YamlField(
  { id, label, value, onChange, markedLines, describedBy, invalid },
  ref,
) {
  const textareaRef = useRef<HTMLTextAreaElement>(null);
  const gutterRef = useRef<HTMLPreElement>(null);
  const lineCount = value.split("\n").length;

  useImperativeHandle(ref, () => ({
    goToLine(line: number) {
      const textarea = textareaRef.current;
      if (!textarea) {
        return;
      }
      const [start, end] = lineRange(textarea.value, line);
      textarea.focus();
      textarea.setSelectionRange(start, end);
    },
  }));

  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <div className="code-field">
        <pre className="code-gutter" ref={gutterRef} aria-hidden="true">
          {Array.from({ length: lineCount }, (_, index) => {
            const line = index + 1;
            const marked = markedLines?.has(line);
            return (
              <span key={line} className={marked ? "gutter-line gutter-marked" : "gutter-line"}>
                {line}
              </span>
            );
          })}
        </pre>
        <textarea
          id={id}
          ref={textareaRef}
          className="code-text"
          value={value}
          rows={Math.min(Math.max(lineCount + 1, 10), 30)}
          wrap="off"
          spellCheck={false}
          autoCapitalize="off"
          autoComplete="off"
          aria-invalid={invalid || undefined}
          aria-describedby={describedBy}
          onChange={(event) => onChange(event.target.value)}
          onScroll={(event) => {
            if (gutterRef.current) {
              gutterRef.current.scrollTop = event.currentTarget.scrollTop;
            }
          }}
        />
      </div>
    </div>
  );
});
