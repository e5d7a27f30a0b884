// The BOA viewer: a Streamlit component (protocol v1, no build step) around NiiVue.
// Args: ct_b64, label_b64, volume_id, labels {id: name}, colours {id: [r,g,b]},
// window [lo, hi], opacity, slice_type, height, jump {nonce, mm}.
"use strict";
(function () {
  const post = (type, extra) => window.parent.postMessage(Object.assign({ isStreamlitMessage: true, type }, extra), "*");
  const canvas = document.getElementById("gl");
  const statusBox = document.getElementById("status");
  const readout = document.getElementById("readout");
  let nv = null, loadedId = null, labels = {}, jumpNonce = null, clicks = 0, userClicked = false;

  function lut(names, colours) {
    const ids = Object.keys(names).map(Number);
    const top = ids.length ? Math.max(...ids) : 1;
    const cm = { R: [], G: [], B: [], A: [], I: [], labels: [] };
    for (let i = 0; i <= top; i++) {
      const c = colours[i] || [0, 0, 0];
      cm.R.push(c[0]); cm.G.push(c[1]); cm.B.push(c[2]);
      cm.A.push(i === 0 || !(i in names) ? 0 : 255);
      cm.I.push(i); cm.labels.push(names[i] || "");
    }
    return cm;
  }

  function describe(data) {
    const vals = data.values || [];
    const hu = vals.length > 0 ? Math.round(vals[0].value) : null;
    const id = vals.length > 1 ? Math.round(vals[1].value) : 0;
    const name = id > 0 ? (labels[id] || "label " + id) : "background";
    return { hu, id, name };
  }

  function onLocation(data) {
    const d = describe(data);
    readout.textContent = d.name + " | HU " + d.hu;
    readout.dataset.structure = d.name;
    readout.dataset.hu = String(d.hu);
    if (!userClicked) return;  // crosshair moves made by the app itself are not reported back
    userClicked = false;
    clicks += 1;
    post("streamlit:setComponentValue", {
      value: { mm: Array.from(data.mm).slice(0, 3), click: clicks, structure: d.name, hu: d.hu },
      dataType: "json",
    });
  }

  async function load(args) {
    statusBox.textContent = "loading images ...";
    nv.volumes.slice().reverse().forEach((v) => nv.removeVolume(v));
    const ct = await niivue.NVImage.loadFromBase64({ base64: args.ct_b64, name: "ct.nii.gz", colormap: "gray" });
    nv.addVolume(ct);
    if (args.label_b64) {
      const seg = await niivue.NVImage.loadFromBase64({ base64: args.label_b64, name: "labels.nii.gz" });
      seg.setColormapLabel(lut(args.labels, args.colours));
      nv.addVolume(seg);
    }
    loadedId = args.volume_id;
    statusBox.textContent = "";
  }

  function apply(args) {
    labels = args.labels || {};
    if (nv.volumes.length === 0) return;
    const ct = nv.volumes[0];
    ct.cal_min = args.window[0];
    ct.cal_max = args.window[1];
    if (nv.volumes.length > 1) nv.setOpacity(1, args.opacity);
    nv.setSliceType(args.slice_type);
    nv.updateGLVolume();
    if (args.jump && args.jump.nonce !== jumpNonce) {
      jumpNonce = args.jump.nonce;
      nv.scene.crosshairPos = nv.mm2frac(args.jump.mm);
      nv.updateGLVolume();
      nv.drawScene();
      nv.createOnLocationChange();
    }
  }

  async function render(args) {
    post("streamlit:setFrameHeight", { height: args.height + 30 });
    document.getElementById("wrap").style.height = args.height + "px";
    if (!nv) {
      nv = new niivue.Niivue({ backColor: [0, 0, 0, 1], show3Dcrosshair: true, isRadiologicalConvention: true,
                               multiplanarShowRender: 1, multiplanarLayout: 2, isOrientationTextVisible: true, dragAndDropEnabled: false });
      await nv.attachToCanvas(canvas);
      nv.setRadiologicalConvention(true);
      nv.onLocationChange = onLocation;
      canvas.addEventListener("pointerdown", () => { userClicked = true; });
      window.boaViewer = {  // for tests and scripting: where a world point (mm) lies on the canvas
        nv,
        canvasPosOfMM: (mm, sliceType) => {
          const frac = nv.mm2frac(mm);
          const hit = nv.frac2canvasPosWithTile ? nv.frac2canvasPosWithTile(frac, sliceType) : null;
          const pos = hit ? hit.pos : nv.frac2canvasPos(frac);
          const scale = canvas.width / canvas.getBoundingClientRect().width;
          return pos ? [pos[0] / scale, pos[1] / scale] : null;
        },
      };
    }
    if (args.volume_id !== loadedId) await load(args);
    apply(args);
    document.body.dataset.ready = "1";
  }

  let queue = Promise.resolve();
  window.addEventListener("message", (event) => {
    if (event.data && event.data.type === "streamlit:render") {
      const args = event.data.args;
      queue = queue.then(() => render(args)).catch((err) => { statusBox.textContent = "viewer error: " + err; });
    }
  });
  post("streamlit:componentReady", { apiVersion: 1 });
})();
