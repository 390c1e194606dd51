// Load a FHIR package from the FHIR package cache ($HOME/.fhir/packages) with fhir-package-loader,
// and look every resource of its .index.json up again. Usage: node fpl_load.mjs <name> <version>
// Prints a JSON report; exit 1 on any error logged, a failed load, or a resource not found.
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { defaultPackageLoader, LoadStatus } from 'fhir-package-loader';

const [name, version] = process.argv.slice(2);
const logged = [];
const log = (level, message) => logged.push({ level, message });
const loader = await defaultPackageLoader({ log });
const report = { status: {}, found: 0, missing: [], noSnapshot: [], errors: [] };
for (const [pkg, ver] of [['hl7.fhir.r4.core', '4.0.1'], [name, version]]) {
  report.status[`${pkg}#${ver}`] = await loader.loadPackage(pkg, ver);
}
const index = JSON.parse(readFileSync(join(homedir(), '.fhir', 'packages', `${name}#${version}`, 'package', '.index.json'), 'utf8'));
for (const file of index.files) {
  const key = file.url ?? file.id;
  const found = loader.findResourceJSONs(key, { scope: name, type: [file.resourceType] })
    .filter((r) => r.id === file.id && (file.version == null || r.version === file.version));
  if (found.length !== 1) { report.missing.push(file.filename); continue; }
  report.found += 1;
  if (file.resourceType === 'StructureDefinition' && !found[0].snapshot?.element?.length) report.noSnapshot.push(file.filename);
}
report.errors = logged.filter((l) => l.level === 'error');
report.packageJson = loader.findPackageJSON(name, version) ?? null;
console.log(JSON.stringify(report, null, 1));
const ok = Object.values(report.status).every((s) => s === LoadStatus.LOADED)
  && !report.missing.length && !report.noSnapshot.length && !report.errors.length;
process.exit(ok ? 0 : 1);
