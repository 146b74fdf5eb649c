// The JavaScript client (clients/js/gradserve.js) on the issue-17 recipe's
// chunks: Fashion-MNIST (Debian's dataset-fashion-mnist), a 784-256-128-10
// ReLU network, cross-entropy, Adam (lr 1e-3), mini-batches of 128, one
// POST /train per 10,000-row chunk (epochs 1), params and optimizer state
// carried from call to call. The same chunks with each encoding, in turns,
// the best round counting: b64, binary, ref (hashed by the client each call)
// and ref with the chunks put once (TensorRefs named by every call).
// Prints a markdown section; run by bench/client_js.sh.
//   node bench/client_js.mjs URL [ROUNDS]
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { Client, tensor } from '../clients/js/gradserve.js';

const [url, roundsArg] = process.argv.slice(2);
const ROUNDS = Number(roundsArg || 2), CHUNK = 10000, CHUNKS = 2;
const DATA = '/usr/share/datasets/fashion-mnist';
const idx = (name) => gunzipSync(readFileSync(`${DATA}/${name}`));
const raw = idx('train-images-idx3-ubyte.gz').subarray(16, 16 + CHUNK * CHUNKS * 784);
const images = Float32Array.from(raw, (v) => v / 255);
const labels = Int32Array.from(idx('train-labels-idx1-ubyte.gz').subarray(8, 8 + CHUNK * CHUNKS));

const gs = new Client({ url });
const network = { inputs: 784, layers: [{ units: 256, activation: 'relu' }, { units: 128, activation: 'relu' }, { units: 10, activation: 'linear' }],
  loss: 'cross_entropy' };
const chunk = (k) => ({ inputs: tensor(images.subarray(k * CHUNK * 784, (k + 1) * CHUNK * 784), [CHUNK, 784]),
  targets: labels.subarray(k * CHUNK, (k + 1) * CHUNK) });
const putOnce = [];
for (let k = 0; k < CHUNKS; k++) {
  const c = chunk(k);
  putOnce.push({ inputs: await gs.putTensor(c.inputs), targets: await gs.putTensor(c.targets) });
}
const WAYS = {
  b64: { encoding: 'b64', data: chunk },
  binary: { encoding: 'binary', data: chunk },
  ref: { encoding: 'ref', data: chunk },
  'ref, put once': { encoding: 'ref', data: (k) => putOnce[k] },
};

// ms per chunk of one pass over the chunks, from the same initial weights
async function pass({ encoding, data }) {
  let state = { init: { seed: 1 } };
  const t0 = performance.now();
  for (let k = 0; k < CHUNKS; k++) {
    const r = await gs.train({ network, ...state, ...data(k), optimizer: { name: 'adam', lr: 1e-3 }, epochs: 1, batch_size: 128 },
      { encoding });
    state = { params: r.params, optimizer_state: r.optimizer_state };
  }
  return (performance.now() - t0) / CHUNKS;
}
const best = {};
for (const way of Object.values(WAYS)) await pass(way); // warm-up: uploads, the server's buffers
for (let round = 0; round < ROUNDS; round++) {
  for (const [name, way] of Object.entries(WAYS)) best[name] = Math.min(best[name] ?? Infinity, await pass(way));
}
const base = best['ref, put once'];
console.log(`### The JavaScript client, Fashion-MNIST chunks (bench/client_js.mjs)\n`);
console.log(`${CHUNK}-row chunks through \`gs.train\` (784-256-128-10, Adam, batches of 128, 79 steps each), best of ${ROUNDS} rounds; the same run.\n`);
console.log('| encoding | ms per chunk | vs ref, put once |\n|---|---:|---:|');
for (const [name, ms] of Object.entries(best)) console.log(`| ${name} | ${ms.toFixed(0)} | ${(ms / base).toFixed(2)}x |`);
