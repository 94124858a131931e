import { XMLBuilder } from 'fast-xml-parser';
import type { Status } from '../core/statuses.js';

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
  cases: ReportCase[];
}

const builder = new XMLBuilder({ ignoreAttributes: false, attributeNamePrefix: '@', format: true, suppressEmptyNode: true });

/**
 * JUnit XML for a run (SPEC §7): a failed test is a `<failure>`, ERROR/TIMEOUT/ABORTED an `<error>`,
 * SKIPPED/CANCELLED `<skipped>`.
 */
export function toJunitXml(suite: ReportSuite): string {
  let failures = 0;
  let errors = 0;
  let skipped = 0;
  let totalMs = 0;
  const testcase = suite.cases.map((c) => {
    totalMs += c.durationMs;
    const node: Record<string, unknown> = {
      '@name': c.name,
      '@classname': suite.name,
      '@time': (c.durationMs / 1000).toFixed(3),
    };
    const message = c.reason ?? c.status;
    switch (c.status) {
      case 'FAILED':
        failures++;
        node.failure = { '@message': message, '@type': c.status, '#text': c.output ?? message };
        break;
      case 'ERROR':
      case 'TIMEOUT':
      case 'ABORTED':
        errors++;
        node.error = { '@message': message, '@type': c.status, '#text': c.output ?? message };
        break;
      case 'SKIPPED':
      case 'CANCELLED':
        skipped++;
        node.skipped = { '@message': message };
        break;
      default:
        if (c.output) node['system-out'] = c.output;
    }
    return node;
  });
  const doc = {
    '?xml': { '@version': '1.0', '@encoding': 'UTF-8' },
    testsuites: {
      '@name': suite.name,
      '@tests': suite.cases.length,
      '@failures': failures,
      '@errors': errors,
      '@skipped': skipped,
      '@time': (totalMs / 1000).toFixed(3),
      testsuite: {
        '@name': suite.name,
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
