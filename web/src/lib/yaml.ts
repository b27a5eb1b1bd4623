// A small YAML writer for showing manifests (JSON values only). Strings that could be read as
// something else are written as JSON strings, which YAML reads back the same.

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

const PLAIN = /^[A-Za-z_/][A-Za-z0-9_ ./:-]*$/;
const RESERVED = /^(true|false|yes|no|on|off|null|~|y|n)$/i;

function scalar(value: string): string {
  if (value !== "" && PLAIN.test(value) && !RESERVED.test(value) && !value.endsWith(" ") &&
      !value.includes(": ") && !value.includes(" #")) {
    return value;
  }
  return JSON.stringify(value);
}

function key(name: string): string {
  return scalar(name);
}

function write(value: Json, indent: string, lines: string[], prefix: string): void {
  if (Array.isArray(value)) {
    if (value.length === 0) {
      lines.push(`${prefix}[]`);
      return;
    }
    if (prefix) {
      lines.push(prefix.trimEnd());
    }
    for (const item of value) {
      if (item !== null && typeof item === "object" && !Array.isArray(item) && Object.keys(item).length) {
        const nested: string[] = [];
        write(item, `${indent}  `, nested, "");
        nested[0] = `${indent}- ${(nested[0] ?? "").trimStart()}`;
        lines.push(...nested);
      } else {
        write(item, `${indent}  `, lines, `${indent}- `);
      }
    }
    return;
  }
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value);
    if (entries.length === 0) {
      lines.push(`${prefix}{}`);
      return;
    }
    if (prefix) {
      lines.push(prefix.trimEnd());
    }
    for (const [name, item] of entries) {
      const nestedIndent = `${indent}  `;
      const isBlock =
        item !== null && typeof item === "object" && Object.keys(item).length > 0;
      write(item, isBlock ? nestedIndent : indent, lines, `${indent}${key(name)}: `);
    }
    return;
  }
  const text = typeof value === "string" ? scalar(value) : String(value);
  lines.push(`${prefix}${text}`);
}

export function toYaml(value: unknown): string {
  const lines: string[] = [];
  write(JSON.parse(JSON.stringify(value ?? null)) as Json, "", lines, "");
  return `${lines.join("\n")}\n`;
}
