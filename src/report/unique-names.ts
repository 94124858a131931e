/**
 * Test names unique within a run: consumers of JUnit (Jenkins, GitLab, GitHub reporters) key a test's history by
 * classname and name, so a second test of the same name becomes `name (2)`. The JSON report, the comparison and
 * the test history name tests the same way (SPEC §8: named as in the JUnit report).
 */
export function uniqueNames(): (name: string) => string {
  const used = new Set<string>();
  return (name) => {
    let unique = name;
    for (let n = 2; used.has(unique); n++) unique = `${name} (${n})`;
    used.add(unique);
    return unique;
  };
}
