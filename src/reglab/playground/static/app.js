// reglab playground page: reads the controls, talks to the session API, draws what the stream sends.
// Python trains (reglab.train.Trainer); this script only sends controls and draws. No external assets.
"use strict";

const CONTROLS = ["dataset", "noise", "train-ratio", "batch-size", "points", "seed", "hidden-layers",
                  "activation", "regularization", "rate", "learning-rate"];
const NEG = [245, 147, 34], POS = [8, 119, 189];
const state = {
  session: null, running: false, setting: null, points: null, extent: 6,
  history: [], marks: [], snapshot: null, source: null, pending: false, labels: {}, stopped: null,
  revision: 0, queue: Promise.resolve(), inflight: 0,
};
window.reglabPlayground = state;

const $ = (id) => document.getElementById(id);

// ------------------------------------------------------------------ controls and URL
function readControls() {
  const out = {};
  for (const name of CONTROLS) out[name] = $(name).value.trim();
  out.features = [...document.querySelectorAll("#features input:checked")].map((el) => el.value).join(",");
  return out;
}

function ensureOption(select, value) {
  if (![...select.options].some((o) => o.value === value)) {
    const opt = document.createElement("option");
    opt.value = opt.textContent = value;
    select.appendChild(opt);
  }
}

function writeControls(query) {
  for (const name of CONTROLS) {
    if (!(name in query)) continue;
    const el = $(name);
    if (el.tagName === "SELECT") ensureOption(el, query[name]);
    el.value = query[name];
  }
  if ("features" in query) {
    const chosen = new Set(query.features.split(",").filter(Boolean));
    for (const el of document.querySelectorAll("#features input")) el.checked = chosen.has(el.value);
  }
  $("noise-value").textContent = $("noise").value;
  $("train-ratio-value").textContent = $("train-ratio").value;
}

function writeUrl(query) {
  const params = new URLSearchParams(query);
  history.replaceState(null, "", `${location.pathname}?${params.toString()}`);
}

function showError(payload) {
  const box = $("error");
  if (!payload) { box.hidden = true; box.textContent = ""; return; }
  const err = payload.error || { message: String(payload) };
  box.textContent = err.field ? `${err.field}: ${err.message.replace(new RegExp(`^${err.field}: `), "")}` : err.message;
  box.dataset.field = err.field || "";
  box.hidden = false;
}

async function api(method, path, body) {
  const response = await fetch(path, {
    method, headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const payload = await response.json().catch(() => ({ error: { message: `HTTP ${response.status}` } }));
  if (!response.ok) { showError(payload); throw payload; }
  showError(null);
  return payload;
}

// ------------------------------------------------------------------ session
async function start() {
  const options = await fetch("/api/options").then((r) => r.json());
  state.labels = options.feature_labels;
  const box = $("features");
  for (const name of options.features) {
    const label = document.createElement("label");
    label.innerHTML = `<input type="checkbox" value="${name}" data-testid="feature-${name}"> ${options.feature_labels[name]}`;
    box.appendChild(label);
  }
  const fromUrl = Object.fromEntries(new URLSearchParams(location.search));
  writeControls({ ...options.defaults, ...fromUrl });
  let described;
  try {
    described = await api("POST", "/api/sessions", readControls());
  } catch (err) {
    if (!err || !err.error || err.error.kind === "capacity") return;
    const bad = err.error.field;  // a bad value in the link: keep the message, start from the default of that field
    writeControls(bad && bad in options.defaults ? { [bad]: options.defaults[bad] } : options.defaults);
    try { described = await api("POST", "/api/sessions", readControls()); showError(err); } catch (e) { return; }
  }
  state.session = described.session;
  onReset(described);
  connect();
  window.addEventListener("pagehide", () => navigator.sendBeacon(`/api/sessions/${state.session}/close`));
}

function connect() {
  const source = new EventSource(`/api/sessions/${state.session}/events`);
  state.source = source;
  source.addEventListener("reset", (e) => onReset(JSON.parse(e.data)));
  source.addEventListener("epoch", (e) => { state.history.push(JSON.parse(e.data)); schedule(); });
  source.addEventListener("mark", (e) => {
    const mark = JSON.parse(e.data);
    state.marks.push({ epoch: mark.epoch, label: mark.label });
    if (mark.revision >= state.revision && state.inflight === 0) {
      state.revision = mark.revision; state.setting = mark.setting; writeUrl(mark.query);
    }
    schedule();
  });
  source.addEventListener("snapshot", (e) => { state.snapshot = JSON.parse(e.data); schedule(); });
  source.addEventListener("stopped", (e) => {
    state.stopped = JSON.parse(e.data).reason;
    setRunning(false);
    showError({ error: { message: `training stopped: ${state.stopped}` } });
  });
  source.onerror = () => {
    if (source.readyState === EventSource.CLOSED) {
      showError({ error: { message: "the connection to the playground server was lost; reload the page" } });
    }
  };
}

function onReset(described) {
  state.setting = described.setting;
  state.points = described.points;
  state.extent = described.extent;
  state.history = [];
  state.marks = described.marks.slice();
  state.snapshot = null;
  state.stopped = null;
  if (described.revision >= state.revision && state.inflight === 0) {  // not overtaken by a later change
    state.revision = described.revision;
    writeControls(described.query);
    writeUrl(described.query);
    setRunning(described.running);
  }
  schedule();
}

function setRunning(running) {
  state.running = running;
  $("train-button").textContent = running ? "❚❚ pause" : "▶ train";
  $("train-button").dataset.running = running ? "true" : "false";
}

// Requests go one after another, in the order of the clicks, so the server sees the controls' order.
// While any is queued or in flight the controls belong to the user: no answer or event overwrites them.
function enqueue(task) {
  state.inflight += 1;
  state.queue = state.queue.then(task).catch(async () => {
    // the message is shown; the session kept its setting, so the controls go back to it
    if (state.inflight !== 1 || !state.session) return;
    const response = await fetch(`/api/sessions/${state.session}`);  // not api(): keep the message shown
    if (response.ok) applied(await response.json());
  }).finally(() => { state.inflight -= 1; });
  return state.queue;
}

function applied(status) {
  state.revision = Math.max(state.revision, status.revision);
  if (state.inflight === 1) { writeControls(status.query); writeUrl(status.query); }
  setRunning(status.running);
}

function control(action) {
  return enqueue(async () => {
    if (!state.session) return;
    applied(await api("POST", `/api/sessions/${state.session}/control`, { action }));
  });
}

function changed() {
  $("noise-value").textContent = $("noise").value;
  $("train-ratio-value").textContent = $("train-ratio").value;
  return enqueue(async () => {
    if (!state.session) return;
    applied(await api("PATCH", `/api/sessions/${state.session}/setting`, readControls()));
  });
}

// ------------------------------------------------------------------ drawing
function schedule() {
  if (state.pending) return;
  state.pending = true;
  requestAnimationFrame(() => { state.pending = false; render(); });
}

const fmt = (v, digits = 3) => (v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(digits));
// small non-zero values (a penalty on shrunk weights) keep their size instead of showing as 0.000
const fmtSmall = (v) => (v && Math.abs(v) < 1e-3 ? Number(v).toExponential(2) : fmt(v, 4));

function render() {
  const last = state.history[state.history.length - 1];
  $("epoch").textContent = last ? String(last.epoch) : String(state.snapshot ? state.snapshot.epoch : 0);
  $("train-loss").textContent = last ? fmt(last.train_loss) : "–";
  $("test-loss").textContent = last ? fmt(last.test_loss) : "–";
  $("penalty").textContent = last ? fmtSmall(last.penalty) : "–";
  $("gap").textContent = last ? fmt(last.test_loss - last.train_loss) : "–";
  $("weight-norm").textContent = last ? fmt(last.weight_norm) : "–";
  $("sparsity").textContent = last ? `${(100 * last.sparsity).toFixed(1)} %` : "–";
  drawChart();
  if (state.snapshot) {
    drawBoundary(state.snapshot.boundary);
    drawNetwork(state.snapshot.network);
    if (state.snapshot.spectrum) drawSpectrum(state.snapshot.spectrum);
  } else {
    drawBoundary(null);
  }
}

function drawChart() {
  const canvas = $("loss-chart"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, pad = 28;
  ctx.clearRect(0, 0, w, h);
  ctx.font = "10px system-ui, sans-serif";
  const hist = state.history;
  ctx.fillStyle = "#777";
  if (!hist.length) { ctx.fillText("loss per epoch (press train)", pad, h / 2); return; }
  const n = hist[hist.length - 1].epoch, first = hist[0].epoch - 1;
  let ymax = 0;
  for (const m of hist) ymax = Math.max(ymax, m.train_loss || 0, m.test_loss || 0);
  ymax = ymax > 0 ? ymax * 1.05 : 1;
  const X = (e) => pad + ((e - first) / Math.max(1, n - first)) * (w - pad - 8);
  const Y = (v) => h - 14 - (v / ymax) * (h - 24);
  ctx.strokeStyle = "#ccc"; ctx.lineWidth = 1;
  ctx.beginPath(); ctx.moveTo(pad, 6); ctx.lineTo(pad, h - 14); ctx.lineTo(w - 8, h - 14); ctx.stroke();
  ctx.fillText(ymax.toFixed(2), 2, 12); ctx.fillText("0", 16, h - 14);
  ctx.fillText(`epoch ${n}`, w - 60, h - 2);
  for (const mark of state.marks) {
    if (mark.epoch < first) continue;
    ctx.strokeStyle = "#b03060"; ctx.setLineDash([4, 3]);
    ctx.beginPath(); ctx.moveTo(X(mark.epoch), 6); ctx.lineTo(X(mark.epoch), h - 14); ctx.stroke();
    ctx.setLineDash([]); ctx.fillStyle = "#b03060";
    ctx.fillText(mark.label, Math.min(X(mark.epoch) + 3, w - 120), 14);
  }
  const stride = Math.max(1, Math.floor(hist.length / 800));
  for (const [key, color, dash] of [["train_loss", "#888", [5, 3]], ["test_loss", "#111", []]]) {
    ctx.strokeStyle = color; ctx.setLineDash(dash); ctx.lineWidth = 1.5; ctx.beginPath();
    hist.forEach((m, i) => {
      if (i % stride && i !== hist.length - 1) return;
      const x = X(m.epoch), y = Y(m[key]);
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.stroke();
  }
  ctx.setLineDash([]);
  ctx.fillStyle = "#111"; ctx.fillText("— test", w - 110, h - 2);
  ctx.fillStyle = "#888"; ctx.fillText("- - train", w - 170, h - 2);
}

function mix(p) {
  // orange (class 0) ← white → blue (class 1), lightened as the Playground does
  const t = Math.abs(p - 0.5) * 2, c = p < 0.5 ? NEG : POS;
  return c.map((v) => Math.round(255 + (v - 255) * t * 0.75));
}

function drawBoundary(grid) {
  const canvas = $("boundary"), ctx = canvas.getContext("2d");
  const w = canvas.width, h = canvas.height, ext = state.extent;
  ctx.clearRect(0, 0, w, h);
  if (grid) {
    const g = grid.length, off = document.createElement("canvas");
    off.width = off.height = g;
    const octx = off.getContext("2d"), img = octx.createImageData(g, g);
    for (let r = 0; r < g; r++) for (let c = 0; c < g; c++) {
      const [R, G, B] = mix(grid[r][c]), k = 4 * (r * g + c);
      img.data[k] = R; img.data[k + 1] = G; img.data[k + 2] = B; img.data[k + 3] = 255;
    }
    octx.putImageData(img, 0, 0);
    ctx.imageSmoothingEnabled = true;
    ctx.drawImage(off, 0, 0, w, h);
  }
  if (!state.points) return;
  const P = (x, y) => [((x + ext) / (2 * ext)) * w, ((ext - y) / (2 * ext)) * h];
  for (const [name, edge] of [["train", "#fff"], ["test", "#000"]]) {
    const pts = state.points[name];
    pts.x.forEach(([x, y], i) => {
      const [px, py] = P(x, y);
      ctx.beginPath(); ctx.arc(px, py, 3.6, 0, 2 * Math.PI);
      ctx.fillStyle = `rgb(${(pts.y[i] ? POS : NEG).join(",")})`; ctx.fill();
      ctx.lineWidth = 1.2; ctx.strokeStyle = edge; ctx.stroke();
    });
  }
  ctx.fillStyle = "#555"; ctx.font = "10px system-ui, sans-serif";
  ctx.fillText(`x₁ ∈ [−${ext}, ${ext}]`, w - 80, h - 4); ctx.fillText(`x₂`, 4, 12);
}

function drawNetwork(net) {
  const svg = $("weights"), W = 440, H = 330;
  const sizes = [net.inputs.length, ...net.layers.map((l) => l.weight.length)];
  const cols = sizes.length, xs = sizes.map((_, i) => 58 + (i * (W - 120)) / Math.max(1, cols - 1));
  const ys = sizes.map((n) => Array.from({ length: n }, (_, j) => (n === 1 ? H / 2 : 22 + (j * (H - 44)) / (n - 1))));
  const name = (layer, j) => (layer === 0 ? net.inputs[j] : layer === cols - 1 ? net.outputs[j] : `h${layer}.${j + 1}`);
  const parts = [], hits = [];
  net.layers.forEach((layer, li) => {
    layer.weight.forEach((row, out) => row.forEach((wv, inp) => {
      const width = Math.min(9, 0.4 + 1.8 * Math.abs(wv)), color = wv >= 0 ? "#0877bd" : "#f59322";
      const text = `${name(li, inp)} → ${name(li + 1, out)}: w = ${wv.toFixed(4)}`;
      const ends = `x1="${xs[li]}" y1="${ys[li][inp]}" x2="${xs[li + 1]}" y2="${ys[li + 1][out]}"`;
      parts.push(`<line class="w" ${ends} stroke="${color}" stroke-width="${width.toFixed(2)}" ` +
        `stroke-opacity="${wv === 0 ? 0.15 : 0.8}" data-weight="${wv}"/>`);
      // a wide transparent twin on top: thin (or zero) weights are as easy to hover as thick ones
      hits.push(`<line class="hit" ${ends} stroke="transparent" stroke-width="9" data-weight="${wv}" ` +
        `data-label="${text}"><title>${text}</title></line>`);
    }));
  });
  sizes.forEach((n, li) => ys[li].forEach((y, j) => {
    parts.push(`<rect x="${xs[li] - 7}" y="${y - 7}" width="14" height="14" rx="3" fill="#fff" stroke="#345"/>`);
    if (li === 0) parts.push(`<text x="${xs[li] - 12}" y="${y + 4}" text-anchor="end" font-size="12">${net.inputs[j]}</text>`);
    if (li === cols - 1) parts.push(`<text x="${xs[li] + 12}" y="${y + 4}" font-size="11">${net.outputs[j]}</text>`);
  }));
  svg.innerHTML = parts.join("") + hits.join("");
}

function drawSpectrum(s) {
  const rows = s.eigenvalues.map((v, i) => `<tr><td>${i + 1}</td><td>${v === null ? "–" : v.toExponential(3)}</td>` +
    `<td>${s.shrink[i] === null ? "–" : s.shrink[i].toFixed(3)}</td></tr>`).join("");
  const maxv = Math.max(1e-12, ...s.eigenvalues.filter((v) => v !== null && v > 0));
  const bars = s.eigenvalues.map((v, i) => {
    const hgt = v > 0 ? Math.max(1, (58 * Math.log10(1 + 9 * v / maxv))) : 0;
    return `<rect x="${6 + i * 28}" y="${62 - hgt}" width="20" height="${hgt}" fill="#0877bd" opacity="${0.35 + 0.65 * (s.shrink[i] ?? 1)}"/>`;
  }).join("");
  $("spectrum").innerHTML =
    `<div>α (L2) = <span class="big">${s.alpha}</span></div>` +
    `<div>effective parameters γ(α) = Σ λᵢ/(λᵢ+α) = <span class="big" data-testid="effective-parameters">${fmt(s.effective_parameters, 2)}</span> of ${s.weights} weights</div>` +
    `<svg viewBox="0 0 240 66" width="100%">${bars}</svg>` +
    `<table><thead><tr><th>i</th><th>λᵢ (Hessian of C₀)</th><th>λᵢ/(λᵢ+α)</th></tr></thead><tbody>${rows}</tbody></table>` +
    `<p class="note">at epoch ${state.snapshot.epoch}: ${s.note}. Hessian of the mean data loss on the training set w.r.t. the weights (biases held).</p>`;
}

// ------------------------------------------------------------------ wiring
for (const name of CONTROLS) $(name).addEventListener("change", changed);
$("noise").addEventListener("input", () => { $("noise-value").textContent = $("noise").value; });
$("train-ratio").addEventListener("input", () => { $("train-ratio-value").textContent = $("train-ratio").value; });
$("features").addEventListener("change", changed);
$("train-button").addEventListener("click", () => control(state.running ? "pause" : "start"));
$("reset").addEventListener("click", () => control("reset"));
$("step").addEventListener("click", () => control("step"));
$("export").addEventListener("click", () => {
  if (!state.session) return;
  const a = document.createElement("a");
  a.href = `/api/sessions/${state.session}/export`;
  a.download = "";
  document.body.appendChild(a); a.click(); a.remove();
});
$("weights").addEventListener("mouseover", (e) => {
  if (e.target.dataset.label) $("weight-hover").textContent = e.target.dataset.label;
});
start();
