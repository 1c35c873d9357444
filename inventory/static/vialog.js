// Small progressive enhancements; every page works without them.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-print]").forEach((el) =>
    el.addEventListener("click", (event) => { event.preventDefault(); window.print(); }));

  // A keyboard-wedge scanner types into whatever has focus, then presses Enter. The page's scan
  // field has the focus on load and after every action (each action reloads the page), and a
  // click on nothing in particular gives it back, without scrolling away from what was clicked.
  const scan = document.querySelector("input.scan[autofocus]");
  if (scan) {
    scan.focus();
    document.addEventListener("click", (event) => {
      const t = event.target;
      if (!(t instanceof HTMLElement) || t.closest("input, select, textarea, button, a, label, summary, details[open]")) return;
      scan.focus({ preventScroll: true });
    });
    guardAgainstScansInOtherFields(scan);
  }

  // Enter never submits these forms (a draw): only a deliberate press of their button does.
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (event.key !== "Enter" || !(t instanceof HTMLInputElement || t instanceof HTMLSelectElement)) return;
    if (t.form && t.form.hasAttribute("data-no-enter-submit")) event.preventDefault();
  });

  // Numeric fields replace what they hold when entered, never append to it.
  document.querySelectorAll("input[inputmode=decimal], input[inputmode=numeric], input[type=number]").forEach((el) => {
    let justFocused = false;
    el.addEventListener("focus", () => { el.select(); justFocused = true; });
    el.addEventListener("mouseup", (event) => { if (justFocused) event.preventDefault(); justFocused = false; });
  });

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

// A scanner types a character every few milliseconds; a person needs 60 ms or more. Keys that
// arrive that fast in any field other than a scan field are a scan that landed in the wrong
// place (a vial's label typed into Quantity): they are kept out of that field, the field gets
// back what it held, and the code goes to the page's scan field as a scan. Its Enter never
// submits the form the scan landed in.
//
// Some scanners (Bluetooth ones among them) type slower than that. A quantity field still tells
// their scan apart when Enter comes: what it holds is no quantity (the server's own pattern, in
// data-quantity-pattern) and is as long as a code. The field gets back what it held on focus.
const SCANNER_KEY_GAP_MS = 40;
const SCAN_MIN_LENGTH = 4;

function guardAgainstScansInOtherFields(scanField) {
  let burst = null; // {target, before, chars, last}
  const heldOnFocus = new WeakMap();
  const accepts = (el) => el === scanField || (el instanceof HTMLElement && el.matches(".scan, .scan-out"));
  const restore = (b) => { if (b.target && "value" in b.target && b.before !== null) b.target.value = b.before; };
  const scanInstead = (code) => {
    scanField.value = code;
    scanField.focus();
    if (scanField.form) scanField.form.requestSubmit();
  };
  document.addEventListener("focusin", (event) => {
    const t = event.target;
    if (t instanceof HTMLInputElement && t.dataset.quantityPattern) heldOnFocus.set(t, t.value);
  });
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (accepts(t)) { burst = null; return; }
    const now = performance.now();
    const printable = event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey;
    if (printable) {
      if (!burst || now - burst.last > SCANNER_KEY_GAP_MS) {
        // Perhaps a person typing: let the key through, remember how the field was.
        burst = { target: t, before: "value" in t ? t.value : null, chars: event.key, last: now };
        return;
      }
      event.preventDefault();
      if (burst.chars.length === 1) restore(burst); // take back the first key of the burst
      burst.chars += event.key;
      burst.last = now;
      return;
    }
    if (event.key === "Enter" && burst && burst.chars.length >= SCAN_MIN_LENGTH && now - burst.last <= 4 * SCANNER_KEY_GAP_MS) {
      event.preventDefault();
      event.stopImmediatePropagation();
      restore(burst);
      const code = burst.chars;
      burst = null;
      scanInstead(code);
      return;
    }
    burst = null;
    if (event.key === "Enter" && t instanceof HTMLInputElement && t.dataset.quantityPattern) {
      // The field selects what it holds on focus, so a scan replaces it rather than appending to it.
      const typed = t.value.trim();
      if (typed.length < SCAN_MIN_LENGTH || new RegExp(t.dataset.quantityPattern).test(t.value)) return;
      event.preventDefault();
      event.stopImmediatePropagation();
      t.value = heldOnFocus.get(t) ?? "";
      scanInstead(typed);
    }
  }, true);
}

// --- navigation menus ---
// The main navigation's groups are <details> menus that work without script; this only closes an
// open one on Escape (focus back on its summary) or on a click anywhere outside it.
(() => {
  const openMenus = () => document.querySelectorAll("nav[aria-label=Main] details[open]");
  document.addEventListener("click", (event) => {
    openMenus().forEach((menu) => { if (!menu.contains(event.target)) menu.open = false; });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    openMenus().forEach((menu) => {
      menu.open = false;
      if (menu.contains(document.activeElement)) menu.querySelector("summary").focus();
    });
  });
})();
