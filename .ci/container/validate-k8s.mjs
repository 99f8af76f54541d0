// Offline schema check of rendered Kubernetes manifests with kubernetes-models (JSON-schema based).
// Used by .ci/container/check.sh on the chart rendered by helm template.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

let bad = 0,
  n = 0;
for (const file of process.argv.slice(2)) {
  for (const doc of parseAllDocuments(readFileSync(file, 'utf8'))) {
    const obj = doc.toJS();
    if (!obj) continue;
    n++;
    const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
    const mod = `kubernetes-models/${group ? `${group}/` : ''}${version}/${obj.kind}`;
    let Model;
    try {
      Model = (await import(mod))[obj.kind];
    } catch {
      // No model: a misspelt kind or an apiVersion Kubernetes no longer serves.
      bad++;
      console.log(`FAIL ${obj.kind} (${obj.apiVersion}): no such kind in kubernetes-models`);
      continue;
    }
    try {
      new Model(obj).validate();
      console.log(`ok   ${obj.kind}/${obj.metadata?.name}`);
    } catch (e) {
      bad++;
      console.log(`FAIL ${obj.kind}/${obj.metadata?.name}: ${e.message.split('\n').slice(0, 3).join(' | ')}`);
    }
  }
}
console.log(`objects: ${n - bad} valid, ${bad} invalid`);
process.exit(bad ? 1 : 0);
