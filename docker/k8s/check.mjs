// Checks the Kubernetes manifests in docker/k8s/ and that they agree with
// docker/compose.yaml, docker/Dockerfile and docker/nginx/nginx.conf.
//
//   node check.mjs DOCKER_DIR        (run from a folder with the packages of
//                                     tools/package.json installed: see test.sh)
//
// 1. Schema: every document is validated against the Kubernetes OpenAPI
//    schema of its apiVersion/kind (npm kubernetes-models: ajv validators
//    generated from the upstream OpenAPI spec): types, required fields, enums.
// 2. Strict fields: those validators allow unknown keys, so every document is
//    also type-checked by the TypeScript compiler against the same models'
//    interfaces, whose excess-property check rejects a misspelt field
//    ("livenesProbe") the way `kubeconform -strict` or the API server would.
// 3. The validator itself is shown to reject a broken manifest.
// 4. Compose and Kubernetes agree: port, probe paths and timings, environment,
//    resources, stop grace, image, replicas, user.
// Prints "PASS name" / "FAIL name: why" per check; exits 1 on any failure.
import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import YAML from "yaml";

const require = createRequire(import.meta.url);
const ts = require("typescript");

const dockerDir = path.resolve(process.argv[2] || ".");
const k8sDir = path.join(dockerDir, "k8s");
let failed = 0;
const pass = (name) => console.log(`PASS ${name}`);
const fail = (name, why) => { failed++; console.log(`FAIL ${name}: ${why}`); };
const check = (name, ok, why) => (ok ? pass(name) : fail(name, why));

// apiVersion/kind -> kubernetes-models module and interface name.
const MODELS = {
  "apps/v1/Deployment": ["kubernetes-models/apps/v1/Deployment", "Deployment", "IDeployment"],
  "v1/Service": ["kubernetes-models/v1/Service", "Service", "IService"],
  "v1/ConfigMap": ["kubernetes-models/v1/ConfigMap", "ConfigMap", "IConfigMap"],
  "autoscaling/v2/HorizontalPodAutoscaler": [
    "kubernetes-models/autoscaling/v2/HorizontalPodAutoscaler", "HorizontalPodAutoscaler",
    "IHorizontalPodAutoscaler"],
  "policy/v1/PodDisruptionBudget": [
    "kubernetes-models/policy/v1/PodDisruptionBudget", "PodDisruptionBudget",
    "IPodDisruptionBudget"],
};

async function schemaErrors(doc) {
  const key = `${doc.apiVersion}/${doc.kind}`;
  const m = MODELS[key];
  if (!m) return `no model for ${key} (add it to MODELS)`;
  const Cls = (await import(m[0]))[m[1]];
  try {
    new Cls(doc).validate();
    return null;
  } catch (e) {
    return String(e.message || e).split("\n").slice(0, 3).join("; ");
  }
}

// Type-check documents as object literals of their model interfaces.
function strictErrors(docs, tmpDir) {
  const lines = [];
  const imports = new Set();
  docs.forEach(({ doc }, i) => {
    const m = MODELS[`${doc.apiVersion}/${doc.kind}`];
    if (!m) return;
    imports.add(`import type { ${m[2]} } from "${m[0]}";`);
    lines.push(`export const d${i}: ${m[2]} = ${JSON.stringify(doc, null, 2)};`);
  });
  const file = path.join(tmpDir, "manifests-check.ts");
  fs.writeFileSync(file, [...imports, ...lines].join("\n") + "\n");
  const program = ts.createProgram([file], {
    noEmit: true, strict: true, skipLibCheck: true,
    module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
  });
  const diags = ts.getPreEmitDiagnostics(program);
  return diags.map((d) => {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, " ");
    if (!d.file || d.start === undefined) return msg;
    // Name the document and the JSON path near the error.
    const { line } = d.file.getLineAndCharacterOfPosition(d.start);
    const text = d.file.text.split("\n");
    let doc = "?";
    for (let l = line; l >= 0; l--) {
      const mm = /^export const d(\d+)/.exec(text[l]);
      if (mm) { doc = docs[Number(mm[1])].where; break; }
    }
    return `${doc}: ${msg}`;
  });
}

// ---------------------------------------------------------------- load files
const docs = [];
for (const f of fs.readdirSync(k8sDir).filter((f) => /\.ya?ml$/.test(f)).sort()) {
  const text = fs.readFileSync(path.join(k8sDir, f), "utf8");
  const parsed = YAML.parseAllDocuments(text, { prettyErrors: true });
  for (const d of parsed) {
    if (d.errors.length) { fail(`k8s yaml ${f}`, d.errors[0].message); continue; }
    const doc = d.toJS();
    if (doc == null) continue;
    docs.push({ file: f, doc, where: `${f} ${doc.kind}/${doc.metadata?.name}` });
  }
}
check("k8s manifests found", docs.length >= 3, `only ${docs.length} documents in ${k8sDir}`);

// -------------------------------------------------------------- 1. schema
for (const { doc, where } of docs) {
  const err = await schemaErrors(doc);
  check(`k8s schema ${where}`, !err, err);
}

// -------------------------------------------------------- 2. strict fields
const tmpDir = fs.mkdtempSync(path.join(path.dirname(new URL(import.meta.url).pathname), ".check-"));
try {
  const errs = strictErrors(docs, tmpDir);
  check("k8s strict fields (tsc excess-property check)", errs.length === 0, errs.slice(0, 5).join(" | "));

  // -------------------------------------------- 3. the validator validates
  const dep = docs.find((d) => d.doc.kind === "Deployment");
  if (dep) {
    const broken = structuredClone(dep.doc);
    const c = broken.spec.template.spec.containers[0];
    c.livenesProbe = c.livenessProbe;            // misspelt field
    delete c.livenessProbe;
    const strictCaught = strictErrors([{ doc: broken, where: "broken" }], tmpDir).length > 0;
    const wrongType = structuredClone(dep.doc);
    wrongType.spec.template.spec.containers[0].ports[0].containerPort = "eighty";
    const schemaCaught = (await schemaErrors(wrongType)) !== null;
    const noSelector = structuredClone(dep.doc);
    delete noSelector.spec.selector;
    const requiredCaught = (await schemaErrors(noSelector)) !== null;
    check("k8s validator rejects a misspelt field, a wrong type, a missing required field",
      strictCaught && schemaCaught && requiredCaught,
      `misspelt ${strictCaught}, type ${schemaCaught}, required ${requiredCaught}`);
  }
} finally {
  fs.rmSync(tmpDir, { recursive: true, force: true });
}

// ------------------------------------------------- 4. compose <-> kubernetes
const compose = YAML.parse(fs.readFileSync(path.join(dockerDir, "compose.yaml"), "utf8"),
  { merge: true });
const dockerfile = fs.readFileSync(path.join(dockerDir, "Dockerfile"), "utf8");
const nginxConf = fs.readFileSync(path.join(dockerDir, "nginx", "nginx.conf"), "utf8");
const replicas = Object.keys(compose.services).filter((s) => /^gradserve-\d+$/.test(s)).sort();
const svc = compose.services[replicas[0]];
const find = (kind) => docs.find((d) => d.doc.kind === kind)?.doc;
const deploy = find("Deployment");
const service = find("Service");
const hpa = find("HorizontalPodAutoscaler");
const pdb = find("PodDisruptionBudget");

const seconds = (s) => {           // compose durations: "30s", "1m30s", "500ms"
  let t = 0;
  for (const [, n, u] of String(s).matchAll(/([\d.]+)(ms|us|h|m|s)/g))
    t += Number(n) * { h: 3600, m: 60, s: 1, ms: 1e-3, us: 1e-6 }[u];
  return t;
};
const cpus = (q) => (String(q).endsWith("m") ? parseFloat(q) / 1000 : parseFloat(q));
const bytes = (q) => {             // k8s Ki/Mi/Gi (and k/M/G), compose b/k/m/g (binary)
  const m = /^([\d.]+)\s*([a-zA-Z]*)$/.exec(String(q));
  if (!m) return NaN;
  const u = { "": 1, b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, ki: 1024, mi: 1024 ** 2,
    gi: 1024 ** 3, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[m[2].toLowerCase()];
  // Kubernetes' decimal k/M/G are 1000s; compose's are 1024s. Only the
  // binary forms are used in these files; decimal ones would be flagged here.
  if (/^(k|M|G)$/.test(m[2]) && m[2] !== m[2].toLowerCase()) return NaN;
  return Number(m[1]) * u;
};

check("compose has 2+ gradserve replicas", replicas.length >= 2, `replicas: ${replicas}`);
const upstreams = [...new Set([...nginxConf.matchAll(/^\s*server\s+([\w.-]+):(\d+)/gm)]
  .map((m) => m[1]))].sort();
check("nginx upstream lists exactly the compose replicas",
  JSON.stringify(upstreams) === JSON.stringify(replicas), `nginx ${upstreams} vs compose ${replicas}`);
check("nginx retries POST on error/timeout/502/503",
  /proxy_next_upstream\s+error\s+timeout\s+http_502\s+http_503\s+non_idempotent\s*;/.test(nginxConf),
  "proxy_next_upstream line missing or changed");

if (deploy && svc) {
  const pod = deploy.spec.template.spec;
  const ctr = pod.containers[0];
  const kenv = Object.fromEntries((ctr.env || []).map((e) => [e.name, e.value]));
  const cenv = Object.fromEntries(Object.entries(svc.environment || {}).map(([k, v]) => [k, String(v)]));
  const same = JSON.stringify(Object.entries(kenv).sort()) === JSON.stringify(Object.entries(cenv).sort());
  check("k8s env == compose env", same,
    `k8s ${JSON.stringify(kenv)} compose ${JSON.stringify(cenv)}`);
  const allSame = replicas.every((r) => JSON.stringify(compose.services[r].environment) ===
    JSON.stringify(svc.environment));
  check("compose replicas share one environment", allSame, "replica environments differ");

  const port = ctr.ports?.find((p) => p.name === "http")?.containerPort;
  const listenPort = Number(String(cenv.GRADSERVE_LISTEN || "").split(":").pop());
  const published = (svc.ports || []).map((p) => String(p).split(":").pop());
  const dfPort = Number((/^EXPOSE\s+(\d+)/m.exec(dockerfile) || [])[1]);
  const dfListen = Number(((/GRADSERVE_LISTEN=\S*:(\d+)/.exec(dockerfile)) || [])[1]);
  check("port agrees (k8s containerPort, GRADSERVE_LISTEN, compose target, EXPOSE, nginx)",
    port === 8080 && listenPort === port && published.every((p) => Number(p) === port) &&
      dfPort === port && dfListen === port && upstreams.length > 0 &&
      [...nginxConf.matchAll(/^\s*server\s+[\w.-]+:(\d+)/gm)].every((m) => Number(m[1]) === port),
    `k8s ${port}, listen ${listenPort}, compose ${published}, EXPOSE ${dfPort}, image listen ${dfListen}`);
  const portOk = (p) => p === "http" || p === port;
  check("k8s Service targets the container port",
    service && (service.spec.ports || []).every((p) => portOk(p.targetPort)),
    JSON.stringify(service?.spec?.ports));

  const live = ctr.livenessProbe?.httpGet;
  const ready = ctr.readinessProbe?.httpGet;
  const composeTest = svc.healthcheck?.test || [];
  const composePath = composeTest[composeTest.length - 1];
  const dfHealth = (/HEALTHCHECK[\s\S]*?CMD\s+(\[.*\])/.exec(dockerfile) || [])[1] || "";
  check("liveness path agrees (k8s livenessProbe, compose healthcheck, image HEALTHCHECK)",
    live?.path === "/health/live" && composePath === live.path && dfHealth.includes(live.path) &&
      portOk(live.port),
    `k8s ${live?.path}:${live?.port}, compose ${composePath}, Dockerfile ${dfHealth}`);
  check("readiness probe is /health/ready on the container port",
    ready?.path === "/health/ready" && portOk(ready.port), `${ready?.path}:${ready?.port}`);
  const lp = ctr.livenessProbe;
  const hc = svc.healthcheck;
  check("liveness timing agrees (period/interval, timeout, failures/retries)",
    lp.periodSeconds === seconds(hc.interval) && lp.timeoutSeconds === seconds(hc.timeout) &&
      lp.failureThreshold === hc.retries,
    `k8s ${lp.periodSeconds}/${lp.timeoutSeconds}/${lp.failureThreshold}, ` +
      `compose ${hc.interval}/${hc.timeout}/${hc.retries}`);

  const lim = ctr.resources?.limits || {};
  const req = ctr.resources?.requests || {};
  check("resources agree (cpu limit, memory limit, memory request)",
    cpus(lim.cpu) === Number(svc.cpus) && bytes(lim.memory) === bytes(svc.mem_limit) &&
      bytes(req.memory) === bytes(svc.mem_reservation) && cpus(req.cpu) <= cpus(lim.cpu),
    `k8s ${JSON.stringify(ctr.resources)}, compose cpus ${svc.cpus} mem ${svc.mem_limit}/${svc.mem_reservation}`);
  check("GRADSERVE_MAX_CONCURRENT equals the CPU limit",
    Number(kenv.GRADSERVE_MAX_CONCURRENT) === cpus(lim.cpu), `${kenv.GRADSERVE_MAX_CONCURRENT} vs ${lim.cpu}`);
  check("one BLAS thread (OPENBLAS_NUM_THREADS=1, GRADSERVE_BLAS_THREADS=1) in image, compose, k8s",
    kenv.OPENBLAS_NUM_THREADS === "1" && kenv.GRADSERVE_BLAS_THREADS === "1" &&
      /OPENBLAS_NUM_THREADS=1\b/.test(dockerfile) && /GRADSERVE_BLAS_THREADS=1\b/.test(dockerfile),
    "a BLAS thread setting differs");

  const preStop = ctr.lifecycle?.preStop?.exec?.command || [];
  const preStopSleep = preStop[0] === "sleep" ? Number(preStop[1]) : 0;
  const grace = Number(kenv.GRADSERVE_GRACE_SECONDS);
  check("stop grace agrees (k8s terminationGracePeriodSeconds = compose stop_grace_period + preStop)",
    pod.terminationGracePeriodSeconds === seconds(svc.stop_grace_period) + preStopSleep,
    `${pod.terminationGracePeriodSeconds} vs ${svc.stop_grace_period} + ${preStopSleep}`);
  check("server drain fits in the stop grace (GRADSERVE_GRACE_SECONDS < stop period)",
    grace > 0 && grace < seconds(svc.stop_grace_period) &&
      grace + preStopSleep < pod.terminationGracePeriodSeconds,
    `grace ${grace}, compose ${svc.stop_grace_period}, k8s ${pod.terminationGracePeriodSeconds}`);

  const composeImage = String(svc.image).replace(/^\$\{[A-Z_]+:-(.*)\}$/, "$1");
  check("image agrees (k8s, compose)", ctr.image === composeImage, `${ctr.image} vs ${composeImage}`);
  const dfUser = (/^USER\s+(\d+)/m.exec(dockerfile) || [])[1];
  check("non-root user agrees (Dockerfile USER, k8s runAsUser, runAsNonRoot)",
    pod.securityContext?.runAsNonRoot === true && String(pod.securityContext?.runAsUser) === dfUser &&
      dfUser !== "0",
    `USER ${dfUser}, runAsUser ${pod.securityContext?.runAsUser}`);
  check("read-only root filesystem in compose and k8s",
    svc.read_only === true && ctr.securityContext?.readOnlyRootFilesystem === true, "differs");

  const labels = deploy.spec.template.metadata.labels;
  const matches = (sel) => sel && Object.entries(sel).every(([k, v]) => labels[k] === v);
  check("Service, Deployment and PDB selectors match the pod labels",
    matches(service?.spec?.selector) && matches(deploy.spec.selector.matchLabels) &&
      (!pdb || matches(pdb.spec.selector.matchLabels)), "a selector does not match");
  check("replicas agree (compose replicas = Deployment replicas = HPA minReplicas)",
    deploy.spec.replicas === replicas.length && (!hpa || hpa.spec.minReplicas === replicas.length),
    `compose ${replicas.length}, deployment ${deploy.spec.replicas}, hpa ${hpa?.spec?.minReplicas}`);
  check("HPA scales the Deployment",
    hpa && hpa.spec.scaleTargetRef.kind === "Deployment" &&
      hpa.spec.scaleTargetRef.name === deploy.metadata.name &&
      hpa.spec.maxReplicas >= hpa.spec.minReplicas && !!req.cpu,
    "scaleTargetRef or cpu request wrong");
} else {
  fail("compose <-> k8s", "no Deployment or no compose replica");
}

console.log(failed ? `k8s check: ${failed} failed` : "k8s check: ok");
process.exit(failed ? 1 : 0);
