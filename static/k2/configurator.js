/* The shop configurator: each slot is a group of option pictures (radio
   buttons: click, or arrow keys within a group); a change names the new
   picture in the page (per-option tokens joined like
   trophies.services.renders.relative_path) and swaps the <img>. A picture not built yet answers 404; then the page
   asks /t/SLUG/image?..., which renders it, once per combination. */
(function () {
  "use strict";

  function relativePath(settingsToken, tokens, extension, dirLevels) {
    var levels = Math.min(dirLevels, tokens.length - 1);
    return [settingsToken].concat(tokens.slice(0, levels), [tokens.slice(levels).join("-") + extension]).join("/");
  }

  function imageUrl(data, digits) {
    var tokens = data.slots.map(function (slot, i) { return slot.options[digits[i]].token; });
    return data.url_root + relativePath(data.settings_token, tokens, data.extension, data.dir_levels);
  }

  window.K2Configurator = {relativePath: relativePath, imageUrl: imageUrl};

  var form = document.getElementById("k2-configurator");
  var picture = document.getElementById("k2-picture");
  var status = document.getElementById("k2-picture-status");
  var data = JSON.parse(document.getElementById("k2-configurator-data").textContent);
  if (!form || !picture) return;
  var groups = Array.prototype.slice.call(form.querySelectorAll("fieldset[data-slot]")).map(function (fieldset) {
    return {fieldset: fieldset, radios: Array.prototype.slice.call(fieldset.querySelectorAll("input[type=radio]"))};
  });
  var fellBack = {};   // combination query -> true once the fallback was tried

  function checkedIndex(group) {
    for (var i = 0; i < group.radios.length; i++) if (group.radios[i].checked) return i;
    return 0;
  }

  function query() {
    return groups.map(function (g) {
      var radio = g.radios[checkedIndex(g)];
      return encodeURIComponent(radio.name) + "=" + encodeURIComponent(radio.value);
    }).join("&");
  }

  function show() {
    var digits = groups.map(checkedIndex);
    groups.forEach(function (g) {
      g.fieldset.querySelector(".k2-shop-chosen").textContent = g.radios[checkedIndex(g)].getAttribute("data-label");
    });
    picture.classList.add("k2-loading");
    status.textContent = "";
    picture.src = imageUrl(data, digits);
    if (window.history && history.replaceState) history.replaceState(null, "", "?" + query());
  }

  picture.addEventListener("load", function () {
    picture.classList.remove("k2-loading");
    status.textContent = "";
  });
  picture.addEventListener("error", function () {
    var q = query();
    if (fellBack[q]) {
      picture.classList.remove("k2-loading");
      status.textContent = "This picture is not available right now.";
      return;
    }
    fellBack[q] = true;
    status.textContent = "Preparing this picture…";
    picture.src = data.image_endpoint + "?" + q;
  });
  groups.forEach(function (g) { g.radios.forEach(function (r) { r.addEventListener("change", show); }); });
  show();
})();
