import { XMLBuilder } from 'fast-xml-parser';
import type { Status } from '../core/statuses.js';
import { uniqueNames } from './unique-names.js';

export interface ReportCase {
  name: string;
  status: Status;
  durationMs: number;
  reason: string | null;
  output?: string;
}

export interface ReportSuite {
  name: string;
  id: string;
  /** Report tests carry `attempts` and `flaky`; a retried case shows them as testcase properties. */
  cases: (ReportCase & { attempts?: number; flaky?: boolean })[];
}

/** What XML 1.0 cannot hold (outside its `Char` production, e.g. the ANSI escapes of coloured test output). */
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;
const xmlText = (text: string) => text.replace(NOT_XML, '');

// suppressBooleanAttributes off: by default an attribute whose value is "true" is written bare, which is not XML.
const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', format: true, suppressEmptyNode: true, suppressBooleanAttributes: false });

/**
 * JUnit XML for a run (SPEC §7): a failed test is a `<failure>`, ERROR/TIMEOUT/ABORTED an `<error>`,
 * SKIPPED/CANCELLED `<skipped>`. A retried test has `<properties>` with `attempts` (and `flaky` `true` when it
 * passed on a retry), which the common consumers read past. Names are unique within the suite and characters XML
 * cannot hold are dropped.
 */
export function toJunitXml(suite: ReportSuite): string {
  const unique = uniqueNames();
  const suiteName = xmlText(suite.name);
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  let totalMs = 0;
  const testcase = suite.cases.map((c) => {
    totalMs += c.durationMs;
    const node: Record<string, unknown> = {
      '@name': unique(xmlText(c.name)),
      '@classname': suiteName,
      '@time': (c.durationMs / 1000).toFixed(3),
    };
    if (c.attempts !== undefined && c.attempts > 1) {
      const property = [{ '@name': 'attempts', '@value': c.attempts }, ...(c.flaky ? [{ '@name': 'flaky', '@value': 'true' }] : [])];
      node.properties = { property };
    }
    const message = xmlText(c.reason ?? c.status);
    const output = c.output === undefined ? undefined : xmlText(c.output);
    switch (c.status) {
      case 'FAILED':
        failures++;
        node.failure = { '@message': message, '@type': c.status, '#text': output || message };
        break;
      case 'ERROR':
      case 'TIMEOUT':
      case 'ABORTED':
        errors++;
        node.error = { '@message': message, '@type': c.status, '#text': output || message };
        break;
      case 'SKIPPED':
      case 'CANCELLED':
        skipped++;
        node.skipped = { '@message': message };
        break;
      default:
        if (output) node['system-out'] = output;
    }
    return node;
  });
  const doc = {
    '?xml': { '@version': '1.0', '@encoding': 'UTF-8' },
    testsuites: {
      '@name': suiteName,
      '@tests': suite.cases.length,
      '@failures': failures,
      '@errors': errors,
      '@skipped': skipped,
      '@time': (totalMs / 1000).toFixed(3),
      testsuite: {
        '@name': suiteName,
        '@id': suite.id,
        '@tests': suite.cases.length,
        '@failures': failures,
        '@errors': errors,
        '@skipped': skipped,
        '@time': (totalMs / 1000).toFixed(3),
        testcase,
      },
    },
  };
  return builder.build(doc);
}
