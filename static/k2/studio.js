/* K2 Studio: the trophy builder's helpers around Deform's form.
 *
 * - each slot's option picker holds only the options of the chosen component
 *   (the server renders that group alone; on a change of component the group
 *   is copied from the page's #k2-option-library); choosing a component
 *   allows all of its options (untick what you don't want);
 * - the live count: the product of the allowed options of every slot, written
 *   like the server writes it ("3 x 30 x 5 = 450 combinations");
 * - tiers and slots are numbered as they are added, removed and reordered.
 */
(function () {
  "use strict";

  function describe(radices) {
    var total = radices.length ? radices.reduce(function (a, b) { return a * b; }, 1) : 0;
    var noun = total === 1 ? "combination" : "combinations";
    var text = total.toLocaleString("en-US") + " " + noun;
    if (radices.length < 2) return { text: text, total: total };
    return { text: radices.join(" x ") + " = " + text, total: total };
  }

  function groupsOf(slot) {
    var picker = slot.querySelector(".k2-option-picker");
    return picker ? Array.prototype.slice.call(picker.querySelectorAll(".k2-option-group")) : [];
  }

  function componentOf(slot) {
    var select = slot.querySelector("select.k2-slot-component");
    return select ? select.value : "";
  }

  function showGroup(slot) {
    var chosen = componentOf(slot);
    var shown = false;
    groupsOf(slot).forEach(function (group) {
      var match = group.getAttribute("data-component") === chosen;
      group.hidden = !match;
      shown = shown || match;
      var boxes = group.querySelectorAll("input[type=checkbox]");
      var checked = group.querySelectorAll("input[type=checkbox]:checked").length;
      var count = group.querySelector(".k2-picker-count");
      if (count) count.textContent = checked + " of " + boxes.length + " allowed";
    });
    var empty = slot.querySelector(".k2-picker-empty");
    if (empty) empty.hidden = shown;
  }

  function slotCount(slot) {
    var chosen = componentOf(slot);
    var n = 0;
    groupsOf(slot).forEach(function (group) {
      if (group.getAttribute("data-component") === chosen) {
        n = group.querySelectorAll("input[type=checkbox]:checked").length;
      }
    });
    return n;
  }

  function update(form) {
    var slots = Array.prototype.slice.call(form.querySelectorAll(".k2-slot"));
    var radices = slots.map(function (slot) { showGroup(slot); return slotCount(slot); });
    var result = describe(radices);
    var out = document.getElementById("k2-live-count");
    if (out) {
      out.textContent = result.text;
      var max = parseInt(out.getAttribute("data-max") || "0", 10);
      out.classList.toggle("k2-over", max > 0 && result.total > max);
      out.title = max > 0 && result.total > max ? "More than the limit of " + max.toLocaleString("en-US") : "";
    }
    var tiers = Array.prototype.slice.call(form.querySelectorAll(".k2-tier"));
    tiers.forEach(function (tier, t) {
      var label = "Tier " + (t + 1) + (t === 0 ? " (bottom)" : (t === tiers.length - 1 ? " (top)" : ""));
      tier.setAttribute("data-label", label);
      Array.prototype.slice.call(tier.querySelectorAll(".k2-slot")).forEach(function (slot, s) {
        slot.setAttribute("data-label", "Slot " + (s + 1));
      });
    });
  }

  // Put the chosen component's group (from the library) in the slot's picker,
  // in place of any other: options of other components are never sent.
  function swapGroup(slot, chosen) {
    var picker = slot.querySelector(".k2-option-picker");
    var library = document.getElementById("k2-option-library");
    if (!picker || !library) return;
    groupsOf(slot).forEach(function (group) {
      if (group.getAttribute("data-component") !== chosen) group.remove();
    });
    if (!chosen || groupsOf(slot).length) return;
    var source = library.content.querySelector('.k2-option-group[data-component="' + CSS.escape(chosen) + '"]');
    if (!source) return;
    var end = picker.querySelector('input[name="__end__"]');
    picker.insertBefore(source.cloneNode(true), end);
  }

  function onComponentChange(select) {
    var slot = select.closest(".k2-slot");
    if (!slot) return;
    swapGroup(slot, select.value);
    groupsOf(slot).forEach(function (group) {
      var match = group.getAttribute("data-component") === select.value;
      var boxes = group.querySelectorAll("input[type=checkbox]");
      var anyChecked = group.querySelectorAll("input[type=checkbox]:checked").length > 0;
      Array.prototype.forEach.call(boxes, function (box) {
        if (!match) box.checked = false;          // options of other components are never sent
        else if (!anyChecked) box.checked = true; // a new choice allows all its options
      });
    });
  }

  function init() {
    var form = document.querySelector(".k2-trophy-form form");
    if (!form) return;
    form.addEventListener("change", function (event) {
      if (event.target.matches("select.k2-slot-component")) onComponentChange(event.target);
      update(form);
    });
    form.addEventListener("click", function (event) {
      var button = event.target.closest(".k2-pick-all, .k2-pick-none");
      if (!button) return;
      event.preventDefault();
      var all = button.classList.contains("k2-pick-all");
      var group = button.closest(".k2-option-group");
      Array.prototype.forEach.call(group.querySelectorAll("input[type=checkbox]"), function (box) {
        box.checked = all;
      });
      update(form);
    });
    // Deform adds, removes and reorders sequence items by editing the DOM.
    var pending = false;
    new MutationObserver(function () {
      if (pending) return;
      pending = true;
      window.requestAnimationFrame(function () { pending = false; update(form); });
    }).observe(form, { childList: true, subtree: true });
    update(form);
  }

  // Parts forms: the key follows the label/name until someone edits it.
  function slugify(text) {
    return text.normalize("NFKD").replace(/[\u0300-\u036f]/g, "").toLowerCase()
      .replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 50);
  }

  function initKeys() {
    var key = document.querySelector(".k2-parts-form input[name=key]");
    var source = document.querySelector(".k2-parts-form input[name=label], .k2-parts-form input[name=name]");
    if (!key || !source) return;
    var follow = key.value === "";
    key.addEventListener("input", function () { follow = key.value === ""; });
    source.addEventListener("input", function () { if (follow) key.value = slugify(source.value); });
  }

  window.k2Studio = { describe: describe, slugify: slugify };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", initKeys);
  else initKeys();
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
