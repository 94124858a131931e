import { XMLParser, XMLValidator } from 'fast-xml-parser';

/** One test case read from a JUnit XML file, reported as a step after its exec step. */
export interface JunitCase {
  name: string;
  status: 'PASSED' | 'FAILED' | 'ERROR' | 'SKIPPED';
  durationMs: number;
  /** The failure, error or skip message (with the body text, capped). */
  message?: string;
}

/** Cap per case: a stack trace is useful, a megabyte of it is not. */
const MAX_MESSAGE = 8 * 1024;

/** An ordered XML node as fast-xml-parser's `preserveOrder` gives it: `{ tag: children, ':@': attributes }`. */
type OrderedNode = Record<string, unknown> & { ':@'?: Record<string, string> };

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: '',
  parseAttributeValue: false,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
});

function tagOf(node: OrderedNode): string | undefined {
  return Object.keys(node).find((k) => k !== ':@');
}

function childrenOf(node: OrderedNode, tag: string): OrderedNode[] {
  const value = node[tag];
  return Array.isArray(value) ? (value as OrderedNode[]) : [];
}

function textOf(nodes: OrderedNode[]): string {
  const parts: string[] = [];
  for (const n of nodes) {
    const tag = tagOf(n);
    if (tag === '#text' || tag === '__cdata') {
      const v = n[tag];
      if (typeof v === 'string') parts.push(v);
      else if (Array.isArray(v)) parts.push(textOf(v as OrderedNode[]));
    }
  }
  return parts.join('\n').trim();
}

function cap(text: string): string {
  return text.length <= MAX_MESSAGE ? text : `${text.slice(0, MAX_MESSAGE)}\n[… ${text.length - MAX_MESSAGE} more characters not kept]`;
}

function seconds(value: string | undefined): number {
  const n = value === undefined ? Number.NaN : Number(value.replace(/,/g, ''));
  return Number.isFinite(n) && n > 0 ? Math.round(n * 1000) : 0;
}

function readCase(node: OrderedNode, suites: string[]): JunitCase {
  const attrs = node[':@'] ?? {};
  const caseName = attrs.name ?? '(unnamed)';
  const prefix = suites.length > 0 ? suites : attrs.classname ? [attrs.classname] : [];
  const result: JunitCase = { name: [...prefix, caseName].join(' › '), status: 'PASSED', durationMs: seconds(attrs.time) };
  for (const child of childrenOf(node, 'testcase')) {
    const tag = tagOf(child);
    if (tag !== 'failure' && tag !== 'error' && tag !== 'skipped') continue;
    const a = child[':@'] ?? {};
    const body = textOf(childrenOf(child, tag));
    const said = a.message ?? '';
    const message = body === '' ? said : said === '' || body.includes(said) ? body : `${said}\n${body}`;
    const status = tag === 'failure' ? 'FAILED' : tag === 'error' ? 'ERROR' : 'SKIPPED';
    // A failure or error outranks a skip some reporters add beside it.
    if (result.status === 'PASSED' || (result.status === 'SKIPPED' && status !== 'SKIPPED')) {
      result.status = status;
      const text = message || (status === 'SKIPPED' ? '' : (a.type ?? tag));
      if (text !== '') result.message = cap(text);
    }
  }
  return result;
}

function walk(nodes: OrderedNode[], suites: string[], out: JunitCase[]): void {
  for (const node of nodes) {
    const tag = tagOf(node);
    if (tag === 'testcase') out.push(readCase(node, suites));
    else if (tag === 'testsuite') {
      const name = node[':@']?.name;
      walk(childrenOf(node, tag), name ? [...suites, name] : suites, out);
    } else if (tag === 'testsuites') walk(childrenOf(node, tag), suites, out);
  }
}

/**
 * Reads JUnit XML as vitest, jest-junit, pytest, Playwright and `node --test` write it: `<testsuites>` (or a
 * bare `<testsuite>`) holding suites, nested suites and cases; `<failure>`, `<error>` and `<skipped>` per case;
 * `time` in seconds. A case is named by its enclosing suites and its own name, joined with ` › ` (by its
 * classname when no suite encloses it). Throws when the text is not XML or holds no suites.
 */
export function parseJunit(xml: string): JunitCase[] {
  const valid = XMLValidator.validate(xml);
  if (valid !== true) throw new Error(`not well-formed XML: ${valid.err.msg} (line ${valid.err.line})`);
  const doc = parser.parse(xml) as OrderedNode[];
  if (!doc.some((n) => tagOf(n) === 'testsuites' || tagOf(n) === 'testsuite')) {
    throw new Error('no <testsuites> or <testsuite> element');
  }
  const cases: JunitCase[] = [];
  walk(doc, [], cases);
  return cases;
}
