// Minimal shell page: asks the Rust side for library statistics through Tauri's invoke.
(async () => {
  const out = document.getElementById("stats");
  try {
    const s = await window.__TAURI__.core.invoke("stats");
    out.textContent = `${s.corpora} corpora, ${s.pairs} pairs, ${s.images} images, ${s.reports} reports`;
  } catch (e) {
    out.textContent = `unavailable (${e && e.message ? e.message : JSON.stringify(e)})`;
  }
})();
