// The page's logic: the microphone → 1 s windows every quarter second → the model (MediaPipe
// Tasks' AudioClassifier, reading the labels and the sample rate from the file's own
// metadata) → the same decision as `speechgru listen`: window scores averaged over the last
// `smoothing` windows, a command heard when a run of windows where it is the top label at or
// above the operating point ends (its peak score), the same command not again within
// `suppression_ms`. page.json (written by `speechgru web`) holds those settings.
import { AudioClassifier, FilesetResolver } from "./mediapipe/audio_bundle.mjs";

const $ = (id) => document.getElementById(id);
const status = (text) => { $("status").textContent = text; };

const settings = await (await fetch("page.json")).json();
const IGNORED = new Set(["_silence_", "_unknown_"]);
$("commands").textContent = settings.labels.filter((l) => !IGNORED.has(l)).join(", ");
$("model").textContent = settings.model;
$("threshold").textContent = settings.threshold.toFixed(2);
$("smoothing").textContent = String(settings.smoothing);
$("op-mark").style.left = `${100 * settings.threshold}%`;

const fileset = await FilesetResolver.forAudioTasks("./mediapipe/wasm");
// every score (a tiny threshold overrides the file's): the page applies the operating point
const classifier = await AudioClassifier.createFromOptions(fileset, {
  baseOptions: { modelAssetPath: "./model.tflite" }, maxResults: -1, scoreThreshold: 1e-9,
});
status("ready");
$("start").disabled = false;

const rate = settings.sample_rate;
const windowSamples = Math.round(settings.window_seconds * rate);
const stepSamples = Math.round(windowSamples / settings.phases);
const ring = new Float32Array(windowSamples);
let filled = 0, sinceStep = 0, total = 0;
const recent = [];
let run = null;
const lastFired = new Map();

function show(label, p, time) {
  const li = document.createElement("li");
  li.dataset.label = label;
  li.innerHTML = `<b></b><span class="p"></span><span class="t"></span>`;
  li.querySelector("b").textContent = label;
  li.querySelector(".p").textContent = p.toFixed(2);
  li.querySelector(".t").textContent = `at ${time.toFixed(1)} s`;
  $("heard").append(li);
}

function endRun() {
  if (run === null) return;
  const last = lastFired.get(run.label);
  if (last === undefined || run.time - last >= settings.suppression_ms / 1000) {
    lastFired.set(run.label, run.time);
    show(run.label, run.peak, run.time);
  }
  run = null;
}

function decide(scores, time) {
  recent.push(scores);
  if (recent.length > settings.smoothing) recent.shift();
  const mean = scores.map((_, i) => recent.reduce((s, r) => s + r[i], 0) / recent.length);
  let top = 0;
  for (let i = 1; i < mean.length; i++) if (mean[i] > mean[top]) top = i;
  const label = settings.labels[top], p = mean[top];
  $("now-label").textContent = label;
  $("now-p").textContent = p.toFixed(2);
  $("now-bar").style.width = `${100 * p}%`;
  if (!IGNORED.has(label) && p >= settings.threshold) {
    if (run !== null && run.label !== label) endRun();
    if (run === null) run = { label, peak: p, time };
    else if (p > run.peak) { run.peak = p; run.time = time; }
  } else {
    endRun();
  }
}

function classify(time) {
  const window = new Float32Array(windowSamples);
  window.set(ring.subarray(filled % windowSamples));
  window.set(ring.subarray(0, filled % windowSamples), windowSamples - filled % windowSamples);
  const result = classifier.classify(window, rate)[0];
  const scores = new Array(settings.labels.length).fill(0);
  for (const c of result.classifications[0].categories) scores[c.index] = c.score;
  decide(scores, time);
}

function feed(samples) {
  for (let i = 0; i < samples.length; i++) {
    ring[filled % windowSamples] = samples[i];
    filled++; total++; sinceStep++;
    if (filled >= windowSamples && sinceStep >= stepSamples) {
      sinceStep = 0;
      classify((total - windowSamples / 2) / rate);  // the window's centre
    }
  }
}

$("start").addEventListener("click", async () => {
  $("start").disabled = true;
  try {
    const media = await navigator.mediaDevices.getUserMedia({
      audio: { echoCancellation: false, noiseSuppression: false, autoGainControl: false },
    });
    const context = new AudioContext({ sampleRate: rate });
    const source = context.createMediaStreamSource(media);
    const capture = context.createScriptProcessor(1024, 1, 1);
    capture.onaudioprocess = (e) => feed(e.inputBuffer.getChannelData(0));
    source.connect(capture);
    capture.connect(context.destination);
    await context.resume();
    status(`listening (${context.sampleRate} Hz)`);
    document.body.dataset.listening = "1";
  } catch (err) {
    status(`no microphone: ${err.message}`);
    $("start").disabled = false;
  }
});
document.body.dataset.ready = "1";
