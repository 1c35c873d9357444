// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-print]").forEach((el) =>
    el.addEventListener("click", (event) => { event.preventDefault(); window.print(); }));

  // A keyboard-wedge scanner types into whatever has focus: keep the scan field focused
  // unless the user is working in another field.
  const scan = document.querySelector("input.scan[autofocus]");
  if (scan) {
    scan.focus();
    document.addEventListener("click", (event) => {
      const t = event.target;
      if (!(t instanceof HTMLElement) || t.closest("input, select, textarea, button, a, label")) return;
      scan.focus();
    });
  }

  // Live countdown to a vial's beyond-use time.
  document.querySelectorAll("[data-countdown]").forEach((el) => {
    const until = Date.parse(el.dataset.countdown);
    const tick = () => {
      const ms = until - Date.now();
      if (ms <= 0) { el.textContent = "past beyond-use: waste it"; el.classList.add("expired"); return; }
      const h = Math.floor(ms / 3600000), m = Math.floor((ms % 3600000) / 60000);
      el.textContent = `${h} h ${m} min left`;
    };
    tick();
    setInterval(tick, 30000);
  });

  // Confirmation for actions that cannot be undone without a reversal.
  document.querySelectorAll("form[data-confirm]").forEach((form) =>
    form.addEventListener("submit", (event) => { if (!window.confirm(form.dataset.confirm)) event.preventDefault(); }));
});
