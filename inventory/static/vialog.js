// Small progressive enhancements; every page works without them.
// This script is loaded in the page's head, not deferred: the listeners on the document below are in place
// before any field or button exists, so no key a scanner types, however soon after the page appears, reaches
// the page unguarded (a deferred script left a moment where a scan's first keys went past the guard and its
// Enter could press the button it landed on).

// The page's scan field, if it has one (the cart's, the patients'): the focus goes back to it. It is the field
// focused on load, or one that says it is (data-scan-field) when the page asks for another first (a new
// patient's name).
const scanFieldOfPage = () => document.querySelector("input.scan[autofocus], input.scan[data-scan-field]");

// Enter never submits these forms (those that change stock: reconstitute, draw, waste, a correction):
// only a deliberate press of their button does. Nor does it submit a scan form whose field is empty:
// a scanner's second Enter, or one pressed by mistake, scans nothing rather than clearing the page.
document.addEventListener("keydown", (event) => {
  const t = event.target;
  if (event.key !== "Enter" || !(t instanceof HTMLInputElement || t instanceof HTMLSelectElement)) return;
  if (t.form && t.form.hasAttribute("data-no-enter-submit")) event.preventDefault();
  if (isEmptyScanOnlyField(t)) event.preventDefault();
});
guardAgainstScansInOtherFields();

// Confirmation for actions that cannot be undone without a reversal: the form's, or the button's that sent it
// (a form whose other button is harmless, such as a hold group's "Waste all" beside "Release all").
// Asked in the page's own dialog, never the browser's confirm box: a keyboard-wedge scanner types into whatever has
// the focus and ends with Enter, the browser's box takes that Enter for OK (a waste or a close confirmed unread),
// and no script of the page can guard it. The dialog takes the focus itself, not its Confirm button, so Enter there
// presses nothing; keys typed in it are judged by the scanner guard below, like keys typed on a button, and a scan
// is ignored there, said in the dialog, which stays open. Confirm clicked, or Enter or Space on it focused, sends the
// form as it would have gone; Cancel or Escape sends nothing and gives the focus back. Without the script the form
// goes unasked, as it did without an answer to window.confirm.
const confirmStep = (() => {
  let dialog = null;
  let question = null;
  let ignored = null;
  let asking = null; // {form, submitter}: the form waiting for the answer
  let opener = null; // what had the focus when it asked: it gets it back
  let answered = null; // the form sent with Confirm: let through once
  const build = () => {
    dialog = document.createElement("dialog");
    dialog.className = "confirm-dialog";
    dialog.setAttribute("role", "alertdialog");
    dialog.setAttribute("aria-labelledby", "confirm-dialog-question");
    dialog.tabIndex = -1;
    question = document.createElement("p");
    question.id = "confirm-dialog-question";
    question.className = "confirm-question";
    ignored = document.createElement("p");
    ignored.className = "flash flash-warning confirm-scan-ignored";
    ignored.setAttribute("role", "status");
    const buttons = document.createElement("div");
    buttons.className = "confirm-buttons";
    const button = (text, className, onPress) => {
      const b = document.createElement("button");
      b.type = "button"; // no form: Enter elsewhere in the dialog presses neither
      b.className = className;
      b.textContent = text;
      b.addEventListener("click", onPress);
      buttons.append(b);
    };
    button("Cancel", "confirm-no", () => dialog.close());
    button("Confirm", "danger confirm-yes", () => {
      const { form, submitter } = asking;
      dialog.close();
      answered = form;
      try { form.requestSubmit(submitter); } finally { answered = null; }
    });
    // Escape cancels (the browser's own cancel); either way the focus goes back to what asked.
    dialog.addEventListener("close", () => {
      const back = opener;
      opener = null;
      if (back instanceof HTMLElement && back.isConnected && !dialog.open) back.focus({ preventScroll: true });
    });
    dialog.append(question, ignored, buttons);
    document.body.append(dialog);
  };
  return {
    ask(form, submitter, text) {
      if (!dialog) build();
      if (dialog.open) return; // already asking (a click behind it cannot come; a script's submit may)
      asking = { form, submitter: submitter ?? null };
      opener = submitter ?? document.activeElement;
      question.textContent = text;
      ignored.hidden = true;
      ignored.textContent = "";
      dialog.showModal();
      dialog.focus();
    },
    // Sent with Confirm: the submit that goes.
    isAnswered: (form) => answered === form,
    // An element of the open dialog: keys typed there are judged by the scanner guard, whatever the page.
    holds: (el) => Boolean(dialog && dialog.open && el instanceof Node && dialog.contains(el)),
    scanIgnored() {
      ignored.textContent = "A scan was ignored: press Confirm or Cancel.";
      ignored.hidden = false;
    },
  };
})();
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || confirmStep.isAnswered(form)) return;
  const asked = (event.submitter instanceof HTMLElement && event.submitter.dataset.confirm) || form.dataset.confirm;
  if (!asked) return;
  event.preventDefault();
  confirmStep.ask(form, event.submitter, filledQuestion(form, asked));
});

// A question may name what the form will send: "{quantity|all 36}" reads the form's field "quantity" as typed,
// or the words after "|" when it is empty ("Waste 4 U of ..." or "Waste all 36 U of ..."), so the nurse confirms
// the amount she typed, not only the vial.
function filledQuestion(form, text) {
  return text.replace(/\{(\w+)\|([^}]*)\}/g, (_whole, name, empty) => {
    const field = form.elements.namedItem(name);
    const typed = field && "value" in field ? String(field.value).trim() : "";
    return typed || empty;
  });
}

// A form that writes (it carries a one-time key, form_key) is sent once: its button is disabled as it goes,
// so a second click while a slow answer is on its way sends nothing. The server stays the guard: a repeat of
// the key records nothing. Listened to after the confirmation above (a cancelled confirmation is not a
// submit); the button is disabled a moment later, once the browser has read the form (a disabled button is
// left out of what is sent). A page the back button restores gets its buttons back.
// A scan is no second press: one made in a scan-in form while it saves is kept for the page that comes next
// ("scans made while the last one was saving", below). Its Enter is caught there; one sent by the page itself (a
// scan kept out of another field goes to the scan field) comes here without a submitter. A press of a button has
// one: it is only blocked.
const submitButtons = (form) => form.querySelectorAll("button:not([type]), button[type=submit], input[type=submit]");
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || !form.querySelector("input[name=form_key]") || event.defaultPrevented) return;
  if (form.dataset.submitted) {
    event.preventDefault();
    if (!event.submitter) keepScanMadeWhileSaving(form);
    return;
  }
  form.dataset.submitted = "true";
  setTimeout(() => submitButtons(form).forEach((button) => { button.disabled = true; }), 0);
});
window.addEventListener("pageshow", (event) => {
  if (!event.persisted) return;
  document.querySelectorAll("form[data-submitted]").forEach((form) => {
    delete form.dataset.submitted;
    submitButtons(form).forEach((button) => { button.disabled = false; });
  });
});

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-print]").forEach((el) =>
    el.addEventListener("click", (event) => { event.preventDefault(); window.print(); }));

  // A keyboard-wedge scanner types into whatever has focus, then presses Enter. The page's scan
  // field has the focus on load and after every action (each action reloads the page), and a
  // click on nothing in particular gives it back, without scrolling away from what was clicked.
  // On a slow connection or a busy server the page is on screen before it has all loaded, and the
  // nurse may already be in Quantity. The focus is hers then (as autofocus leaves it): taken
  // back, her next keys ("20") would go into the scan field, and the draw keep the dose she meant to change.
  const scan = scanFieldOfPage();
  if (scan) {
    // The field the page focuses on load: the scan field, or the one a refusal asks for (a new patient's name).
    const first = document.querySelector("[autofocus]") ?? scan;
    if (!document.activeElement || document.activeElement === document.body) first.focus();
    // A step the page waits on (a dose to confirm: nothing is recorded until it is answered) is brought into
    // view; on a tablet it sits below the fold. The focus stays where a scan lands.
    document.querySelector("[data-bring-into-view]")?.scrollIntoView({ block: "center" });
    document.addEventListener("click", (event) => {
      const t = event.target;
      if (!(t instanceof HTMLElement) || t.closest("input, select, textarea, button, a, label, summary, details[open]")) return;
      scan.focus({ preventScroll: true });
    });
  }

  // Numeric fields replace what they hold when entered, never append to it; so does a "take out" scan field
  // that kept a refused code (a new scan replaces it).
  document.querySelectorAll("input[inputmode=decimal], input[inputmode=numeric], input[type=number], input.scan-out").forEach((el) => {
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
});

// A scanner types a character every few milliseconds; a person needs 60 ms or more, though two
// or three keys of theirs can come faster ("12" with keys 30 ms apart). SCAN_MIN_LENGTH keys that
// arrive that fast in any field other than a scan field are a scan that landed in the wrong
// place (a vial's label typed into Quantity): they are kept out of that field, and so are the keys
// just before them (a scanner can start slowly, or its first key come late): every key of the run
// they end, keys no more than SCAN_RUN_GAP_MS apart. The field gets back what it held before that
// run, and the whole code goes to the page's scan field as a scan (not sent where that field's form
// writes at once, data-scan-waits; only kept out of a note where the page has no scan field, a
// checklist's or an adverse event's). Its Enter never submits the form the scan landed in. Once
// caught, every key up to its Enter is the scan's, even after a pause (a scanner can stall
// mid-code), until CAUGHT_SCAN_QUIET_MS of quiet; a scan that ends so, without Enter, is not sent,
// and the page says it was kept out (in a note, what reads as no code goes back: a fast typist's last
// word, typed after a pause with nothing after it). A space ends the catch: no code a scanner types holds one, so the
// run was a fast typist's (or a text expander's) words, and they go back into the field.
//
// Some scanners (Bluetooth ones among them) type slower than that. A quantity field still tells
// their scan apart when Enter comes: what it holds is no quantity (the server's own pattern, in
// data-quantity-pattern) and what was typed after what it held is as long as a code. So does any
// other field of a form Enter never submits (data-no-enter-submit: a diluent lot, a note): what was
// typed into it looks like one of the codes a scanner reads (LOOKS_SCANNED), whatever the typing
// speed. Either field gets back what it held before the scan.
//
// A button, checkbox, radio, select or link takes no characters: a printable key typed there does
// nothing for a person, so one followed by Enter is a scan, whatever the speed. Those keys are kept
// from it and that Enter never presses it; the code is scanned instead. Enter or Space with nothing
// typed since it got the focus presses it, as a keyboard user means.
const SCANNER_KEY_GAP_MS = 40;
const SCAN_MIN_LENGTH = 4;
const CAUGHT_SCAN_QUIET_MS = 500;
// Shorter than the pause between a person's last key and a scan (taking up the scanner takes longer).
const SCAN_RUN_GAP_MS = 250;
const LOOKS_SCANNED = [
  /^VL[0-9A-Z]{8}$/i, // a Vialog container label
  /^\][A-Za-z][0-9A-Za-z]/, // a symbology identifier: ]d2 (GS1 DataMatrix), ]C1 (GS1-128), ]Q3 ...
  /\x1d/, // the GS1 group separator
  /^\(01\)\s*\d{14}/, // GS1 in its human-readable form
  /^01\d{14}./, // a GS1 element string: the GTIN and more (expiry, lot)
  /^https?:\/\/\S+\/01\/\d{14}/i, // a GS1 Digital Link
];
const looksScanned = (text) => LOOKS_SCANNED.some((pattern) => pattern.test(text));
const TAKES_NO_TEXT = ["button", "submit", "reset", "image", "checkbox", "radio", "file", "range", "color"];

// The step the page waits on in the form of ``el`` (data-dose-waits: a dose to confirm with a reason, nothing
// recorded until it is answered), or null. A scan is not sent from that form: the page would leave the step.
function stepWaitingIn(el) {
  return (el instanceof Element ? el.closest("form")?.querySelector("[data-dose-waits]") : null) ?? null;
}

// A form that holds nothing but a scan field (the cart's): with the field empty there is nothing to send.
function isEmptyScanOnlyField(el) {
  return el instanceof HTMLInputElement && el.matches(".scan") && el.value.trim() === ""
    && el.form !== null && el.form.matches(".scan-form");
}

// A text field of a form that changes stock, where a scan that landed is caught on Enter.
function isGuardedTextField(el) {
  return el instanceof HTMLInputElement && !el.dataset.quantityPattern && el.form !== null
    && el.form.hasAttribute("data-no-enter-submit") && ["text", "search", ""].includes(el.getAttribute("type") ?? "");
}

// Where a printable key types a character: any other element (a button, a select, the page) takes none.
function takesText(el) {
  if (el instanceof HTMLInputElement) return !TAKES_NO_TEXT.includes(el.type);
  return el instanceof HTMLTextAreaElement || (el instanceof HTMLElement && el.isContentEditable);
}

function guardAgainstScansInOtherFields() {
  // The keys typed into one field, none more than SCAN_RUN_GAP_MS after the one before:
  // {target, before, chars, last, fast (keys in a row at scanner speed), caught, quiet}
  let run = null;
  let typedWhereNoText = null; // {target, chars}: printable keys kept from a button (or select...) since its focus
  const heldOnFocus = new WeakMap();
  const accepts = (el) => el instanceof HTMLElement && el.matches(".scan, .scan-out");
  const restore = (r) => { if ("value" in r.target && r.before !== null) r.target.value = r.before; };
  // The code of a scan kept out of ``target`` goes to the page's scan field, as a scan. A scan form that writes
  // at once (data-scan-waits: a kit's "put in the kit" moves stock) is not sent: the code waits in its field for
  // the button. A page without a scan field has nowhere to send it: it is only kept out, and the page says so.
  const scanInstead = (code, target) => {
    // A scan in the page's question answers nothing, and is not sent: the dialog says so and stays open.
    if (confirmStep.holds(target)) { confirmStep.scanIgnored(); return; }
    // A scan in the form of a step the page waits on (a dose to confirm with a reason) would leave it, and the dose,
    // its area and the reason typed with it: it is not used, and the page says so beside the step.
    if (stepWaitingIn(target)) { tellKeptOut({ target, chars: code }, "waiting"); return; }
    const scanField = scanFieldOfPage();
    if (!scanField) { tellKeptOut({ target, chars: code }, "nowhere"); return; }
    scanField.value = code;
    scanField.focus();
    if (scanField.form && scanField.form.hasAttribute("data-scan-waits")) tellKeptOut({ target, chars: code }, "waits", scanField);
    else if (scanField.form) scanField.form.requestSubmit();
  };
  const buttonOf = (field) => {
    const button = field?.form ? submitButtons(field.form)[0] : null;
    return button ? `“${button.textContent.trim()}”` : "its button";
  };
  const labelOf = (el) => {
    const label = (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement) && el.labels?.length
      ? el.labels[0].textContent : "";
    return label.replace(/\s*\(.*?\)/g, "").trim();
  };
  // A scan caught without its Enter is not sent (it may be cut short): the nurse is told it was kept out.
  // Said beside ``anchor``: where the scan landed, or the field its code now waits in (in sight, by the cursor).
  const tellKeptOut = (r, then = "again", anchor = r.target) => {
    const name = labelOf(r.target) || "that field";
    let note = document.querySelector(".scan-kept-out");
    if (!note) {
      note = document.createElement("p");
      note.className = "flash flash-warning scan-kept-out";
      note.setAttribute("role", "status");
    }
    const code = document.createElement("span");
    code.className = "mono";
    code.textContent = r.chars;
    // "Scan again" from the form of a dose that waits would leave it: the nurse answers the dose first.
    const waiting = stepWaitingIn(r.target);
    if (waiting && then === "again") then = "waiting";
    const next = {
      again: "Scan again.",
      nowhere: "Nothing was scanned on this page.",
      waits: `The code waits in the field below: press ${buttonOf(scanFieldOfPage())} to use it, or clear it.`,
      waiting: "The scan was not used: this dose waits for its reason, and nothing is recorded yet. Confirm it, "
        + "or change it below, then scan again.",
    }[then];
    // A button, a tick or a list took none of it: only a field is said to be as it was.
    const where = takesText(r.target) ? `A scan went into ${name} and was kept out of it: ${name} is as it was. ` : "";
    note.replaceChildren(`${where}${next} Scanned: `, code);
    // Beside the step when it was typed there (above the reason's label, where the nurse looks), else by the field.
    const label = anchor.labels?.[0];
    if (waiting && waiting.contains(anchor) && label && label.nextElementSibling === anchor) label.before(note);
    else (anchor.closest(".row") ?? anchor).before(note);
  };
  const close = () => {
    const r = run;
    if (r) clearTimeout(r.quiet);
    run = null;
    return r;
  };
  const closeWithoutEnter = () => {
    const r = close();
    if (!r || !r.caught) return;
    // A note's last word typed fast after a pause (no space after it, no Enter): a scanner ends its code with Enter,
    // and this reads as no code, so the words are the person's and go back into the note.
    if (r.target instanceof HTMLTextAreaElement && !looksScanned(r.chars)) { giveBack(r); return; }
    tellKeptOut(r, scanFieldOfPage() ? "again" : "nowhere");
  };
  // Where the run's first key went (what it replaced, if it was typed over a selection); null where unknown.
  const selectionOf = (el) => (el instanceof HTMLInputElement || el instanceof HTMLTextAreaElement)
    && el.selectionStart !== null ? [el.selectionStart, el.selectionEnd] : null;
  // A caught run that was a person after all: its keys go back where they were typed, and it is not caught again.
  const giveBack = (r) => {
    clearTimeout(r.quiet);
    const t = r.target;
    const [start, end] = r.selection ?? [t.value.length, t.value.length];
    t.value = t.value.slice(0, start) + r.chars + t.value.slice(end);
    if (r.selection) t.setSelectionRange(start + r.chars.length, start + r.chars.length);
    Object.assign(r, { caught: false, person: true, fast: 0, last: performance.now() });
  };
  const waitForQuiet = () => { clearTimeout(run.quiet); run.quiet = setTimeout(closeWithoutEnter, CAUGHT_SCAN_QUIET_MS); };
  const swallow = (event) => { event.preventDefault(); event.stopImmediatePropagation(); };
  // A code typed at a slow scanner's pace into a field, told at its Enter: the field's value is what it
  // held before the scan (before this run of keys, or on focus), then the code; or the code alone, when
  // it replaced what was selected. isScan(typed, held) says whether a split is a scan.
  const slowScan = (t, typedRun, isScan) => {
    const before = typedRun ? typedRun.before : heldOnFocus.get(t);
    for (const held of [typedRun?.before, heldOnFocus.get(t), ""]) {
      if (typeof held !== "string" || !t.value.startsWith(held)) continue;
      const typed = t.value.slice(held.length).trim();
      if (isScan(typed, held)) return { typed, restored: held || (before ?? "") };
    }
    return null;
  };
  document.addEventListener("focusin", (event) => {
    const t = event.target;
    typedWhereNoText = null; // Enter or Space on what now has the focus presses it
    if (t instanceof HTMLInputElement && (t.dataset.quantityPattern || isGuardedTextField(t))) heldOnFocus.set(t, t.value);
  });
  document.addEventListener("keydown", (event) => {
    const t = event.target;
    if (event.key === "Shift" || event.key === "CapsLock") return; // a scanner holds Shift for its capitals
    // A page without a scan field guards its free text only (a note, a description: no code belongs there);
    // its other fields may be where codes are typed (the stock search, the labels missing from a box).
    // The page's question (a waste, a close: confirmStep) is guarded on every page: no scan answers it.
    if (!scanFieldOfPage() && !(t instanceof HTMLTextAreaElement) && !confirmStep.holds(t)) return;
    if (accepts(t)) { closeWithoutEnter(); return; }
    const now = performance.now();
    const printable = event.key.length === 1 && !event.ctrlKey && !event.metaKey && !event.altKey;
    if (printable) {
      if (run && run.caught && now - run.last <= CAUGHT_SCAN_QUIET_MS) {
        if (event.key === " " && run.target === t && takesText(t)) {
          // A space: words, not a code (no label or GS1 code a scanner types holds one). A fast typist or a
          // text expander wrote this run: it goes back into the field where it was typed, and this space after it.
          giveBack(run);
          return;
        }
        // The rest of a scan caught here, even after a pause: a scanner can stall mid-code.
        event.preventDefault();
        run.chars += event.key;
        run.last = now;
        waitForQuiet();
        return;
      }
      if (!takesText(t)) {
        // Space first is a person pressing the button (ticking the box); any other key is a scan's.
        if (event.key === " " && !typedWhereNoText) { closeWithoutEnter(); return; }
        event.preventDefault();
        typedWhereNoText = { target: t, chars: (typedWhereNoText?.chars ?? "") + event.key };
        return;
      }
      if (run && !run.caught && run.target === t && now - run.last <= SCAN_RUN_GAP_MS) {
        run.fast = now - run.last <= SCANNER_KEY_GAP_MS ? run.fast + 1 : 1;
        run.chars += event.key;
        run.last = now;
        // A person can type two or three keys this fast ("12"); one whose run was given back types fast.
        if (run.fast < SCAN_MIN_LENGTH || run.person) return;
        event.preventDefault();
        restore(run); // take back the keys of the run already in the field: they are the scan's
        run.caught = true;
        waitForQuiet();
        return;
      }
      // Perhaps a person typing: let the key through, remember how the field was.
      closeWithoutEnter();
      run = { target: t, before: "value" in t ? t.value : null, chars: event.key, last: now, fast: 1, caught: false, quiet: 0,
              selection: selectionOf(t), person: false };
      return;
    }
    if (event.key === "Enter" && run && run.caught && now - run.last <= CAUGHT_SCAN_QUIET_MS) {
      swallow(event);
      scanInstead(close().chars, t);
      return;
    }
    if (event.key === "Enter" && typedWhereNoText && typedWhereNoText.target === t) {
      // Never presses the button: what was typed on it is a scan; a key or two is a slip of the hand, and
      // its Enter does nothing (looking it up would leave the page and what the nurse typed on it).
      swallow(event);
      const code = typedWhereNoText.chars.trim();
      typedWhereNoText = null;
      if (code.length >= SCAN_MIN_LENGTH) scanInstead(code, t);
      return;
    }
    const typedRun = run && !run.caught && run.target === t && now - run.last <= SCAN_RUN_GAP_MS ? run : null;
    closeWithoutEnter();
    if (event.key === "Enter" && t instanceof HTMLInputElement && t.dataset.quantityPattern) {
      // The field selects what it holds on focus, so a scan usually replaces it; it may follow it.
      const quantity = new RegExp(t.dataset.quantityPattern);
      if (quantity.test(t.value)) return;
      const scan = slowScan(t, typedRun, (typed, held) =>
        typed.length >= SCAN_MIN_LENGTH && !quantity.test(typed) && (held.trim() === "" || quantity.test(held)));
      if (!scan) return;
      swallow(event);
      t.value = scan.restored;
      scanInstead(scan.typed, t);
      return;
    }
    if (event.key === "Enter" && isGuardedTextField(t)) {
      // What it held before is the nurse's (a diluent lot typed earlier); a scan comes after it.
      const scan = slowScan(t, typedRun, (typed) => looksScanned(typed));
      if (!scan) return;
      swallow(event);
      t.value = scan.restored;
      scanInstead(scan.typed, t);
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

// --- hold board (/cold-chain) ---
// A group's buttons act on its ticked containers only, so they say how many: "Release 6" / "Waste 6" when 6 of its
// 10 are ticked, "Release all 10" only when all are; the waste question names the number, and the reason field's
// label follows. With none ticked the buttons cannot be pressed and the group says why. Without this script the
// page says "all N" and the server still acts on exactly the ticked ids it receives (and refuses none).
(() => {
  const containers = (n) => `${n} container${n === 1 ? "" : "s"}`;
  const BUTTON_WORDS = {
    release: (n, all) => (n ? `Release ${all ? "all " : ""}${n}` : "Release"),
    waste: (n, all) => (n ? `Waste ${all ? "all " : ""}${n}` : "Waste"),
    confirm: (n, all) => (n ? `Confirm ${all ? "all " : ""}${n} wasted` : "Confirm wasted"),
  };
  const wasteQuestion = (n, of) => {
    const gone = "for good? They leave stock and cannot be used again.";
    if (n === of) return `Waste ${n === 1 ? "1 container" : `all ${n} containers`} ${gone}`;
    const left = of - n;
    return `Waste ${n} of the ${containers(of)} ${gone} The ${left} not ticked ${left === 1 ? "stays" : "stay"} on hold.`;
  };
  const sync = (form) => {
    const boxes = Array.from(form.elements).filter((el) => el instanceof HTMLInputElement && el.name === "container_id");
    const n = boxes.filter((box) => box.checked).length;
    const all = n === boxes.length;
    form.querySelectorAll("button[data-hold-button]").forEach((button) => {
      const kind = button.dataset.holdButton;
      if (!(kind in BUTTON_WORDS)) return;
      button.textContent = BUTTON_WORDS[kind](n, all);
      // A form already sent keeps its buttons disabled (sent once, above).
      button.disabled = n === 0 || Boolean(form.dataset.submitted);
      if (kind === "waste") button.dataset.confirm = wasteQuestion(n, boxes.length);
    });
    const reason = form.querySelector("input[name=reason]");
    if (reason) reason.setAttribute("aria-label", n ? `Reason for the ${n} ticked container${n === 1 ? "" : "s"}` : "Reason: no container is ticked");
    const why = form.querySelector(".hold-none-ticked");
    if (why) {
      const what = form.querySelector("button[data-hold-button=confirm]") ? "confirm as wasted" : "release or waste";
      why.textContent = n ? "" : `Nothing is ticked: tick the containers to ${what}.`;
    }
  };
  const syncAll = () => document.querySelectorAll("form[data-hold-decision]").forEach(sync);
  document.addEventListener("change", (event) => {
    const t = event.target;
    if (t instanceof HTMLInputElement && t.name === "container_id" && t.form && t.form.matches("[data-hold-decision]")) sync(t.form);
  });
  // On load, and on a page the browser restores with its ticks (after the buttons are given back, above).
  document.addEventListener("DOMContentLoaded", syncAll);
  window.addEventListener("pageshow", syncAll);
})();

// --- what was typed before a scan replaced it (the cart's start form) ---
// A scan kept out of another field goes to the page's scan field (above), in place of what it held: on the cart's
// start form that is the patient's reference the nurse may have typed by hand ("QA-003", then a vial scanned into
// Name). A field marked data-typed-as="<name>" sends what was last typed into it (or what the page gave it) under
// that name when the form goes with something else in it, so that the server, refusing the scan, gives it back.
(() => {
  const typed = new WeakMap(); // field -> its value after the last key or paste in it
  document.addEventListener("input", (event) => {
    const t = event.target;
    if (t instanceof HTMLInputElement && t.dataset.typedAs) typed.set(t, t.value);
  });
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    form.querySelectorAll("input[data-typed-as]").forEach((field) => {
      form.querySelectorAll(`input[type=hidden][name="${field.dataset.typedAs}"]`).forEach((old) => old.remove());
      const before = (typed.get(field) ?? field.defaultValue).trim();
      if (!before || before === field.value.trim()) return;
      const kept = document.createElement("input");
      kept.type = "hidden";
      kept.name = field.dataset.typedAs;
      kept.value = before;
      form.append(kept);
    });
  });
})();

// --- scans made while the last one was saving (a kit's "Put in the kit", the transfer list, the count sheet) ---
// A scan-in form is sent once (above), and on a slow network its page stays on screen while it saves: the next
// label scanned then would be dropped (its Enter presses a disabled button), and the item sit where the ledger
// does not put it. It is kept instead, in this tab's sessionStorage under the address the form posts to, and the
// page says so. When a page with that form has loaded, the code waits in its scan field, said above it: "press
// Enter to add". It is never sent by itself: the answer to the scan before it may have been a refusal, or changed
// what the page asks (another list, a quantity to type), and only the nurse who reads it should move stock.
// It leaves the queue when its form is sent with it, or when the nurse clears the field (left out on purpose);
// replaced by another scan, or not sent at all (a reload, another page), it comes back. Several wait in turn.
// A scan-in form writes (form_key) and Enter in its scan field sends the scan: a scan form (.scan-form), or one
// whose scan field is its only text field. The cart's start form and Receive are not: Enter there sends a name or
// a lot typed with it.
function scanInFieldOf(form) {
  if (!(form instanceof HTMLFormElement) || !form.querySelector("input[name=form_key]")) return null;
  const field = form.querySelector("input.scan");
  if (!field) return null;
  const texts = Array.from(form.elements).filter((el) => el instanceof HTMLInputElement
    && ["text", "search", ""].includes(el.getAttribute("type") ?? ""));
  return form.matches(".scan-form") || (texts.length === 1 && texts[0] === field) ? field : null;
}
const SCANS_WHILE_SAVING = "vialog.scanned-while-saving:";
const savingKey = (form) => SCANS_WHILE_SAVING + new URL(form.action, window.location.href).pathname;
const readScansWhileSaving = (form) => {
  try {
    const codes = JSON.parse(window.sessionStorage.getItem(savingKey(form)) ?? "[]");
    return Array.isArray(codes) ? codes.filter((code) => typeof code === "string") : [];
  } catch { return []; }
};
const writeScansWhileSaving = (form, codes) => {
  try {
    if (codes.length) window.sessionStorage.setItem(savingKey(form), JSON.stringify(codes));
    else window.sessionStorage.removeItem(savingKey(form));
    return true;
  } catch { return false; } // storage refused (full, or a private window's): the page says to scan it again
};
const sentWhileSaving = new WeakMap(); // form -> what its scan field held when it was sent
const shownWhileSaving = new WeakMap(); // form -> the kept code this page put back in its scan field

// Said above the scan field (in sight where the next scan goes), one note, its words replaced.
function sayAboveScanField(field, className, ...parts) {
  let note = field.form.querySelector(`.${className}`);
  if (!note) {
    note = document.createElement("p");
    note.className = `flash flash-warning ${className}`;
    note.setAttribute("role", "status");
    (field.labels?.[0] ?? field).before(note);
  }
  note.replaceChildren(...parts.map((part) => {
    if (typeof part === "string") return part;
    const code = document.createElement("span");
    code.className = "mono";
    code.textContent = part.code;
    return code;
  }));
}
const listOfCodes = (codes) => codes.flatMap((code, i) => (i ? [", ", { code }] : [{ code }]));

// The scan in the field of ``form``, sent and still saving: what was typed after what was sent is kept.
function keepScanMadeWhileSaving(form) {
  const field = scanInFieldOf(form);
  if (!field) return;
  const sent = sentWhileSaving.get(form) ?? "";
  const code = (field.value.startsWith(sent) ? field.value.slice(sent.length) : field.value).trim();
  field.value = sent; // the field shows what is saving, not both codes run together
  if (!code) return; // a scanner's second Enter: nothing new
  const kept = [...readScansWhileSaving(form), code];
  if (writeScansWhileSaving(form, kept)) {
    sayAboveScanField(field, "scan-while-saving", "Scanned while the last one was saving: ", { code },
      ". It will wait in the scan field once the page has loaded: press Enter then to add it.");
  } else {
    sayAboveScanField(field, "scan-while-saving", "Not added: scanned while the last one was saving: ", { code },
      ". Scan it again once the page has loaded.");
  }
}

document.addEventListener("keydown", (event) => {
  const t = event.target;
  if (event.key !== "Enter" || event.defaultPrevented || !(t instanceof HTMLInputElement) || !t.form) return;
  if (!t.form.dataset.submitted || scanInFieldOf(t.form) !== t) return;
  event.preventDefault(); // the form is on its way: this Enter sends nothing
  keepScanMadeWhileSaving(t.form);
});

// Listened to after "sent once" above: a submit it let through is the one that goes.
document.addEventListener("submit", (event) => {
  const form = event.target;
  const field = scanInFieldOf(form);
  if (!field || event.defaultPrevented || !form.dataset.submitted || sentWhileSaving.has(form)) return;
  sentWhileSaving.set(form, field.value);
  // The kept code goes with the form: it leaves the queue. Replaced by another scan, it stays for the next page.
  if (shownWhileSaving.get(form) === field.value.trim()) leaveQueue(form);
});
// Cleared by the nurse: left out on purpose, it leaves the queue, and the note says so.
document.addEventListener("input", (event) => {
  const t = event.target;
  if (!(t instanceof HTMLInputElement) || !t.form || t.value !== "" || scanInFieldOf(t.form) !== t) return;
  const code = shownWhileSaving.get(t.form);
  if (code === undefined) return;
  leaveQueue(t.form);
  sayAboveScanField(t, "scan-while-saving", "Left out: ", { code }, " (scanned while the last one was saving).");
});
function leaveQueue(form) {
  const [first, ...rest] = readScansWhileSaving(form);
  if (first === shownWhileSaving.get(form)) writeScansWhileSaving(form, rest);
  shownWhileSaving.delete(form);
}
window.addEventListener("pageshow", (event) => {
  if (event.persisted) document.querySelectorAll("form").forEach((form) => sentWhileSaving.delete(form));
});

document.addEventListener("DOMContentLoaded", () => {
  Array.from(document.forms).forEach((form) => {
    const field = scanInFieldOf(form);
    const kept = field ? readScansWhileSaving(form) : [];
    if (!kept.length) return;
    const [code, ...after] = kept;
    const later = after.length ? [" Scanned after it, waiting their turn: ", ...listOfCodes(after), "."] : [];
    if (!field.hasAttribute("autofocus")) {
      // The page asks for something else first (a quantity for a kept box): the code is not put where a press of
      // the form's button would send it in place of what is asked. It comes back once the page asks for a scan.
      sayAboveScanField(field, "scan-while-saving", "Scanned while the last one was saving, not added yet: ",
        ...listOfCodes(kept), ". Finish what is asked below: it comes back into the scan field then.");
      return;
    }
    field.value = code;
    field.setSelectionRange(0, code.length); // a new scan replaces it (and it comes back after that one)
    shownWhileSaving.set(form, code);
    sayAboveScanField(field, "scan-while-saving", "Scanned while the last one was saving: press Enter to add ", { code },
      ", or clear the field to leave it out.", ...later);
  });
});

// A new location's kind: choosing a fridge ticks its "temperature-sensitive" box, as the server makes a fridge
// unless told otherwise; choosing another kind takes back a tick the page made. Once the admin ticks or unticks the
// box themself, the form says so (temperature_chosen) and the kind no longer moves it: an unticked box is then a no.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("select[data-ticks-when-fridge]").forEach((kind) => {
    const box = document.getElementById(kind.dataset.ticksWhenFridge);
    if (!(box instanceof HTMLInputElement) || !box.form) return;
    const chosen = box.form.querySelector("input[name=temperature_chosen]");
    let tickedByPage = false;
    const follow = () => {
      if (chosen && chosen.value === "1") return;
      if (kind.value === "fridge" && !box.checked) { box.checked = true; tickedByPage = true; }
      else if (kind.value !== "fridge" && tickedByPage) { box.checked = false; tickedByPage = false; }
    };
    kind.addEventListener("change", follow);
    box.addEventListener("change", () => { if (chosen) chosen.value = "1"; tickedByPage = false; });
    follow();
  });
});

// --- a scan while a write leaves the page (the cart: a draw, a mix, a waste or a close on its way) ---
// Once a form that writes is sent (it carries a form_key, "sent once" above), its page stays on screen until the
// answer comes, and the focus has left its disabled button for the page: a label scanned then reaches the page's scan
// field (a scan kept out of the page) or is typed into it. Sent, that scan would start a second navigation, which
// the browser lets cancel the first: the draw may be recorded with no "Recorded" said, or not recorded at all while
// the nurse believes it was. So a scan form that only looks up (no form_key: the cart's, the patients') does not go
// while a write is on its way. Its code is kept in this tab for the next page, which puts it in its scan field to
// be sent by Enter (never by itself: the answer to the write may ask for something first, a dose to confirm), or
// says it was not used where that page has no such field.
const SCANNED_WHILE_LEAVING = "vialog.scanned-while-leaving";
const writeOnItsWay = () => Array.from(document.querySelectorAll("form[data-submitted]"))
  .some((form) => form.querySelector("input[name=form_key]"));
const lookUpScanField = (form) => {
  const field = scanFieldOfPage();
  return field && field.form === form && form.matches(".scan-form") && !form.querySelector("input[name=form_key]")
    ? field : null;
};
document.addEventListener("submit", (event) => {
  const form = event.target;
  if (!(form instanceof HTMLFormElement) || event.defaultPrevented || !writeOnItsWay()) return;
  const field = lookUpScanField(form);
  if (!field) return;
  event.preventDefault();
  const code = field.value.trim();
  if (!code) return;
  let kept = true;
  try { window.sessionStorage.setItem(SCANNED_WHILE_LEAVING, code); } catch { kept = false; }
  if (kept) {
    sayAboveScanField(field, "scan-while-saving", "Scanned while the last one was saving, not used yet: ", { code },
      ". It waits in the scan field once the page has loaded: press Enter then to scan it.");
  } else {
    sayAboveScanField(field, "scan-while-saving", "Not used: scanned while the last one was saving: ", { code },
      ". Scan it again once the page has loaded.");
  }
});
document.addEventListener("DOMContentLoaded", () => {
  let code = null;
  try {
    code = window.sessionStorage.getItem(SCANNED_WHILE_LEAVING);
    window.sessionStorage.removeItem(SCANNED_WHILE_LEAVING);
  } catch { return; }
  if (!code) return;
  const field = scanFieldOfPage();
  if (field && field.form && lookUpScanField(field.form) && field.hasAttribute("autofocus")) {
    field.value = code;
    field.setSelectionRange(0, code.length); // a new scan replaces it
    sayAboveScanField(field, "scan-while-saving", "Scanned while the last one was saving: press Enter to scan ",
      { code }, ", or clear the field to leave it out.");
    return;
  }
  // This page takes no such scan (the cart's start, after a close): said, and left for the nurse to scan again.
  const note = document.createElement("p");
  note.className = "flash flash-warning scan-while-saving";
  note.setAttribute("role", "status");
  const mono = document.createElement("span");
  mono.className = "mono";
  mono.textContent = code;
  note.replaceChildren("Scanned while the last one was saving, and not used: ", mono, ". Scan it again if you need it.");
  document.querySelector("main")?.prepend(note);
});
