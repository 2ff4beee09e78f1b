// The explorer without a kernel: draws window.EXPLORER_DATA (written by helpers/static_explorer.py) as plain SVG.
// One k slider over the precomputed grid, a box to type k, method and scope; the accuracy curve with its marker,
// the readout and one histogram of |w| per prunable layer. Nothing is computed here but positions and text.
"use strict";
const DATA = window.EXPLORER_DATA;
const SVG = "http://www.w3.org/2000/svg";
const $ = (selector) => document.querySelector(selector);
const state = { index: DATA.k.indexOf(90), method: "weight", scope: "layer" };

function el(name, attributes, parent) {  // an SVG element with its attributes, appended to parent
  const node = document.createElementNS(SVG, name);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  if (parent) parent.appendChild(node);
  return node;
}

function setting() {  // the precomputed series of the chosen method and scope (unit pruning is layer-wise only)
  return DATA.settings[`${state.method}/${state.method === "unit" ? "layer" : state.scope}`];
}

// --- the accuracy curve: x = k (%), y = test accuracy (%) ---
const CURVE = { width: 520, height: 260, left: 44, right: 12, top: 12, bottom: 34 };
const x = (k) => CURVE.left + (k / 100) * (CURVE.width - CURVE.left - CURVE.right);
const y = (accuracy) => CURVE.top + (1 - accuracy) * (CURVE.height - CURVE.top - CURVE.bottom);

function drawCurveAxes(svg) {
  for (let tick = 0; tick <= 100; tick += 20) {
    el("line", { x1: x(tick), x2: x(tick), y1: y(0), y2: y(1), class: "grid" }, svg);
    el("text", { x: x(tick), y: y(0) + 14, "text-anchor": "middle" }, svg).textContent = tick;
    el("line", { x1: x(0), x2: x(100), y1: y(tick / 100), y2: y(tick / 100), class: "grid" }, svg);
    el("text", { x: x(0) - 6, y: y(tick / 100) + 4, "text-anchor": "end" }, svg).textContent = tick;
  }
  el("text", { x: x(50), y: CURVE.height - 2, "text-anchor": "middle" }, svg).textContent = "k (% pruned)";
  el("text", { x: 12, y: y(0.5), transform: `rotate(-90 12 ${y(0.5)})`, "text-anchor": "middle" }, svg)
    .textContent = "test accuracy (%)";
  const lines = {};
  for (const [name, series] of Object.entries(DATA.settings)) {
    const points = series.accuracy.map((accuracy, i) => `${x(DATA.k[i])},${y(accuracy)}`).join(" ");
    lines[name] = el("polyline", { points, class: `series s-${series.method}` }, svg);
  }
  return { lines, marker: el("circle", { r: 6, class: "marker" }, svg) };
}

// --- the histograms: x = log10 |w| on the fixed bins, y = weights per bin (log); the trained ones outlined ---
const HIST = { width: 250, height: 170, left: 12, right: 14, top: 26, bottom: 30 };

function drawHistogram(panel, layer, i) {
  const { log10_low: low, log10_high: high, count } = DATA.bins;
  const svg = el("svg", { viewBox: `0 0 ${HIST.width} ${HIST.height}`, class: "pm-histogram" }, panel);
  const barWidth = (HIST.width - HIST.left - HIST.right) / count;
  const most = Math.log10(Math.max(...DATA.layers.map((_, j) => Math.max(...DATA.settings["weight/layer"].histograms[0][j]))) * 2);
  const height = (n) => (n > 0 ? (Math.log10(n) + 0.3) / (most + 0.3) * (HIST.height - HIST.top - HIST.bottom) : 0);
  const base = HIST.height - HIST.bottom;
  const trained = DATA.settings["weight/layer"].histograms[0][i]  // k = 0: every weight as trained
    .map((n, b) => `${HIST.left + b * barWidth},${base - height(n)} ${HIST.left + (b + 1) * barWidth},${base - height(n)}`);
  const bars = [];
  for (let b = 0; b < count; b++) bars.push(el("rect", { x: HIST.left + b * barWidth, width: barWidth, class: "kept" }, svg));
  el("polyline", { points: `${HIST.left},${base} ${trained.join(" ")} ${HIST.width - HIST.right},${base}`, class: "trained" }, svg);
  const step = Math.ceil((high - low) / 4);
  for (let decade = high; decade >= low; decade -= step) {
    const at = HIST.left + (decade - low) / (high - low) * (HIST.width - HIST.left - HIST.right);
    el("text", { x: at, y: base + 14, "text-anchor": "middle" }, svg).textContent = `1e${decade}`;
  }
  el("text", { x: HIST.width / 2, y: base + 27, "text-anchor": "middle" }, svg).textContent = "|w| (log scale)";
  const title = el("text", { x: HIST.width / 2, y: 14, "text-anchor": "middle", class: "title" }, svg);
  return { bars, title, height, base, name: layer.name, shape: layer.shape };
}

const curve = drawCurveAxes($("#pm-curve"));
const histograms = DATA.layers.map((layer, i) => drawHistogram($("#pm-histograms"), layer, i));
const percent = (value) => (100 * value).toFixed(2);
const BASELINE = DATA.settings["weight/layer"].accuracy[DATA.k.indexOf(0)];

function render() {
  const series = setting();
  const i = state.index, k = DATA.k[i];
  const accuracy = series.accuracy[i], kept = series.weights_kept[i];
  $("#pm-k-slider").value = i;
  $("#pm-k-input").value = k;
  $("#pm-scope-global").disabled = state.method === "unit";
  for (const [name, line] of Object.entries(curve.lines)) line.classList.toggle("current", DATA.settings[name] === series);
  curve.marker.setAttribute("cx", x(k));
  curve.marker.setAttribute("cy", y(accuracy));
  $(".pm-setting").textContent = `${state.method} pruning, ${state.method === "unit" ? "layer-wise" : state.scope === "layer" ? "layer-wise" : "global"}, k = ${k}%`;
  $(".pm-accuracy").textContent = percent(accuracy);
  $(".pm-accuracy").dataset.value = accuracy;
  $(".pm-delta").textContent = `${accuracy >= BASELINE ? "+" : "−"}${Math.abs(100 * (accuracy - BASELINE)).toFixed(2)}`;
  $(".pm-kept").textContent = kept.toLocaleString("en-US");
  $(".pm-kept").dataset.value = kept;
  $(".pm-compression").textContent = (DATA.total_weights / kept).toFixed(1);
  $(".pm-units").textContent = DATA.all_layers.map((layer, j) =>
    `${j === DATA.all_layers.length - 1 ? `output (${layer.name})` : layer.name}: ${series.units_alive[i][j]}`).join(" · ");
  histograms.forEach((panel, j) => {
    const counts = series.histograms[i][j];
    panel.bars.forEach((bar, b) => {
      const h = panel.height(counts[b]);
      bar.setAttribute("y", panel.base - h);
      bar.setAttribute("height", h);
    });
    const zeros = series.zeros[i][j], size = panel.shape[0] * panel.shape[1];
    panel.title.textContent = `layer ${panel.name} (${panel.shape[0]}×${panel.shape[1]}): ${(100 * zeros / size).toFixed(1)}% pruned`;
  });
}

function nearest(k) {  // the index of the grid's k closest to a typed k (the grid is sorted)
  let best = 0;
  DATA.k.forEach((value, i) => { if (Math.abs(value - k) < Math.abs(DATA.k[best] - k)) best = i; });
  return best;
}

$("#pm-k-slider").max = DATA.k.length - 1;
$("#pm-k-slider").addEventListener("input", (event) => { state.index = Number(event.target.value); render(); });
$("#pm-k-input").addEventListener("change", (event) => {
  const k = Number(event.target.value);
  if (Number.isFinite(k)) state.index = nearest(Math.min(100, Math.max(0, k)));
  render();
});
for (const input of document.querySelectorAll("input[name=method], input[name=scope]")) {
  input.addEventListener("change", () => { state[input.name] = input.value; render(); });
}
$(".pm-source").textContent = `seed ${DATA.seed}, commit ${DATA.commit.slice(0, 10)}, ${DATA.test_images.toLocaleString("en-US")} test images`;
render();
