/**
 * The fenced shell blocks of README.md and docs/*.md, with the marker that says how the doc tests
 * run them: an HTML comment on the line before the fence,
 *   <!-- doc-test: up -->             run against a started `portcullis up` (npm start) environment
 *   <!-- doc-test: skip (why) -->     not run, for the reason given (the reason is required)
 * and no marker: run as is (commands that need no running service).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface ShellLine {
  /** the command, continuation lines joined */
  text: string;
  /** its trailing comment, if any (what the doc says happens) */
  comment: string;
  line: number;
}

export interface ShellBlock {
  file: string;
  line: number;
  mode: 'plain' | 'up' | 'skip';
  skipReason?: string;
  lines: ShellLine[];
}

const SHELL = new Set(['sh', 'bash', 'shell', 'console', 'shell-session', 'zsh']);

export function docFiles(root: string): string[] {
  return [
    'README.md',
    ...readdirSync(join(root, 'docs'))
      .filter((f) => f.endsWith('.md'))
      .sort()
      .map((f) => `docs/${f}`),
  ];
}

/** Split a shell line at its trailing ` # comment` (outside quotes). */
function splitComment(text: string): { command: string; comment: string } {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"') i++;
    } else if (c === "'" || c === '"') quote = c;
    else if (c === '#' && (i === 0 || /\s/.test(text[i - 1]!))) return { command: text.slice(0, i).trimEnd(), comment: text.slice(i + 1).trim() };
  }
  return { command: text.trimEnd(), comment: '' };
}

export function shellBlocks(root: string, file: string): ShellBlock[] {
  const lines = readFileSync(join(root, file), 'utf8').split('\n');
  const out: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^\s*```\s*([\w-]*)/.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && !/^\s*```/.test(lines[end]!)) end++;
    if (SHELL.has(open[1]!)) {
      let prev = i - 1;
      while (prev >= 0 && lines[prev]!.trim() === '') prev--;
      const marker = prev >= 0 ? /^<!--\s*doc-test:\s*(up|skip)\b\s*(.*?)\s*-->$/.exec(lines[prev]!.trim()) : null;
      const block: ShellBlock = { file, line: i + 1, mode: marker ? (marker[1] as 'up' | 'skip') : 'plain', lines: [] };
      if (marker?.[1] === 'skip') block.skipReason = marker[2]!.replace(/^\(|\)$/g, '').trim();
      let pending = '';
      let startLine = 0;
      for (let j = i + 1; j < end; j++) {
        const raw = lines[j]!;
        if (!pending) startLine = j + 1;
        if (raw.trimEnd().endsWith('\\')) {
          pending += `${raw.trimEnd().slice(0, -1)} `;
          continue;
        }
        const whole = pending + raw;
        pending = '';
        const { command, comment } = splitComment(whole.trim());
        if (command) block.lines.push({ text: command, comment, line: startLine });
      }
      out.push(block);
    }
    i = end;
  }
  return out;
}
