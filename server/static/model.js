// What the settings and the data make of a request (the network, its
// targets) and how its answers read (class probabilities, accuracy, the
// derivative of each activation), shared by the training loop and the
// step-through of the backward pass.

// The loss the task allows: regression is mse; more than two classes need
// softmax + cross-entropy; two classes take the form's choice.
export function lossFor(s, sets) {
  if (sets.task === 'regress') return 'mse';
  if (sets.classes > 2) return 'cross_entropy';
  return s.loss;
}

// The last layer follows from the loss: one logit-like unit per class with
// softmax, else one sigmoid unit (class 1's probability), or one linear unit
// for a regression.
export function outputLayer(loss, sets) {
  if (sets.task === 'regress') return { units: 1, activation: 'linear' };
  if (loss === 'cross_entropy') return { units: sets.classes, activation: 'softmax' };
  return { units: 1, activation: 'sigmoid' };
}

// The "network" member of every request. L1 enters the objective as
// network.penalty (loss + l1 * sum |W|); L2 is the optimizer's weight_decay.
export function network(s, sets) {
  const loss = lossFor(s, sets);
  const net = { inputs: s.features.length, layers: [...s.layers, outputLayer(loss, sets)], loss };
  if (s.l1 > 0) net.penalty = { l1: s.l1 };
  return net;
}

// labels or values [rows] -> the request's targets: class indices for
// cross-entropy, else a [rows, 1] tensor.
export function targets(net, y) {
  return net.loss === 'cross_entropy' ? y : y.map((v) => [v]);
}

// outputs [rows, units] -> class probabilities [rows, classes]
export function probs(net, outputs) {
  return net.loss === 'cross_entropy' ? outputs : outputs.map((o) => [1 - o[0], o[0]]);
}

export const argmax = (row) => row.reduce((k, v, j) => (v > row[k] ? j : k), 0);

export function accuracy(p, y) {
  let ok = 0;
  p.forEach((row, i) => { if (argmax(row) === y[i]) ok++; });
  return y.length ? ok / y.length : 0;
}

// Coefficient of determination of outputs [rows, 1] against targets [rows].
export function r2(outputs, y) {
  const mean = y.reduce((s, v) => s + v, 0) / y.length;
  let res = 0, tot = 0;
  y.forEach((v, i) => { res += (outputs[i][0] - v) ** 2; tot += (v - mean) ** 2; });
  return tot > 0 ? 1 - res / tot : 0;
}

// erf by Abramowitz and Stegun 7.1.26 (|error| < 1.5e-7): enough to show
// gelu's derivative to the four digits the step-through prints.
function erf(x) {
  const s = Math.sign(x), t = 1 / (1 + 0.3275911 * Math.abs(x));
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return s * y;
}

// act'(z) per activation, from the layer's output a where that is enough
// (as back-propagation implementations do) and from z = W a_prev + b where
// it is not (gelu). ReLU'(0) = 0 and leaky_relu'(0) = slope, as in PyTorch.
export const DERIVATIVES = {
  tanh: { text: '1 − a²', f: (a) => 1 - a * a },
  sigmoid: { text: 'a (1 − a)', f: (a) => a * (1 - a) },
  relu: { text: 'a > 0 ? 1 : 0', f: (a) => (a > 0 ? 1 : 0) },
  leaky_relu: { text: 'a > 0 ? 1 : slope', f: (a, z, layer) => (a > 0 ? 1 : layer.slope ?? 0.01) },
  elu: { text: 'a > 0 ? 1 : a + α', f: (a, z, layer) => (a > 0 ? 1 : a + (layer.alpha ?? 1)) },
  softplus: { text: '1 − e^(−a)', f: (a) => 1 - Math.exp(-a) }, // = sigmoid(z)
  gelu: { text: 'Φ(z) + z φ(z)', f: (a, z) => 0.5 * (1 + erf(z / Math.SQRT2)) + (z * Math.exp(-z * z / 2)) / Math.sqrt(2 * Math.PI) },
  linear: { text: '1', f: () => 1 },
};

// The seed of the backward pass for one row: dL/dz of the last layer, as the
// fused losses define it, with the mean reduction's divisor (rows for
// cross-entropy, rows x outputs otherwise). out: the row's outputs; target:
// its label or value. -> {formula, values: [units]}
export function outputSeed(net, out, target, rows) {
  const last = net.layers[net.layers.length - 1];
  const m = out.length;
  if (net.loss === 'cross_entropy') {
    return { formula: `(p − onehot(${target})) / ${rows}`, values: out.map((p, j) => (p - (j === target ? 1 : 0)) / rows) };
  }
  if (net.loss === 'binary_cross_entropy') {
    return { formula: `(p − t) / ${rows * m}`, values: out.map((p) => (p - target) / (rows * m)) };
  }
  // mse: dL/da = 2 (a − t) / (rows x outputs), times act'(z)
  const d = DERIVATIVES[last.activation];
  return {
    formula: last.activation === 'linear' ? `2 (y − t) / ${rows * m}` : `2 (a − t) / ${rows * m} × ${d.text}`,
    values: out.map((a) => ((2 * (a - target)) / (rows * m)) * d.f(a, NaN, last)),
  };
}
